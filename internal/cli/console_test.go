package cli

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestWebListen: `shoal server --web-listen` serves the console and
// prints its URL; beyond loopback it needs tokens.
func TestWebListen(t *testing.T) {
	dir := t.TempDir()
	r := run(t, nil, "server", "--data", dir, "--listen", "127.0.0.1:0", "--worker-listen", "127.0.0.1:0", "--web-listen", "0.0.0.0:0", "--s3-listen", "")
	if r.code != ExitFail || !strings.Contains(r.stderr, "without tokens") {
		t.Fatalf("console on 0.0.0.0 without tokens: %+v", r)
	}
	web := freeAddr(t)
	_, stop := startServer(t, dir, "--web-listen", web, "--s3-listen", "")
	url := "http://" + web + "/"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "Shoal console") {
		t.Fatalf("GET %s: %d %.200s", url, resp.StatusCode, b)
	}
	if code, out := stop(); code != 0 || !regexp.MustCompile(`console:\s+`+regexp.QuoteMeta(url)).MatchString(out) {
		t.Fatalf("exit %d, banner:\n%s", code, out)
	}
}
