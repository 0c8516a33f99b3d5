package meta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/mem"
)

// countingEngine counts the transactions run on an engine.
type countingEngine struct {
	kv.Engine
	views, updates atomic.Int64
}

func (e *countingEngine) View(ctx context.Context, fn func(kv.ReadTxn) error) error {
	e.views.Add(1)
	return e.Engine.View(ctx, fn)
}

func (e *countingEngine) Update(ctx context.Context, fn func(kv.Txn) error) error {
	e.updates.Add(1)
	return e.Engine.Update(ctx, fn)
}

// verifyCache fails t for every cached value that differs from the
// engine's (with no writer running).
func verifyCache(t *testing.T, fs *FS) {
	t.Helper()
	ctx := context.Background()
	inner := fs.eng.(*cachedEngine).Engine
	n := 0
	for i := range fs.cache.shards {
		s := &fs.cache.shards[i]
		s.mu.Lock()
		if len(s.pending) != 0 {
			t.Errorf("shard %d: %d keys still pending", i, len(s.pending))
		}
		for key, j := range s.idx {
			want := s.slots[j].val
			err := inner.View(ctx, func(tx kv.ReadTxn) error {
				v, err := tx.Get([]byte(key))
				if errors.Is(err, kv.ErrNotFound) {
					t.Errorf("cached key %q is not in the engine", key)
					return nil
				}
				if err == nil && !bytes.Equal(v, want) {
					t.Errorf("cached key %q: cache %x, engine %x", key, want, v)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		s.mu.Unlock()
	}
	if n == 0 {
		t.Errorf("cache is empty")
	}
}

func TestCacheServesLookupsWithoutEngine(t *testing.T) {
	ctx := context.Background()
	eng := &countingEngine{Engine: mem.New()}
	defer eng.Close()
	fs, err := New(ctx, eng, Config{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	d, err := fs.Mkdir(ctx, Root, RootIno, "d", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create(ctx, Root, d.Ino, "f", 0o644, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Release(ctx, f.Ino); err != nil {
		t.Fatal(err)
	}
	// Creates installed what they wrote: no engine read is needed.
	views := eng.views.Load()
	for range 3 {
		a, err := fs.Resolve(ctx, Root, "/d/f", true)
		if err != nil || a.Ino != f.Ino {
			t.Fatalf("Resolve = %+v, %v", a, err)
		}
		if _, err := fs.Open(ctx, Root, f.Ino, 0); err != nil {
			t.Fatal(err)
		}
		if err := fs.Release(ctx, f.Ino); err != nil {
			t.Fatal(err)
		}
	}
	if got := eng.views.Load() - views; got != 0 {
		t.Errorf("cached Resolve and Open ran %d engine views, want 0", got)
	}

	// Without exclusive mode nothing is cached.
	eng2 := &countingEngine{Engine: mem.New()}
	defer eng2.Close()
	fs2, err := New(ctx, eng2, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs2.Close()
	if fs2.cache != nil {
		t.Fatal("shared mode has a cache")
	}
	views = eng2.views.Load()
	if _, err := fs2.Resolve(ctx, Root, "/", true); err != nil {
		t.Fatal(err)
	}
	if eng2.views.Load() == views {
		t.Error("shared-mode Resolve did not read the engine")
	}
}

// TestCacheExactUnderRaces runs writers of every kind against readers
// that fill the cache, checking read-after-write and monotonic reads
// while they run, and that the cache equals the engine afterwards. A
// tiny cache makes eviction part of the race.
func TestCacheExactUnderRaces(t *testing.T) {
	for _, entries := range []int{64, 1 << 16} {
		t.Run(fmt.Sprint(entries), func(t *testing.T) { testCacheRaces(t, entries) })
	}
}

func testCacheRaces(t *testing.T, entries int) {
	ctx := context.Background()
	eng := mem.New()
	defer eng.Close()
	fs, err := New(ctx, eng, Config{Exclusive: true, CacheEntries: entries})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	a, _ := fs.Mkdir(ctx, Root, RootIno, "a", 0o755)
	b, _ := fs.Mkdir(ctx, Root, RootIno, "b", 0o755)
	f, err := fs.Create(ctx, Root, a.Ino, "f", 0o644, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	h, err := fs.Create(ctx, Root, a.Ino, "h", 0o644, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.SetAttr(ctx, Root, f.Ino, SetMtime, Attr{Mtime: 0}); err != nil {
		t.Fatal(err)
	}
	const rounds = 300
	var writers, readers sync.WaitGroup
	var stop atomic.Bool
	errs := make(chan error, 16)
	fail := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}
	// Writer of f's mtime, checking it reads its own writes.
	writers.Go(func() {
		for i := int64(1); i <= rounds; i++ {
			if _, err := fs.SetAttr(ctx, Root, f.Ino, SetMtime, Attr{Mtime: i}); err != nil {
				fail("setattr: %v", err)
				return
			}
			got, err := fs.GetAttr(ctx, f.Ino)
			if err != nil || got.Mtime < i {
				fail("after setattr %d: mtime %d, %v", i, got.Mtime, err)
				return
			}
		}
	})
	// Readers: monotonic mtime.
	for range 2 {
		readers.Go(func() {
			last := int64(0)
			for !stop.Load() {
				got, err := fs.GetAttr(ctx, f.Ino)
				if err != nil {
					fail("getattr: %v", err)
					return
				}
				if got.Mtime < last {
					fail("mtime went back from %d to %d", last, got.Mtime)
					return
				}
				last = got.Mtime
			}
		})
	}
	// A file moving between a and b, and files created and removed, while
	// a reader resolves both places: each writer sees its own change.
	writers.Go(func() {
		g, err := fs.Create(ctx, Root, a.Ino, "g", 0o644, 0, true)
		if err != nil {
			fail("create g: %v", err)
			return
		}
		from, to := a.Ino, b.Ino
		for i := range rounds {
			if err := fs.Rename(ctx, Root, from, "g", to, "g", 0); err != nil {
				fail("rename: %v", err)
				return
			}
			from, to = to, from
			where, gone := "/a/g", "/b/g"
			if from == b.Ino {
				where, gone = gone, where
			}
			if got, err := fs.Resolve(ctx, Root, where, true); err != nil || got.Ino != g.Ino {
				fail("after rename %d: resolve %s = %d, %v", i, where, got.Ino, err)
				return
			}
			if _, err := fs.Resolve(ctx, Root, gone, true); err == nil {
				fail("after rename %d: %s still resolves", i, gone)
				return
			}
			name := fmt.Sprintf("t%d", i%7)
			n, err := fs.Create(ctx, Root, b.Ino, name, 0o644, 0, false)
			if err != nil {
				fail("create %s: %v", name, err)
				return
			}
			if err := fs.Release(ctx, n.Ino); err != nil {
				fail("release: %v", err)
				return
			}
			if i%2 == 0 {
				if err := fs.Unlink(ctx, Root, b.Ino, name); err != nil {
					fail("unlink %s: %v", name, err)
					return
				}
				if _, err := fs.Lookup(ctx, Root, b.Ino, name); err == nil {
					fail("lookup of unlinked %s succeeded", name)
					return
				}
			}
		}
		if err := fs.Release(ctx, g.Ino); err != nil {
			fail("release g: %v", err)
		}
	})
	// Chunk records appended while read.
	writers.Go(func() {
		for i := uint32(0); i < rounds/3; i++ {
			id, err := fs.NewSliceID(ctx)
			if err != nil {
				fail("slice id: %v", err)
				return
			}
			w := ChunkWrite{Index: 0, Slice: Slice{ID: id, Size: 1, Len: 1, Pos: i}}
			if _, err := fs.Write(ctx, h.Ino, []ChunkWrite{w}, time.Unix(0, 1)); err != nil {
				fail("write: %v", err)
				return
			}
			got, err := fs.ReadChunk(ctx, h.Ino, 0)
			if err != nil || len(got) != int(i)+1 {
				fail("after write %d: %d records, %v", i, len(got), err)
				return
			}
		}
	})
	readers.Go(func() {
		for !stop.Load() {
			for _, p := range []string{"/a/g", "/b/g", "/a/f", "/b/t1", "/a/h"} {
				_, _ = fs.Resolve(ctx, Root, p, true)
			}
			_, _ = fs.ReadChunk(ctx, h.Ino, 0)
		}
	})
	writers.Wait()
	stop.Store(true)
	readers.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	verifyCache(t, fs)
}

// TestCacheCommitOrder drives the marking protocol directly through the
// interleavings the engines make rare.
func TestCacheCommitOrder(t *testing.T) {
	k := newKeys(1)
	key := k.inode(7)
	c := newLookupCache(k, 1024)
	ws := func(v string) []write { return []write{{key: string(key), val: []byte(v)}} }
	cached := func() string {
		v, ok := c.get(key)
		if !ok {
			return "-"
		}
		return string(v)
	}
	// A commits, then B; B's end runs before A's: neither installs.
	a, b := ws("a"), ws("b")
	c.mark(a)
	c.mark(b)
	c.unmark(b, true)
	c.unmark(a, true)
	if got := cached(); got != "-" {
		t.Errorf("overlapping commits cached %q, want nothing", got)
	}
	// A alone installs its value; an aborted attempt installs nothing.
	a = ws("a")
	c.mark(a)
	c.unmark(a, true)
	if got := cached(); got != "a" {
		t.Errorf("lone commit cached %q, want a", got)
	}
	b = ws("b")
	c.mark(b)
	if got := cached(); got != "-" {
		t.Errorf("pending key served %q", got)
	}
	c.unmark(b, false)
	if got := cached(); got != "-" {
		t.Errorf("aborted attempt cached %q", got)
	}
	// A reader whose snapshot predates a commit does not fill.
	tick := c.clock.Load()
	a = ws("new")
	c.mark(a)
	c.fill(key, []byte("old"), tick)
	if got := cached(); got != "-" {
		t.Errorf("fill of a pending key cached %q", got)
	}
	c.unmark(a, false)
	c.fill(key, []byte("old"), tick)
	if got := cached(); got != "-" {
		t.Errorf("stale fill cached %q", got)
	}
	c.fill(key, []byte("new"), c.clock.Load())
	if got := cached(); got != "new" {
		t.Errorf("fresh fill cached %q, want new", got)
	}
}
