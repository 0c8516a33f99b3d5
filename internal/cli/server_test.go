package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs "shoal server" in-process on kernel-picked loopback
// ports and returns its API address and a function stopping it (as
// SIGTERM would: the command's context is cancelled) that returns the
// exit code and stdout.
func startServer(t *testing.T, dir string, extra ...string) (string, func() (int, string)) {
	t.Helper()
	addr, stop, _ := startServerOut(t, dir, extra...)
	return addr, stop
}

// startServerOut is startServer that also returns the server's stdout
// so far (its banner, once startServerOut returned).
func startServerOut(t *testing.T, dir string, extra ...string) (string, func() (int, string), func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	args := append([]string{"server", "--data", dir, "--listen", "127.0.0.1:0", "--worker-listen", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	go func() { done <- Run(ctx, args, strings.NewReader(""), &out, &errb) }()
	re := regexp.MustCompile(`shoal fs --addr (\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	var addr string
	for addr == "" {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("server exited %d: %s %s", code, out.String(), errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner: %q %q", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var once sync.Once
	var code int
	stop := func() (int, string) {
		once.Do(func() { cancel(); code = <-done })
		return code, out.String()
	}
	t.Cleanup(func() { stop() })
	return addr, stop, out.String
}

func TestServerCommand(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	addr, stop := startServer(t, dir)
	src := filepath.Join(tmp, "src.txt")
	if err := os.WriteFile(src, []byte("over the wire\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rfs := func(args ...string) string {
		t.Helper()
		r := run(t, nil, append([]string{"fs", "--addr", addr}, args...)...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("shoal fs --addr %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
		}
		return r.stdout
	}
	rfs("mkdir", "-p", "/in/deep")
	rfs("put", src, "/in/")
	if got := rfs("cat", "/in/src.txt"); got != "over the wire\n" {
		t.Fatalf("cat: %q", got)
	}
	if got := rfs("ls", "/in"); !strings.Contains(got, "src.txt") || !strings.Contains(got, "deep") {
		t.Fatalf("ls: %q", got)
	}
	if got := rfs("df"); !strings.Contains(got, addr) {
		t.Fatalf("df does not name the server: %q", got)
	}
	if r := run(t, nil, "fs", "--addr", addr, "cat", "/missing"); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Fatalf("cat missing: %+v", r)
	}
	// SHOAL_ADDR stands for --addr.
	t.Setenv("SHOAL_ADDR", addr)
	if r := run(t, nil, "fs", "ls", "/in"); r.code != 0 || !strings.Contains(r.stdout, "src.txt") {
		t.Fatalf("ls via SHOAL_ADDR: %+v", r)
	}
	t.Setenv("SHOAL_ADDR", "")

	if r := run(t, nil, "admin", "fs", "create", "models", "--addr", addr); r.code != 0 || !strings.Contains(r.stdout, "created filesystem models") {
		t.Fatalf("admin fs create: %+v", r)
	}
	if r := run(t, nil, "admin", "fs", "create", "models", "--addr", addr); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("admin fs create twice: %+v", r)
	}
	if r := run(t, nil, "admin", "fs", "list", "--addr", addr); r.code != 0 || !regexp.MustCompile(`(?m)^default\s+1\s`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "models") {
		t.Fatalf("admin fs list: %+v", r)
	}
	rfs("--fs", "models", "put", src, "/src.txt")
	if got := rfs("--fs", "models", "ls", "/"); strings.Contains(got, "in") || !strings.Contains(got, "src.txt") {
		t.Fatalf("ls of models: %q", got)
	}
	if r := run(t, nil, "fsck", "--addr", addr, "--verify-data"); r.code != 0 || !strings.Contains(r.stdout, "fsck: clean") {
		t.Fatalf("fsck --addr: %+v", r)
	}

	r := run(t, nil, "status", "--addr", addr)
	if r.code != 0 {
		t.Fatalf("status: %+v", r)
	}
	for _, want := range []string{"server:  shoal", "up ", "api:     " + addr, "blocks:  http://", "FILESYSTEM", "default", "models", "SESSION", "*",
		"engine:  badger://" + dir, "store:   file://" + dir, "WORKER", "expires in"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, nil, "status", "--addr", addr, "--json")
	var js struct {
		EngineURL, StoreURL string
		Workers             []struct{ ID, URL string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &js); r.code != 0 || err != nil {
		t.Fatalf("status --json: %v %+v", err, r)
	}
	if !strings.HasPrefix(js.EngineURL, "badger://"+dir) || !strings.HasPrefix(js.StoreURL, "file://"+dir) || len(js.Workers) != 1 || js.Workers[0].URL == "" {
		t.Fatalf("status --json: engine %q, store %q, workers %+v", js.EngineURL, js.StoreURL, js.Workers)
	}

	rfs("--fs", "models", "rm", "/src.txt")
	if r := run(t, nil, "admin", "fs", "delete", "models", "--addr", addr); r.code != 0 {
		t.Fatalf("admin fs delete: %+v", r)
	}
	if r := run(t, nil, "admin", "fs", "delete", "default", "--addr", addr); r.code != 1 {
		t.Fatalf("admin fs delete default: %+v", r)
	}

	// While the server runs, the directory is its own.
	if r := run(t, nil, "fs", "--data", dir, "ls"); r.code != 1 || !strings.Contains(r.stderr, "busy") {
		t.Fatalf("local open of a served dir: %+v", r)
	}
	code, out := stop()
	if code != 0 || !strings.Contains(out, "stopped") {
		t.Fatalf("stop: exit %d, %q", code, out)
	}
	// Same data, local this time.
	if got := fsh(t, dir, "cat", "/in/src.txt"); got != "over the wire\n" {
		t.Fatalf("local cat after stop: %q", got)
	}
}

func TestServerFlags(t *testing.T) {
	dir := t.TempDir()
	r := run(t, nil, "fs", "--data", dir, "--addr", "127.0.0.1:1", "ls")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--data and --addr exclude each other") {
		t.Fatalf("--data with --addr: %+v", r)
	}
	r = run(t, nil, "server", "--data", dir, "--listen", "0.0.0.0:0", "--worker-listen", "127.0.0.1:0")
	if r.code != ExitFail || !strings.Contains(r.stderr, "--tokens FILE") {
		t.Fatalf("public listen without tokens: %+v", r)
	}
	bad := filepath.Join(dir, "tokens")
	os.WriteFile(bad, []byte("tok 1\n"), 0o600)
	r = run(t, nil, "server", "--data", dir, "--tokens", bad)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "tokens line 1") {
		t.Fatalf("bad tokens file: %+v", r)
	}
	r = run(t, nil, "status", "--data", dir)
	if r.code != ExitUsage {
		t.Fatalf("status without --addr: %+v", r)
	}
	r = run(t, nil, "worker", "--data", dir, "--meta", "127.0.0.1:1", "--worker-listen", "127.0.0.1:0", "--worker-advertise", "10.0.0.6:7701")
	if r.code != ExitFail || !strings.Contains(r.stderr, "http://HOST:PORT") {
		t.Fatalf("worker with a bad --worker-advertise: %+v", r)
	}
}

// TestServerTokens: a server with tokens, reached with --token and
// SHOAL_TOKEN.
func TestServerTokens(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokens, []byte("super-secret-1 0 0 super\n"), 0o600)
	addr, _ := startServer(t, dir, "--tokens", tokens)
	if r := run(t, nil, "fs", "--addr", addr, "ls"); r.code != 1 {
		t.Fatalf("no token: %+v", r)
	}
	if r := run(t, nil, "fs", "--addr", addr, "--token", "super-secret-1", "mkdir", "/x"); r.code != 0 {
		t.Fatalf("with token: %+v", r)
	}
	t.Setenv("SHOAL_TOKEN", "super-secret-1")
	if r := run(t, nil, "fs", "--addr", addr, "ls"); r.code != 0 || !strings.Contains(r.stdout, "x") {
		t.Fatalf("SHOAL_TOKEN: %+v", r)
	}
}

// TestAdminLocal: filesystems of a data directory no server holds.
func TestAdminLocal(t *testing.T) {
	dir := t.TempDir()
	fsh(t, dir, "mkdir", "/d") // creates the directory and "default"
	if r := run(t, nil, "admin", "fs", "create", "scratch", "--data", dir); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	fsh(t, dir, "--fs", "scratch", "mkdir", "/only-here")
	if got := fsh(t, dir, "ls"); strings.Contains(got, "only-here") {
		t.Fatalf("default sees scratch: %q", got)
	}
	if r := run(t, nil, "admin", "fs", "list", "--data", dir); r.code != 0 || !strings.Contains(r.stdout, "scratch") {
		t.Fatalf("list: %+v", r)
	}
	if r := run(t, nil, "admin", "fs", "delete", "scratch", "--data", dir); r.code != 1 || !strings.Contains(r.stderr, "not empty") {
		t.Fatalf("delete non-empty: %+v", r)
	}
	fsh(t, dir, "--fs", "scratch", "rm", "-r", "/only-here")
	if r := run(t, nil, "admin", "fs", "delete", "scratch", "--data", dir); r.code != 0 {
		t.Fatalf("delete: %+v", r)
	}
	if r := run(t, nil, "fs", "--data", dir, "--fs", "scratch", "ls"); r.code != 1 {
		t.Fatalf("deleted fs still opens: %+v", r)
	}
}

// shoal status given several meta addresses lists each one, a dead one as
// unreachable, and reports the rest from the first that answers.
func TestStatusSeveralMetas(t *testing.T) {
	a, _ := startServer(t, t.TempDir(), "--s3-listen", "", "--web-listen", "")
	b, stopB := startServer(t, t.TempDir(), "--s3-listen", "", "--web-listen", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	addrs := a + "," + b + "," + dead
	r := run(t, nil, "status", "--addr", addrs)
	if r.code != 0 {
		t.Fatalf("status: %+v", r)
	}
	for _, want := range []string{"META", a, b, dead + " ", "unreachable", "engine:  badger://", "WORKER"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	stopB()
	r = run(t, nil, "status", "--addr", addrs, "--json")
	var js struct {
		EngineURL string
		Metas     []struct{ Addr, Version, EngineURL, Error string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &js); r.code != 0 || err != nil {
		t.Fatalf("status --json: %v %+v", err, r)
	}
	if len(js.Metas) != 3 || js.Metas[0].Addr != a || js.Metas[0].Error != "" || js.Metas[0].EngineURL != js.EngineURL ||
		js.Metas[1].Error == "" || js.Metas[2].Error == "" {
		t.Fatalf("status --json metas: %+v", js.Metas)
	}
}
