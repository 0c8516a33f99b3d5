package cli

import (
	"encoding/json"
	"strings"
	"testing"

	shoal "github.com/shoalfs/shoal"
)

// TestLoadCommands: submit --watch over --data runs the job in this
// process and prints plain lines (not a terminal) and the summary;
// progress --json, list and stop; a bad --bandwidth and a missing path
// are clear errors.
func TestLoadCommands(t *testing.T) {
	dir := t.TempDir()
	fsh(t, dir, "mkdir", "-p", "/ds/a")
	run(t, strings.NewReader(strings.Repeat("x", 300000)), "fs", "--data", dir, "put", "-", "/ds/a/f1")
	run(t, strings.NewReader("small"), "fs", "--data", dir, "put", "-", "/ds/f2")
	r := run(t, nil, "load", "--data", dir, "submit", "/ds", "--watch", "--verify", "--interval", "50ms")
	if r.code != 0 || !strings.Contains(r.stdout, "load-1  succeeded  /ds") || !strings.Contains(r.stdout, "files 2/2  failed 0") ||
		strings.Contains(r.stdout, "\r") {
		t.Fatalf("submit --watch: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, "load", "--data", dir, "progress", "/ds", "--json")
	var j shoal.LoadJob
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j.ID != "load-1" || j.State != shoal.LoadSucceeded || j.DoneBytes != 300005 {
		t.Fatalf("progress --json: %q %v %+v", r.stdout, err, j)
	}
	r = run(t, nil, "load", "--data", dir, "list")
	if r.code != 0 || !strings.Contains(r.stdout, "load-1  succeeded  2/2") {
		t.Fatalf("list: %q", r.stdout)
	}
	r = run(t, nil, "load", "--data", dir, "stop", "load-1")
	if r.code != 0 || !strings.Contains(r.stdout, "succeeded") {
		t.Fatalf("stop of an ended job: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r = run(t, nil, "load", "--data", dir, "submit", "/ds", "--bandwidth", "fast"); r.code != 2 || !strings.Contains(r.stderr, "--bandwidth") {
		t.Fatalf("bad bandwidth: %d %q", r.code, r.stderr)
	}
	if r = run(t, nil, "load", "--data", dir, "submit", "/nope"); r.code == 0 || !strings.Contains(r.stderr, "no such file") {
		t.Fatalf("missing path: %d %q", r.code, r.stderr)
	}
}
