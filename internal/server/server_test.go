package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/datadir"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/rpc"
	"github.com/shoalfs/shoal/internal/server"
)

// start runs a server on loopback ports picked by the kernel until the
// test ends (or stop is called) and returns it with its stop function.
func start(t *testing.T, cfg server.Config) (*server.Server, func() error) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.WorkerListen == "" {
		cfg.WorkerListen = "127.0.0.1:0"
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var stopped bool
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			runErr = <-done
		}
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return srv, stop
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func dial(t *testing.T, addr string, opts ...shoal.Option) *shoal.Client {
	t.Helper()
	c, err := shoal.Dial(context.Background(), addr, opts...)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestWriteReadRestart(t *testing.T) {
	dir := t.TempDir()
	srv, stop := start(t, server.Config{DataDir: dir})
	c := dial(t, srv.Addr())
	data := bytes.Repeat([]byte("shoal "), 1<<20) // 6 MiB: two blocks
	must(t, c.MkdirAll("a/b", 0o755))
	must(t, c.WriteFile("a/b/f", data, 0o644))
	got, err := c.ReadFile("a/b/f")
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("read back differs")
	}
	if _, err := c.Stat("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("remote error: %v", err)
	}
	must(t, c.Close())
	must(t, stop())

	// The directory is released: the embedded SDK opens the same data.
	lc, err := shoal.OpenLocal(context.Background(), dir)
	must(t, err)
	got, err = lc.ReadFile("a/b/f")
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("local read after server stop differs")
	}
	problems, err := lc.Check(true)
	must(t, err)
	if len(problems) > 0 {
		t.Fatalf("check: %v", problems)
	}
	must(t, lc.Close())
	if _, err := os.Stat(filepath.Join(datadir.Blocks(dir, 1), "chunks")); err != nil {
		t.Fatalf("blocks not under blocks/1: %v", err)
	}
}

func TestLockHeld(t *testing.T) {
	dir := t.TempDir()
	start(t, server.Config{DataDir: dir})
	_, err := shoal.OpenLocal(context.Background(), dir)
	if fserr.KindOf(err) != fserr.Busy {
		t.Fatalf("OpenLocal on a served dir: %v", err)
	}
	_, err = server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", WorkerListen: "127.0.0.1:0"})
	if fserr.KindOf(err) != fserr.Busy {
		t.Fatalf("second server: %v", err)
	}
}

// TestGracefulStop cancels Run while a block upload is half sent: the
// upload completes, then Run returns.
func TestGracefulStop(t *testing.T) {
	srv, stop := start(t, server.Config{})
	c := dial(t, srv.Addr())
	must(t, c.WriteFile("f", []byte("x"), 0o644)) // the default fs is open
	must(t, c.Close())

	pr, pw := io.Pipe()
	body := bytes.Repeat([]byte{7}, 1<<20)
	url := "http://" + srv.WorkerAddr() + "/v1/fs/default/blocks/test/inflight"
	req, err := http.NewRequest(http.MethodPut, url, pr)
	must(t, err)
	req.ContentLength = int64(len(body))
	respc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
		respc <- err
	}()
	_, err = pw.Write(body[:len(body)/2])
	must(t, err)
	// The half has left the client; give the server time to accept the
	// connection (one still in the listen backlog is lost with the
	// listener, as with any server).
	time.Sleep(300 * time.Millisecond)
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("Run returned %v with a request in flight", err)
	default:
	}
	_, err = pw.Write(body[len(body)/2:])
	must(t, err)
	pw.Close()
	if err := <-respc; err != nil {
		t.Fatalf("in-flight upload: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	dctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := shoal.Dial(dctx, srv.Addr()); err == nil {
		t.Fatal("dial after stop succeeded")
	}
}

