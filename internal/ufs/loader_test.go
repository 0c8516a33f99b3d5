package ufs_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/meta/metatest"
	"github.com/shoalfs/shoal/internal/objstore"
	objmem "github.com/shoalfs/shoal/internal/objstore/mem"
	"github.com/shoalfs/shoal/internal/ufs"
)

// countingStore counts the store's listing calls, by prefix.
type countingStore struct {
	*objmem.Store
	lists atomic.Int64
	last  atomic.Value
}

func (c *countingStore) ListDir(ctx context.Context, prefix, cont string, limit int) (objstore.DirPage, error) {
	c.lists.Add(1)
	c.last.Store(prefix)
	return c.Store.ListDir(ctx, prefix, cont, limit)
}

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

type env struct {
	t     *testing.T
	ctx   context.Context
	fs    *meta.FS
	store *countingStore
	clk   *clock
	root  meta.Ino
}

func newEnv(t *testing.T, exclusive bool) *env {
	ctx := context.Background()
	store := &countingStore{Store: objmem.New()}
	clk := &clock{}
	clk.ns.Store(1_700_000_000_000_000_000)
	eng := mem.New()
	t.Cleanup(func() { eng.Close() })
	loader := &ufs.Loader{Open: func(context.Context, meta.Mount) (ufs.Store, error) { return store, nil }}
	e := metatest.NewFS(t, eng, meta.Config{Clock: clk.Now, MountLoader: loader, Exclusive: exclusive})
	m, err := e.FS.Mount(ctx, meta.Root, meta.Mount{URL: "s3://bucket/ds", Path: "/ds", SyncInterval: time.Minute, Uid: 5, Gid: 6})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, fs: e.FS, store: store, clk: clk, root: m.Root}
}

