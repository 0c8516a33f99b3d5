package shoal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/rpc"
	"github.com/shoalfs/shoal/internal/server"
)

// One suite, two backends: every test that is about filesystem behaviour
// runs through eachBackend, once on an embedded data directory (OpenLocal)
// and once through an in-process server (Dial). Tests of what only the
// embedded mode has (the directory lock) call OpenLocal directly.

// backend opens fresh filesystems of one kind.
type backend struct {
	name   string
	remote bool
}

var backends = []backend{{name: "local"}, {name: "remote", remote: true}}

// eachBackend runs fn as a subtest per backend.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// testEnv is one fresh, empty filesystem; client opens clients on it.
type testEnv struct {
	b    backend
	dir  string // local: the data directory
	fs   string // remote: the filesystem's name on the shared server
	addr string
}

// fresh makes a new empty filesystem: a temporary data directory, or a
// new named filesystem on the shared test server (cheaper than a server
// per test, and it exercises named filesystems on every test).
func (b backend) fresh(t testing.TB) *testEnv {
	t.Helper()
	if !b.remote {
		return &testEnv{b: b, dir: t.TempDir()}
	}
	srv := sharedServer(t)
	name := fmt.Sprintf("t%d", fsSeq.Add(1))
	conn, err := rpc.Dial(context.Background(), []string{srv.Addr()}, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Admin().CreateFS(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	return &testEnv{b: b, fs: name, addr: srv.Addr()}
}

// client opens a client on the filesystem, closed at the test's end.
// Background GC is off unless asked for, so tests control it.
func (e *testEnv) client(t testing.TB, opts ...Option) (*Client, error) {
	t.Helper()
	opts = append([]Option{WithGCInterval(0)}, opts...)
	var c *Client
	var err error
	if e.b.remote {
		c, err = Dial(context.Background(), e.addr, append(opts, WithFS(e.fs))...)
	} else {
		c, err = OpenLocal(context.Background(), e.dir, opts...)
	}
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// open returns a client on a fresh filesystem and the store holding its
// blocks (to count them).
func (b backend) open(t testing.TB, opts ...Option) (*Client, objstore.Store) {
	t.Helper()
	c, err := b.fresh(t).client(t, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, c.core.store
}

var (
	fsSeq      atomic.Int64
	sharedOnce sync.Once
	shared     *server.Server
	sharedErr  error
	stopShared func()
)

// sharedServer starts (once) the in-process server remote tests use, on
// loopback ports picked by the kernel. TestMain stops it.
func sharedServer(t testing.TB) *server.Server {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shoal-test-server")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = server.New(server.Config{
			DataDir:      dir,
			Listen:       "127.0.0.1:0",
			WorkerListen: "127.0.0.1:0",
			GCInterval:   -1, // tests run GC themselves
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

// wantErrno fails unless err carries errno want (nil: no error).
func wantErrno(t testing.TB, err error, want syscall.Errno, what string) {
	t.Helper()
	if want == 0 {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("%s: got no error, want %v", what, want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v (errno %d), want %v", what, err, fserr.Errno(err), want)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %T is not *shoal.Error", what, err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
