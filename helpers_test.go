package shoal

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/fserr"
	kvmem "github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
	objmem "github.com/shoalfs/shoal/internal/objstore/mem"
)

// openLocal opens a Badger + file-store client in a temporary directory.
func openLocal(t testing.TB, opts ...Option) (*Client, string) {
	t.Helper()
	dir := t.TempDir()
	c, err := OpenLocal(context.Background(), dir, append([]Option{WithGCInterval(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, dir
}

// memClient builds a client over the in-memory engine and store, for
// tests where speed matters. It returns the store so tests can count
// blocks.
func memClient(t testing.TB, opts ...Option) (*Client, *objmem.Store) {
	t.Helper()
	o := defaultOptions()
	o.gcInterval = 0
	for _, opt := range opts {
		opt(&o)
	}
	ctx := context.Background()
	eng := kvmem.New()
	store := objmem.New()
	m, err := meta.New(ctx, eng, meta.Config{CleanStaleSessions: true})
	if err != nil {
		t.Fatal(err)
	}
	d, err := data.New(m, store, data.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(m, store, d, eng, o, store.Close, eng.Close)
	t.Cleanup(func() { c.Close() })
	return c, store
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
