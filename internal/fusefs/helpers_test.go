package fusefs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/rpc"
	"github.com/shoalfs/shoal/internal/server"
)

// Every FUSE test runs over both SDK backends: an embedded data
// directory (OpenLocal) and an in-process server (Dial).

type backend struct {
	name   string
	remote bool
}

var backends = []backend{{name: "local"}, {name: "remote", remote: true}}

func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// needFUSE skips the test, saying why, where a mount cannot be made.
func needFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("FUSE tests need /dev/fuse: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("FUSE tests need root (they mount with mount(2) and act as several users)")
	}
}

// env is one fresh filesystem a test can open clients and mounts on.
type env struct {
	b    backend
	dir  string // local: the data directory
	fs   string // remote: the filesystem name on the shared server
	addr string
}

var fsSeq int

func (b backend) fresh(t testing.TB) *env {
	t.Helper()
	if !b.remote {
		return &env{b: b, dir: t.TempDir()}
	}
	srv := sharedServer(t)
	fsSeq++
	name := fmt.Sprintf("f%d", fsSeq)
	conn, err := rpc.Dial(context.Background(), []string{srv.Addr()}, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Admin().CreateFS(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	return &env{b: b, fs: name, addr: srv.Addr()}
}

// client opens an SDK client on the filesystem as the mount does.
func (e *env) client(t testing.TB, opts ...shoal.Option) *shoal.Client {
	t.Helper()
	opts = append([]shoal.Option{shoal.WithUmask(0), shoal.WithGCInterval(0)}, opts...)
	var c *shoal.Client
	var err error
	if e.b.remote {
		c, err = shoal.Dial(context.Background(), e.addr, append(opts, shoal.WithFS(e.fs))...)
	} else {
		c, err = shoal.OpenLocal(context.Background(), e.dir, opts...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mount mounts a new client on the filesystem at a temporary directory,
// unmounted and closed when the test ends. It returns the mount point
// and the client.
func (e *env) mount(t testing.TB, o Options) (string, *shoal.Client) {
	t.Helper()
	c := e.client(t)
	dir := t.TempDir()
	m, err := New(dir, c, o)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
		m.Wait()
		if err := c.Close(); err != nil {
			t.Errorf("close client: %v", err)
		}
	})
	return dir, c
}

// mountFresh mounts a fresh filesystem of backend b.
func mountFresh(t testing.TB, b backend, o Options) string {
	t.Helper()
	dir, _ := b.fresh(t).mount(t, o)
	return dir
}

var (
	sharedOnce sync.Once
	shared     *server.Server
	sharedErr  error
	stopShared func()
)

func sharedServer(t testing.TB) *server.Server {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shoal-fuse-server")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = server.New(server.Config{
			DataDir:      dir,
			Listen:       "127.0.0.1:0",
			WorkerListen: "127.0.0.1:0",
			GCInterval:   -1,
			Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if sharedErr != nil {
			os.RemoveAll(dir)
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- shared.Run(ctx) }()
		stopShared = func() {
			cancel()
			if err := <-done; err != nil {
				fmt.Fprintln(os.Stderr, "test server:", err)
			}
			os.RemoveAll(dir)
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(mmapEnv); spec != "" {
		mmapHelperMain(spec)
	}
	code := m.Run()
	if stopShared != nil {
		stopShared()
	}
	os.Exit(code)
}