func (e *env) put(key, data string) {
	e.t.Helper()
	if err := e.store.Put(e.ctx, key, []byte(data)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) names(ino meta.Ino) []string {
	e.t.Helper()
	var out []string
	cookie := uint64(0)
	for {
		ents, next, err := e.fs.ReadDir(e.ctx, meta.Root, ino, cookie, 1000, false)
		if err != nil {
			e.t.Fatalf("ReadDir(%d): %v", ino, err)
		}
		if len(ents) == 0 {
			return out
		}
		for _, en := range ents {
			out = append(out, en.Name)
		}
		cookie = next
	}
}

func (e *env) resolve(p string) (meta.Attr, error) { return e.fs.Resolve(e.ctx, meta.Root, p, true) }

// TestLazyMetadata: entries appear on first access, as the store lists
// them one level at a time; changes behind Shoal's back show after the
// sync interval, not before; everything stays read-only.
func TestLazyMetadata(t *testing.T) {
	for _, exclusive := range []bool{false, true} {
		t.Run(fmt.Sprint("exclusive=", exclusive), func(t *testing.T) { testLazy(t, exclusive) })
	}
}

func testLazy(t *testing.T, exclusive bool) {
	e := newEnv(t, exclusive)
	e.put("train/a.bin", "aaaa")
	e.put("train/b.bin", "bb")
	e.put("train/sub/c.bin", "c")
	e.put("README", "hello")

	if got := fmt.Sprint(e.names(e.root)); got != "[README train]" {
		t.Fatalf("ls /ds = %s", got)
	}
	a, err := e.resolve("/ds/train/a.bin")
	if err != nil || a.Type != meta.TypeRegular || a.Size != 4 || a.Flags&meta.FlagMounted == 0 || a.Mode != 0o444 || a.Uid != 5 || a.Gid != 6 {
		t.Fatalf("stat a.bin = %+v, %v", a, err)
	}
	if d, err := e.resolve("/ds/train/sub"); err != nil || d.Type != meta.TypeDir || d.Mode != 0o555 {
		t.Fatalf("stat train/sub = %+v, %v", d, err)
	}
	lists := e.store.lists.Load()
	// Fresh: no more listing.
	e.resolve("/ds/train/a.bin")
	e.names(e.root)
	if n := e.store.lists.Load(); n != lists {
		t.Fatalf("fresh accesses listed the store %d more times", n-lists)
	}

	// Behind Shoal's back: a.bin changes, b.bin goes, new.bin comes.
	e.put("train/a.bin", "aaaaaaaa")
	if err := e.store.Delete(e.ctx, "train/b.bin"); err != nil {
		t.Fatal(err)
	}
	e.put("train/new.bin", "n")
	if a, _ := e.resolve("/ds/train/a.bin"); a.Size != 4 {
		t.Fatalf("change seen before the sync interval: %+v", a)
	}
	if _, err := e.resolve("/ds/train/new.bin"); !fserr.Is(fserr.NotExist, err) {
		t.Fatalf("new object seen before the sync interval: %v", err)
	}
	e.clk.advance(2 * time.Minute)
	if a, err := e.resolve("/ds/train/a.bin"); err != nil || a.Size != 8 {
		t.Fatalf("after the interval a.bin = %+v, %v; want size 8", a, err)
	}
	if _, err := e.resolve("/ds/train/b.bin"); !fserr.Is(fserr.NotExist, err) {
		t.Fatalf("deleted object still there: %v", err)
	}
	tr, _ := e.resolve("/ds/train")
	if got := fmt.Sprint(e.names(tr.Ino)); got != "[a.bin sub new.bin]" {
		t.Fatalf("ls /ds/train = %s", got)
	}

	// A prefix deleted whole takes its materialised subtree with it.
	if err := e.store.Delete(e.ctx, "train/sub/c.bin"); err != nil {
		t.Fatal(err)
	}
	e.resolve("/ds/train/sub/c.bin")
	e.clk.advance(2 * time.Minute)
	if _, err := e.resolve("/ds/train/sub"); !fserr.Is(fserr.NotExist, err) {
		t.Fatalf("deleted prefix still there: %v", err)
	}

	// Read-only, and reads are refused rather than served as zeros.
	for what, err := range map[string]error{
		"mkdir":    second(e.fs.Mkdir(e.ctx, meta.Root, tr.Ino, "x", 0o755)),
		"create":   second(e.fs.Create(e.ctx, meta.Root, tr.Ino, "x", 0o644, 0, true)),
		"unlink":   e.fs.Unlink(e.ctx, meta.Root, tr.Ino, "a.bin"),
		"rename":   e.fs.Rename(e.ctx, meta.Root, tr.Ino, "a.bin", tr.Ino, "z", 0),
		"chmod":    second(e.fs.SetAttr(e.ctx, meta.Root, a.Ino, meta.SetMode, meta.Attr{Mode: 0o777})),
		"truncate": second(e.fs.SetAttr(e.ctx, meta.Root, a.Ino, meta.SetSize, meta.Attr{})),
		"setxattr": e.fs.SetXattr(e.ctx, meta.Root, a.Ino, "user.x", []byte("v"), 0),
	} {
		if !fserr.Is(fserr.ReadOnly, err) {
			t.Errorf("%s in a mount: %v, want EROFS", what, err)
		}
	}
	a, _ = e.resolve("/ds/train/a.bin")
	if _, err := e.fs.Open(e.ctx, meta.Root, a.Ino, 1); !fserr.Is(fserr.ReadOnly, err) {
		t.Errorf("open for writing: %v, want EROFS", err)
	}
	if _, err := e.fs.Open(e.ctx, meta.Root, a.Ino, 0); !fserr.Is(fserr.NotSupported, err) {
		t.Errorf("open for reading: %v, want NotSupported until the read path lands", err)
	}
	if problems, err := e.fs.Check(e.ctx); err != nil || len(problems) != 0 {
		t.Fatalf("Check = %q, %v", problems, err)
	}

	// Unmount drops everything materialised.
	if _, err := e.fs.Unmount(e.ctx, meta.Root, "/ds"); err != nil {
		t.Fatal(err)
	}
	if got := e.names(e.root); len(got) != 0 {
		t.Fatalf("after unmount /ds holds %q", got)
	}
	if problems, err := e.fs.Check(e.ctx); err != nil || len(problems) != 0 {
		t.Fatalf("Check after unmount = %q, %v", problems, err)
	}
}

// TestLazyListing100k: a bucket of 100,000 objects under 100 prefixes; an ls
// of one subdirectory lists that prefix only (one level of the store,
// page by page), never the bucket.
func TestLazyListing100k(t *testing.T) {
	e := newEnv(t, true)
	for d := range 100 {
		for f := range 1000 {
			e.put(fmt.Sprintf("d%03d/f%04d", d, f), "")
		}
	}
	sub, err := e.resolve("/ds/d042")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.store.lists.Load(); n != 1 {
		t.Fatalf("resolving /ds/d042 listed the store %d times, want 1 (the root level)", n)
	}
	if got := len(e.names(sub.Ino)); got != 1000 {
		t.Fatalf("ls /ds/d042: %d entries", got)
	}
	if n, last := e.store.lists.Load(), e.store.last.Load(); n != 2 || last != "d042/" {
		t.Fatalf("ls of one subdirectory: %d listings in all, last of %q; want 2, the last of d042/", n, last)
	}
}

func second[T any](_ T, err error) error { return err }
