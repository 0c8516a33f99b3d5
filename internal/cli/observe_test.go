package cli

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestObserveFlags: --log-format is checked, and --metrics-listen serves
// /metrics and /readyz (with a JSON log and no slow-request lines).
func TestObserveFlags(t *testing.T) {
	dir := t.TempDir()
	r := run(t, nil, "server", "--data", dir, "--log-format", "xml", "--listen", "127.0.0.1:0", "--worker-listen", "127.0.0.1:0")
	if r.code != ExitUsage || !strings.Contains(r.stderr, `--log-format "xml"`) {
		t.Fatalf("bad --log-format: %+v", r)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, stop := startServer(t, dir, "--log-format", "json", "--metrics-listen", addr, "--slow-request", "0")
	for _, path := range []string{"/metrics", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || path == "/metrics" && !strings.Contains(string(b), "shoal_build_info") {
			t.Fatalf("GET %s: %d %.200s", path, resp.StatusCode, b)
		}
	}
	if code, out := stop(); code != 0 || !strings.Contains(out, "http://"+addr+"/metrics") {
		t.Fatalf("exit %d, banner:\n%s", code, out)
	}
}
