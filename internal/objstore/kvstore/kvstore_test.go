package kvstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/kvstore"
	"github.com/shoalfs/shoal/internal/objstore/storetest"
)

var ctx = context.Background()

// storetest's Large case puts a 4 MiB object.
var suiteOpts = kvstore.Options{MaxObject: 4<<20 + 64<<10}

func TestMem(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store {
		return kvstore.New(mem.New(), []byte("B"), suiteOpts)
	})
}

func openBadger(t *testing.T, opts badger.Options) *badger.Engine {
	t.Helper()
	eng, err := badger.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

func TestBadger(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store {
		return kvstore.New(openBadger(t, badger.Options{}), []byte("B"), suiteOpts)
	})
}

// TestPrefixes checks that stores sharing an engine, and other keys in it,
// stay apart.
func TestPrefixes(t *testing.T) {
	eng := mem.New()
	a := kvstore.New(eng, []byte("a/"), kvstore.Options{})
	b := kvstore.New(eng, []byte("b/"), kvstore.Options{})
	for _, s := range []*kvstore.Store{a, b} {
		if err := s.Put(ctx, "k", []byte(fmt.Sprintf("%p", s))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if l, err := b.List(ctx, "", "", 0); err != nil || len(l) != 1 {
		t.Fatalf("b.List = %v, %v", l, err)
	}
	if l, err := a.List(ctx, "", "", 0); err != nil || len(l) != 0 {
		t.Fatalf("a.List = %v, %v", l, err)
	}
}

func TestMaxObject(t *testing.T) {
	s := kvstore.New(mem.New(), nil, kvstore.Options{})
	if s.MaxObject() != kvstore.DefaultMaxObject {
		t.Fatalf("MaxObject = %d", s.MaxObject())
	}
	if err := s.Put(ctx, "ok", make([]byte, kvstore.DefaultMaxObject)); err != nil {
		t.Fatal(err)
	}
	err := s.Put(ctx, "big", make([]byte, kvstore.DefaultMaxObject+1))
	if !fserr.Is(fserr.TooBig, err) {
		t.Fatalf("Put over MaxObject = %v, want TooBig", err)
	}
}

func TestHeadAndContains(t *testing.T) {
	s := kvstore.New(mem.New(), []byte("x"), kvstore.Options{})
	before := time.Now()
	if err := s.Put(ctx, "k", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	info, err := s.Head(ctx, "k")
	if err != nil || info.Size != 3 || info.ModTime.Before(before.Add(-time.Second)) || info.ModTime.After(time.Now().Add(time.Second)) {
		t.Fatalf("Head = %+v, %v", info, err)
	}
	got, err := s.Contains(ctx, []string{"k", "nope", "k"})
	if err != nil || fmt.Sprint(got) != "[true false true]" {
		t.Fatalf("Contains = %v, %v", got, err)
	}
}

func TestClosed(t *testing.T) {
	s := kvstore.New(mem.New(), nil, kvstore.Options{})
	s.Close()
	if _, err := s.Get(ctx, "k", 0, -1); !fserr.Is(fserr.Closed, err) {
		t.Fatalf("Get after Close = %v", err)
	}
	if err := s.Put(ctx, "k", nil); !fserr.Is(fserr.Closed, err) {
		t.Fatalf("Put after Close = %v", err)
	}
}

func TestCancelled(t *testing.T) {
	s := kvstore.New(mem.New(), nil, kvstore.Options{})
	c, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(c, "k", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with cancelled ctx = %v", err)
	}
}

// TestValueLogGC checks the space story in the package doc: deleted
// objects' bytes leave the value log once compactions have counted them
// and value-log GC has run, and the objects that survive (moved by the
// rewrite) read back intact.
func TestValueLogGC(t *testing.T) {
	dir := t.TempDir()
	eng, err := badger.Open(dir, badger.Options{ValueLogFileSize: 1 << 20, MemTableSize: 1 << 20, GCInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	s := kvstore.New(eng, []byte("B"), kvstore.Options{})
	const n = 96
	obj := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100<<10+i) }
	key := func(i int) string { return fmt.Sprintf("o/%03d", i) }
	for i := range n {
		if err := s.Put(ctx, key(i), obj(i)); err != nil {
			t.Fatal(err)
		}
	}
	before := vlogBytes(t, dir)
	for i := range n {
		if i%8 != 0 {
			if err := s.Delete(ctx, key(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Small objects stay in the tree: enough of them flush memtables and
	// start the compactions that record the value log's garbage.
	filler := make([]byte, 1000)
	for i := range 4000 {
		if err := s.Put(ctx, fmt.Sprintf("f/%05d", i), filler); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for vlogBytes(t, dir) > before/2 {
		if time.Now().After(deadline) {
			t.Fatalf("value log still %d bytes (%d before deleting 7/8 of it)", vlogBytes(t, dir), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	l, err := s.List(ctx, "o/", "", 0)
	if err != nil || len(l) != n/8 {
		t.Fatalf("List = %d objects, %v", len(l), err)
	}
	for i := 0; i < n; i += 8 {
		got, err := s.Get(ctx, key(i), 0, -1)
		if err != nil || !bytes.Equal(got, obj(i)) {
			t.Fatalf("Get(%s) after GC: %d bytes, %v", key(i), len(got), err)
		}
	}
}

func vlogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range m {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// TestConcurrentSync runs Syncs from many goroutines, which share engine
// syncs, on an engine that can sync.
func TestConcurrentSync(t *testing.T) {
	s := kvstore.New(openBadger(t, badger.Options{}), []byte("B"), kvstore.Options{})
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := range 20 {
				k := fmt.Sprintf("w%d/%d", w, i)
				err := s.Put(ctx, k, []byte(k))
				if err == nil {
					err = s.Sync(ctx, []string{k})
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
