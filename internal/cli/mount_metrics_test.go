package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/shoalfs/shoal/internal/fusefs"
)

// TestMountMetrics mounts with --metrics-listen, works through the mount
// and scrapes: the FUSE requests are in
// shoal_mount_request_duration_seconds with labels from bounded sets
// only (op from fusefs.Ops, outcome ok or an errno's name), and /healthz
// and /readyz answer.
func TestMountMetrics(t *testing.T) {
	needFUSE(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data, mnt := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var code int
	var errb bytes.Buffer
	wg.Add(1)
	go func() {
		defer wg.Done()
		code = Run(ctx, []string{"mount", "--data", data, "--metrics-listen", addr, mnt}, strings.NewReader(""), &bytes.Buffer{}, &errb)
	}()
	waitMounted(t, mnt, true)
	p := filepath.Join(mnt, "f")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(p); err != nil {
		t.Fatal(err)
	}
	os.Stat(filepath.Join(mnt, "missing"))
	os.Remove(filepath.Join(mnt, "missing"))

	for _, path := range []string{"/healthz", "/readyz"} {
		rsp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, rsp.Status)
		}
	}
	rsp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	// Every _count line is one series; its labels are op and outcome only.
	series := regexp.MustCompile(`^shoal_mount_request_duration_seconds_count\{op="([^"]*)",outcome="([^"]*)"\} `)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "shoal_mount_request_duration_seconds_count") {
			continue
		}
		m := series.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("series with unexpected labels: %s", line)
			continue
		}
		op, outcome := m[1], m[2]
		if !slices.Contains(fusefs.Ops, op) {
			t.Errorf("op %q is not one of fusefs.Ops", op)
		}
		if outcome != "ok" && !errnoName(outcome) {
			t.Errorf("op %s: outcome %q is neither ok nor an errno name", op, outcome)
		}
		seen[op+"/"+outcome] = true
	}
	for _, want := range []string{"create/ok", "write/ok", "read/ok", "lookup/ENOENT"} {
		if !seen[want] {
			t.Errorf("no series %s (have %v)", want, seen)
		}
	}
	cancel()
	wg.Wait()
	if code != 0 {
		t.Fatalf("mount exited %d: %s", code, errb.String())
	}
}

// errnoName reports whether s is the name the kernel's table gives an errno.
func errnoName(s string) bool {
	for e := syscall.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == s {
			return true
		}
	}
	return false
}

// bench --mount refuses what cannot work before it mounts anything: a
// missing mount point, fio sizes below one 1 MiB block, --server.
func TestBenchMountUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	if r := run(t, nil, "bench", "--mount", missing); r.code == 0 || !strings.Contains(r.stderr, "no such file or directory") {
		t.Errorf("bench --mount on a missing directory: %+v", r)
	}
	if r := run(t, nil, "bench", "--mount", t.TempDir(), "--fio-size", "4KiB"); r.code == 0 || !strings.Contains(r.stderr, "at least 1MiB") {
		t.Errorf("bench --mount --fio-size 4KiB: %+v", r)
	}
	if r := run(t, nil, "bench", "--mount", t.TempDir(), "--server", "--data", t.TempDir()); r.code == 0 || !strings.Contains(r.stderr, "--server does not apply") {
		t.Errorf("bench --mount --server: %+v", r)
	}
}