// --worker-advertise takes only a base URL a client can reach; anything
// else fails at start, naming what it wants, before a lease announces it.
func TestWorkerAdvertiseURL(t *testing.T) {
	for _, bad := range []string{"10.0.0.6:7701", "ftp://h:1", "http://h", "http://h:1/blocks", "http://h:1?x=1", "http://u@h:1", "http://"} {
		_, err := server.New(server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", WorkerListen: "127.0.0.1:0", WorkerAdvertise: bad})
		if fserr.KindOf(err) != fserr.Invalid || !strings.Contains(err.Error(), "http://HOST:PORT") {
			t.Errorf("--worker-advertise %q: %v, want kind Invalid naming the form", bad, err)
		}
	}
}

func TestRefuseBeyondLoopbackWithoutTokens(t *testing.T) {
	for _, cfg := range []server.Config{
		{Listen: "0.0.0.0:0", WorkerListen: "127.0.0.1:0"},
		{Listen: "127.0.0.1:0", WorkerListen: ":0"},
		{Listen: "[::]:0", Roles: server.RoleMeta, WorkerURLs: []string{"http://x"}},
	} {
		cfg.DataDir = t.TempDir()
		_, err := server.New(cfg)
		if err == nil {
			t.Fatalf("%+v: started without tokens", cfg)
		}
		if fserr.KindOf(err) != fserr.Permission || !strings.Contains(err.Error(), "--tokens FILE") ||
			!strings.Contains(err.Error(), "TOKEN UID GID") {
			t.Fatalf("%+v: %v", cfg, err)
		}
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "localhost:1": true, "[::1]:1": true, "127.8.0.1:1": true,
		":1": false, "0.0.0.0:1": false, "10.0.0.1:1": false, "example.com:1": false, "bad": false,
	} {
		if got := server.IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}

func TestParseTokens(t *testing.T) {
	good := "# comment\n\nalice-token-1 1000 1000,27,100\nroot-token-xx 0 0 super # admin\n"
	toks, err := server.ParseTokens(strings.NewReader(good))
	must(t, err)
	if a := toks["alice-token-1"]; a.Uid != 1000 || a.Gid != 1000 || len(a.Gids) != 2 || a.Gids[1] != 100 || a.Super {
		t.Fatalf("alice %+v", a)
	}
	if r := toks["root-token-xx"]; !r.Super || r.Uid != 0 {
		t.Fatalf("root %+v", r)
	}
	for _, bad := range []string{
		"short 1 1", "tokentoken 1", "tokentoken x 1", "tokentoken 1 1,y", "tokentoken 1 1 admin",
		"tokentoken 1 1\ntokentoken 2 2", "tokentoken 1 1 super extra",
	} {
		if _, err := server.ParseTokens(strings.NewReader(bad)); fserr.KindOf(err) != fserr.Invalid {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestTokens(t *testing.T) {
	toks, err := server.ParseTokens(strings.NewReader("user-token-1 1000 1000\nsuper-token-1 0 0 super\n"))
	must(t, err)
	srv, _ := start(t, server.Config{Tokens: toks})
	ctx := context.Background()
	if _, err := shoal.Dial(ctx, srv.Addr(), shoal.WithToken("")); err == nil {
		t.Fatal("dial without a token succeeded")
	}
	if _, err := shoal.Dial(ctx, srv.Addr(), shoal.WithToken("wrong-token")); err == nil {
		t.Fatal("dial with a wrong token succeeded")
	}
	admin := dial(t, srv.Addr(), shoal.WithToken("super-token-1"))
	must(t, admin.Chmod(".", 0o777))
	// The token decides the identity, whatever the client claims.
	u := dial(t, srv.Addr(), shoal.WithToken("user-token-1"), shoal.WithIdentity(0, 0))
	must(t, u.WriteFile("mine", []byte("x"), 0o644))
	fi, err := u.Stat("mine")
	must(t, err)
	if a := fi.Sys().(*shoal.Attr); a.Uid != 1000 || a.Gid != 1000 {
		t.Fatalf("created as %d:%d, want the token's 1000:1000", a.Uid, a.Gid)
	}
	if err := u.Chown("mine", 0, 0); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("chown by a plain token: %v", err)
	}
	// Blocks need a token too.
	resp, err := http.Get("http://" + srv.WorkerAddr() + "/v1/fs/default/blocks/?prefix=")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("block list without a token: %s", resp.Status)
	}
}

func TestFilesystems(t *testing.T) {
	dir := t.TempDir()
	srv, _ := start(t, server.Config{DataDir: dir, GCInterval: 50 * time.Millisecond})
	ctx := context.Background()
	conn, err := rpc.Dial(ctx, []string{srv.Addr()}, rpc.ClientOptions{})
	must(t, err)
	defer conn.Close()
	adm := conn.Admin()
	info, err := adm.CreateFS(ctx, "models")
	must(t, err)
	if info.ID == 1 || info.Name != "models" {
		t.Fatalf("created %+v", info)
	}
	if _, err := adm.CreateFS(ctx, "models"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := adm.CreateFS(ctx, "bad/name"); fserr.KindOf(err) != fserr.Invalid {
		t.Fatalf("bad name: %v", err)
	}
	list, err := adm.ListFS(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Name != "default" || list[1].Name != "models" {
		t.Fatalf("list %+v", list)
	}

	// Same path, different content: the filesystems are isolated.
	d := dial(t, srv.Addr())
	m := dial(t, srv.Addr(), shoal.WithFS("models"))
	must(t, d.WriteFile("same", []byte("default's"), 0o644))
	must(t, m.WriteFile("same", []byte("models'"), 0o644))
	if got, _ := d.ReadFile("same"); string(got) != "default's" {
		t.Fatalf("default sees %q", got)
	}
	if got, _ := m.ReadFile("same"); string(got) != "models'" {
		t.Fatalf("models sees %q", got)
	}
	if _, err := shoal.Dial(ctx, srv.Addr(), shoal.WithFS("nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dial a missing fs: %v", err)
	}

	st, err := adm.Status(ctx)
	must(t, err)
	if len(st.FS) != 2 || st.Version == "" || len(st.BlockURLs) != 1 || st.Uptime <= 0 {
		t.Fatalf("status %+v", st)
	}
	for _, f := range st.FS {
		if f.Usage.UsedInodes < 2 || len(f.Sessions) == 0 {
			t.Fatalf("status of %s: %+v", f.Name, f)
		}
	}

	if err := adm.DeleteFS(ctx, "models"); fserr.KindOf(err) != fserr.NotEmpty {
		t.Fatalf("delete non-empty: %v", err)
	}
	must(t, m.Remove("same"))
	must(t, m.Close())
	if err := adm.DeleteFS(ctx, "default"); fserr.KindOf(err) != fserr.NotPermitted {
		t.Fatalf("delete default: %v", err)
	}
	must(t, adm.DeleteFS(ctx, "models"))
	list, err = adm.ListFS(ctx)
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("after delete: %+v", list)
	}
	// The server drops the deleted filesystem's blocks directory.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(datadir.Blocks(dir, info.ID)); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("blocks of the deleted filesystem remain")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, _ := d.ReadFile("same"); string(got) != "default's" {
		t.Fatalf("default after delete sees %q", got)
	}
}

// TestSessionExpiry: a client that dies with a file open and unlinked
// leaves its blocks only until its session expires.
func TestSessionExpiry(t *testing.T) {
	dir := t.TempDir()
	srv, _ := start(t, server.Config{DataDir: dir, SessionTTL: 300 * time.Millisecond, GCInterval: 50 * time.Millisecond})
	ctx := context.Background()
	conn, err := rpc.Dial(ctx, []string{srv.Addr()}, rpc.ClientOptions{HeartbeatEvery: time.Hour})
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	m := conn.Meta()
	_, err = m.Create(ctx, meta.Root, meta.RootIno, "f", 0o644, os.O_RDWR, true)
	must(t, err)
	must(t, m.Unlink(ctx, meta.Root, meta.RootIno, "f"))
	// The client "dies": no heartbeat, no Close. Its session expires and
	// the server reclaims the inode.
	c := dial(t, srv.Addr())
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.StatFS()
		must(t, err)
		if st.UsedInodes == 1 { // the root only
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unlinked open file of a dead session not reclaimed: %d inodes", st.UsedInodes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRolesApart runs the meta and worker roles as two servers on two
// data directories, the way they will run on two machines.
//
// Without --worker-url the meta learns the worker from its lease: the
// client is told it, and the collector deletes through it.
func TestRolesApart(t *testing.T) {
	t.Run("WorkerURL", func(t *testing.T) { testRolesApart(t, true) })
	t.Run("LeasesOnly", func(t *testing.T) { testRolesApart(t, false) })
}

func testRolesApart(t *testing.T, workerURL bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	workerAddr := ln.Addr().String()
	ln.Close()
	mcfg := server.Config{Roles: server.RoleMeta, GCInterval: 50 * time.Millisecond}
	if workerURL {
		mcfg.WorkerURLs = []string{"http://" + workerAddr}
	}
	metaSrv, _ := start(t, mcfg)
	blocksDir := t.TempDir()
	worker, _ := start(t, server.Config{Roles: server.RoleWorker, DataDir: blocksDir, WorkerListen: workerAddr, MetaAddrs: []string{metaSrv.Addr()}})
	if worker.Addr() != "" || metaSrv.WorkerAddr() != "" {
		t.Fatalf("roles leak: worker api %q, meta blocks %q", worker.Addr(), metaSrv.WorkerAddr())
	}
	// Without a --worker-url the meta announces no block server until the
	// worker's first heartbeat lands; Dial says so, clearly, until then.
	var c *shoal.Client
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if c, err = shoal.Dial(context.Background(), metaSrv.Addr()); err == nil {
			t.Cleanup(func() { c.Close() })
			break
		}
		if workerURL || time.Since(start) > 10*time.Second || !strings.Contains(err.Error(), "announced no block server") {
			t.Fatalf("dial: %v", err)
		}
	}
	data := bytes.Repeat([]byte("apart"), 300000)
	must(t, c.WriteFile("f", data, 0o644))
	if got, err := c.ReadFile("f"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	if _, err := os.Stat(filepath.Join(datadir.Blocks(blocksDir, 1), "chunks")); err != nil {
		t.Fatalf("blocks not at the worker: %v", err)
	}
	// The meta role's GC deletes blocks at the worker.
	must(t, c.Remove("f"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		filepath.WalkDir(datadir.Blocks(blocksDir, 1), func(_ string, d fs.DirEntry, _ error) error {
			if d != nil && !d.IsDir() {
				n++
			}
			return nil
		})
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d blocks left at the worker after GC", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The deletions are counted at both ends: the meta role's remote
	// store and the worker's local one (once each delete has returned,
	// which is a moment after its file is gone).
	for _, c := range []struct {
		srv  *server.Server
		kind string
	}{{metaSrv, "remote"}, {worker, "local"}} {
		for {
			v, _ := sample(t, c.srv, "shoal_store_request_duration_seconds", map[string]string{"store": c.kind, "op": "delete", "outcome": "ok"})
			if v > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("no %s store deletions counted", c.kind)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
