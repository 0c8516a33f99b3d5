package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestGatewayMetrics: `shoal gateway --metrics-listen` counts its S3
// requests by action and status.
func TestGatewayMetrics(t *testing.T) {
	api, _ := startServer(t, t.TempDir(), "--s3-listen", "")
	s3Addr, mAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"gateway", "--addr", api, "--s3-listen", s3Addr, "--metrics-listen", mAddr}, strings.NewReader(""), &out, &errb)
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + s3Addr + "/bkt/key")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not up: %v %s %s", err, out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + mAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `shoal_s3_request_duration_seconds_count{action="GetObject",code="403"}`) ||
		!strings.Contains(string(b), `role="gateway"`) || !strings.Contains(string(b), `shoal_cache_capacity_bytes{tier="memory"}`) {
		t.Fatalf("gateway metrics:\n%.3000s", b)
	}
}
