package data

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/kv"
	kvmem "github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/mem"
)

// crashedSession runs a writer over eng and st that commits one file
// (returned with its data) and uploads, but never commits, more than a
// block of another, then dies: its meta and Layer are abandoned without
// Close or Flush. It returns the keys of the uncommitted blocks.
func crashedSession(t *testing.T, eng kv.Engine, st objstore.Store, r *rand.Rand) (meta.Attr, []byte, []string) {
	t.Helper()
	fs, err := meta.New(ctx, eng, meta.Config{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(fs, st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := fs.Create(ctx, meta.Root, meta.RootIno, "kept", 0o644, os.O_RDWR, true)
	if err != nil {
		t.Fatal(err)
	}
	kept := randBytes(r, 5<<20)
	h := l.Open(a.Ino, a)
	mustWrite(t, h, kept, 0)
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := fs.Create(ctx, meta.Root, meta.RootIno, "lost", 0o644, os.O_RDWR, true)
	if err != nil {
		t.Fatal(err)
	}
	before := listKeys(t, st)
	h = l.Open(b.Ino, b)
	mustWrite(t, h, randBytes(r, meta.BlockSize+1000), 0)
	var lost []string
	for deadline := time.Now().Add(10 * time.Second); len(lost) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the full block of the uncommitted write was never uploaded")
		}
		time.Sleep(time.Millisecond)
		for k := range listKeys(t, st) {
			if !before[k] {
				lost = append(lost, k)
			}
		}
	}
	a.Size = uint64(len(kept))
	return a, kept, lost
}

func listKeys(t *testing.T, st objstore.Store) map[string]bool {
	t.Helper()
	infos, err := st.List(ctx, blockfmt.KeyPrefix, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool)
	for _, in := range infos {
		out[in.Key] = true
	}
	return out
}

func checkAll(t *testing.T, fs *meta.FS, l *Layer) []string {
	t.Helper()
	problems, err := fs.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	more, err := l.CheckBlocks(ctx, func(fn func(meta.Slice) error) error { return fs.LiveSlices(ctx, fn) }, true)
	if err != nil {
		t.Fatal(err)
	}
	return append(problems, more...)
}

// TestSweepAfterCrash: blocks a dead writer uploaded but never committed
// are deleted by the first GC after the engine's stale sessions are
// cleaned, and committed data of the same session is kept.
func TestSweepAfterCrash(t *testing.T) {
	eng := kvmem.New()
	defer eng.Close()
	st := mem.New()
	r := rand.New(rand.NewPCG(5, 6))
	kept, keptData, lost := crashedSession(t, eng, st, r)

	fs, err := meta.New(ctx, eng, meta.Config{CleanStaleSessions: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ranges, err := fs.SweepRanges(ctx, 0)
	if err != nil || len(ranges) == 0 {
		t.Fatalf("SweepRanges after a crash = %v, %v; want the dead session's range", ranges, err)
	}
	l := newLayer(t, fs, st, Config{})
	// Before the GC the uncommitted blocks await the sweep: not a problem.
	if p := checkAll(t, fs, l); len(p) != 0 {
		t.Fatalf("fsck before GC: %q", p)
	}
	gs, err := l.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gs.Swept != len(lost) || gs.Ranges != len(ranges) {
		t.Fatalf("GC = %+v, want %d swept blocks of %d ranges", gs, len(lost), len(ranges))
	}
	keys := listKeys(t, st)
	for _, k := range lost {
		if keys[k] {
			t.Errorf("uncommitted block %s survived the sweep", k)
		}
	}
	if ranges, _ := fs.SweepRanges(ctx, 0); len(ranges) != 0 {
		t.Errorf("sweep ranges left after GC: %v", ranges)
	}
	h := l.Open(kept.Ino, kept)
	got := make([]byte, len(keptData))
	if n, err := h.ReadAt(ctx, got, 0); n != len(got) || !bytes.Equal(got, keptData) {
		t.Fatalf("committed file after sweep: %d bytes, %v, equal %v", n, err, bytes.Equal(got, keptData))
	}
	h.Close(ctx)
	// The blocks are now orphans in no sweep range: fsck would say so.
	if p := checkAll(t, fs, l); len(p) != 0 {
		t.Fatalf("fsck after GC: %q", p)
	}
}

// TestSweepSparesLiveSession: a GC running while this session uploads
// blocks of slices it has not committed yet (and with a dead session's
// range to sweep) leaves them alone.
func TestSweepSparesLiveSession(t *testing.T) {
	eng := kvmem.New()
	defer eng.Close()
	st := mem.New()
	r := rand.New(rand.NewPCG(7, 8))
	crashedSession(t, eng, st, r)

	fs, err := meta.New(ctx, eng, meta.Config{CleanStaleSessions: true, IDBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	l := newLayer(t, fs, st, Config{CompactThreshold: -1})

	models := map[meta.Ino][]byte{}
	var hs []*Handle
	write := func(from, to int) {
		for _, h := range hs {
			data := models[h.Ino()]
			// Small pieces: many uploads while the GC runs.
			for off := from; off < min(to, len(data)); off += 1 << 20 {
				mustWrite(t, h, data[off:min(off+1<<20, len(data))], int64(off))
			}
		}
	}
	for i := range 3 {
		a, err := fs.Create(ctx, meta.Root, meta.RootIno, "f"+string(rune('0'+i)), 0o644, os.O_RDWR, true)
		if err != nil {
			t.Fatal(err)
		}
		h := l.Open(a.Ino, a)
		models[a.Ino] = randBytes(r, 2*meta.BlockSize+12345)
		hs = append(hs, h)
	}
	// First a block of each file is uploaded, uncommitted, next to the
	// dead session's blocks; then a sweep runs over their directory.
	write(0, meta.BlockSize)
	for l.Stats().BlocksUploaded < 3 {
		time.Sleep(time.Millisecond)
	}
	gs, err := l.GC(ctx)
	if err != nil || gs.Ranges == 0 || gs.Swept == 0 {
		t.Fatalf("first GC = %+v, %v; want a sweep", gs, err)
	}

	gcCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var passes atomic.Int64
	wg.Go(func() {
		for gcCtx.Err() == nil {
			if _, err := l.GC(gcCtx); err != nil && gcCtx.Err() == nil {
				t.Errorf("GC: %v", err)
				return
			}
			passes.Add(1)
		}
	})
	write(meta.BlockSize, 1<<30)
	for passes.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	stop()
	wg.Wait()
	for _, h := range hs {
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.GC(ctx); err != nil {
		t.Fatal(err)
	}
	l2 := newLayer(t, fs, st, Config{})
	for ino, data := range models {
		a, err := fs.GetAttr(ctx, ino)
		if err != nil {
			t.Fatal(err)
		}
		h := l2.Open(ino, a)
		got := make([]byte, len(data))
		if n, err := h.ReadAt(ctx, got, 0); n != len(data) || !bytes.Equal(got, data) {
			t.Fatalf("ino %d: read %d bytes, %v; equal %v", ino, n, err, bytes.Equal(got, data))
		}
		h.Close(ctx)
	}
	if p := checkAll(t, fs, l2); len(p) != 0 {
		t.Fatalf("fsck: %q", p)
	}
}

// TestCloseDropsUncommitted: a clean Close of the Layer deletes the
// blocks of writes never flushed, since the session's ranges go with the
// meta Close.
func TestCloseDropsUncommitted(t *testing.T) {
	eng := kvmem.New()
	defer eng.Close()
	st := mem.New()
	fs, err := meta.New(ctx, eng, meta.Config{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(fs, st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := fs.Create(ctx, meta.Root, meta.RootIno, "x", 0o644, os.O_RDWR, true)
	if err != nil {
		t.Fatal(err)
	}
	h := l.Open(a.Ino, a)
	mustWrite(t, h, make([]byte, meta.BlockSize+10), 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	if n := st.Len(); n != 0 {
		t.Fatalf("%d block objects left after a clean close", n)
	}
	fs2, err := meta.New(ctx, eng, meta.Config{CleanStaleSessions: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs2.Close()
	if r, err := fs2.SweepRanges(ctx, 0); err != nil || len(r) != 0 {
		t.Fatalf("SweepRanges after a clean close = %v, %v", r, err)
	}
}

// syncStore records the keys Sync was asked for.
type syncStore struct {
	*mem.Store
	mu     sync.Mutex
	synced map[string]int
	calls  int
}

func (s *syncStore) Sync(ctx context.Context, keys []string) error {
	s.mu.Lock()
	s.calls++
	for _, k := range keys {
		s.synced[k]++
	}
	s.mu.Unlock()
	return s.Store.Sync(ctx, keys)
}

func (s *syncStore) take() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.synced
	s.synced = make(map[string]int)
	return out
}

// TestSyncCoversClosedHandles: Handle.Sync makes durable every block
// uploaded for the inode since its last Sync, including those written and
// flushed through handles closed since, and Flush alone syncs nothing.
func TestSyncCoversClosedHandles(t *testing.T) {
	st := &syncStore{Store: mem.New(), synced: make(map[string]int)}
	fm := newFakeMeta()
	l := newLayer(t, fm, st, Config{CompactThreshold: -1})
	a := fm.create(1)
	r := rand.New(rand.NewPCG(1, 9))
	h1 := l.Open(1, a)
	mustWrite(t, h1, randBytes(r, meta.BlockSize+100), 0)
	if err := h1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.take(); len(got) != 0 {
		t.Fatalf("Flush synced %v", got)
	}
	a, _ = fm.GetAttr(ctx, 1)
	h2 := l.Open(1, a)
	mustWrite(t, h2, randBytes(r, 100), 10)
	if err := h2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := st.take()
	want := listKeys(t, st)
	if len(got) != len(want) || len(want) != 3 {
		t.Fatalf("Sync synced %v, want every block %v", got, want)
	}
	for k := range want {
		if got[k] != 1 {
			t.Fatalf("Sync synced %v, want every block %v once", got, want)
		}
	}
	if err := h2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.take(); len(got) != 0 {
		t.Fatalf("second Sync synced %v", got)
	}
	// Compaction output is synced before it is committed.
	if err := l.Compact(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := st.take(); len(got) != 2 {
		t.Fatalf("Compact synced %v, want the 2 new blocks", got)
	}
	h2.Close(ctx)
}
