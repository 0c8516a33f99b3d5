package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/file"
	"github.com/shoalfs/shoal/internal/objstore/mem"
)

var ctx = context.Background()

func newLayer(t testing.TB, m Meta, s objstore.Store, cfg Config) *Layer {
	t.Helper()
	l, err := New(m, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func mustWrite(t testing.TB, h *Handle, p []byte, off int64) {
	t.Helper()
	if n, err := h.WriteAt(ctx, p, off); err != nil || n != len(p) {
		t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", len(p), off, n, err)
	}
}

// readAll reads [0, size) in pieces of step bytes.
func readAll(t testing.TB, h *Handle, size int64, step int) []byte {
	t.Helper()
	out := make([]byte, size)
	for off := int64(0); off < size; off += int64(step) {
		end := min(off+int64(step), size)
		n, err := h.ReadAt(ctx, out[off:end], off)
		if n != int(end-off) || (err != nil && !(errors.Is(err, io.EOF) && end == size)) {
			t.Fatalf("ReadAt(%d at %d) = %d, %v", end-off, off, n, err)
		}
	}
	return out
}

func TestWriteReadFlushReopen(t *testing.T) {
	fm := newFakeMeta()
	st := mem.New()
	l := newLayer(t, fm, st, Config{})
	attr := fm.create(2)
	h := l.Open(2, attr)
	r := rand.New(rand.NewPCG(1, 1))
	data := randBytes(r, 10<<20+12345)
	mustWrite(t, h, data[:3<<20], 0)
	mustWrite(t, h, data[3<<20:], 3<<20)
	if sz, ok := l.Size(2); !ok || sz != uint64(len(data)) {
		t.Fatalf("Size = %d, %v", sz, ok)
	}
	// Unflushed data is visible through the same and another handle.
	h2 := l.Open(2, attr)
	if got := readAll(t, h2, int64(len(data)), 1<<20); !bytes.Equal(got, data) {
		t.Fatal("read before flush differs")
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if fm.writes != 1 {
		t.Errorf("meta.Write calls = %d, want 1", fm.writes)
	}
	if n := fm.records(2, 0); n != 1 {
		t.Errorf("records = %d, want 1 (one sequential slice)", n)
	}
	// A second Layer (another client) sees everything after close.
	l2 := newLayer(t, fm, st, Config{})
	a2, _ := fm.GetAttr(ctx, 2)
	h3 := l2.Open(2, a2)
	if got := readAll(t, h3, int64(len(data)), 1<<20); !bytes.Equal(got, data) {
		t.Fatal("read in second layer differs")
	}
	buf := make([]byte, 100)
	if n, err := h3.ReadAt(ctx, buf, int64(len(data))-10); n != 10 || err != io.EOF {
		t.Fatalf("ReadAt across EOF = %d, %v", n, err)
	}
	if n, err := h3.ReadAt(ctx, buf, int64(len(data))+10); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt past EOF = %d, %v", n, err)
	}
	if n, err := h3.ReadAt(ctx, nil, 5); n != 0 || err != nil {
		t.Fatalf("empty ReadAt = %d, %v", n, err)
	}
	if n, err := h3.WriteAt(ctx, nil, 5); n != 0 || err != nil {
		t.Fatalf("empty WriteAt = %d, %v", n, err)
	}
	s := l2.Stats()
	if s.BytesRead == 0 || s.CacheMisses == 0 {
		t.Errorf("stats = %+v", s)
	}
	h3.Close(ctx)
	if _, err := h3.ReadAt(ctx, buf, 0); !fserr.Is(fserr.Closed, err) {
		t.Errorf("ReadAt after Close = %v", err)
	}
}

// TestRandomModel checks random writes and reads through two handles
// against a []byte model, with flushes at random points and a reopen in
// a second Layer at the end.
func TestRandomModel(t *testing.T) {
	fm := newFakeMeta()
	st := mem.New()
	l := newLayer(t, fm, st, Config{CompactThreshold: 6, CacheBytes: 8 << 20})
	attr := fm.create(3)
	hs := []*Handle{l.Open(3, attr), l.Open(3, attr)}
	r := rand.New(rand.NewPCG(7, 7))
	const span = meta.ChunkSize + 6<<20
	model := make([]byte, span)
	size := 0
	// Offsets cluster at the start and around the first chunk boundary.
	offset := func() int {
		if r.IntN(3) == 0 {
			return meta.ChunkSize - 3<<20 + r.IntN(6<<20)
		}
		return r.IntN(9 << 20)
	}
	for i := range 300 {
		h := hs[r.IntN(2)]
		switch op := r.IntN(10); {
		case op < 5:
			off := offset()
			n := r.IntN(300 << 10)
			if r.IntN(10) == 0 {
				n = r.IntN(5 << 20)
			}
			n = min(n, span-off)
			p := randBytes(r, n)
			mustWrite(t, h, p, int64(off))
			copy(model[off:], p)
			size = max(size, off+n)
			if r.IntN(3) == 0 { // continue sequentially
				p := randBytes(r, min(r.IntN(1<<20), span-off-n))
				mustWrite(t, h, p, int64(off+n))
				copy(model[off+n:], p)
				size = max(size, off+n+len(p))
			}
		case op < 9:
			off := offset()
			n := r.IntN(2 << 20)
			buf := make([]byte, n)
			got, err := h.ReadAt(ctx, buf, int64(off))
			want := max(0, min(n, size-off))
			if got != want || (err != nil && err != io.EOF) || (got < n && err != io.EOF) {
				t.Fatalf("op %d: ReadAt(%d at %d) = %d, %v; want %d (size %d)", i, n, off, got, err, want, size)
			}
			if !bytes.Equal(buf[:got], model[off:off+got]) {
				t.Fatalf("op %d: ReadAt(%d at %d) differs from the model", i, n, off)
			}
		default:
			if err := h.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, h := range hs {
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	a, _ := fm.GetAttr(ctx, 3)
	if a.Size != uint64(size) {
		t.Fatalf("committed size %d, want %d", a.Size, size)
	}
	l2 := newLayer(t, fm, st, Config{})
	h := l2.Open(3, a)
	if got := readAll(t, h, int64(size), 4<<20); !bytes.Equal(got, model[:size]) {
		for i := range got {
			if got[i] != model[i] {
				t.Fatalf("reopened content differs first at %d", i)
			}
		}
	}
	h.Close(ctx)
	problems, err := l2.CheckBlocks(ctx, fm.liveSlices, true)
	if err != nil {
		t.Fatal(err)
	}
	// Blocks of slices replaced by compaction are freed but not yet
	// collected; CheckBlocks accepts them.
	if len(problems) > 0 {
		t.Fatalf("CheckBlocks: %q", problems)
	}
}

func TestSparseAndHuge(t *testing.T) {
	fm := newFakeMeta()
	l := newLayer(t, fm, mem.New(), Config{})
	h := l.Open(4, fm.create(4))
	const far = 5 << 30
	mustWrite(t, h, []byte("tail"), far)
	mustWrite(t, h, []byte("head"), 10)
	check := func(h *Handle) {
		t.Helper()
		buf := make([]byte, 20)
		if n, err := h.ReadAt(ctx, buf, 0); n != 20 || err != nil || string(buf[10:14]) != "head" || !bytes.Equal(buf[:10], make([]byte, 10)) {
			t.Fatalf("head read %d %v %q", n, err, buf)
		}
		buf = make([]byte, 1<<20)
		if n, err := h.ReadAt(ctx, buf, far-1<<20+2); n != 1<<20 || err != nil || string(buf[len(buf)-2:]) != "ta" || !bytes.Equal(buf[:len(buf)-2], make([]byte, len(buf)-2)) {
			t.Fatalf("hole read %d %v", n, err)
		}
	}
	check(h)
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check(h)
	h.Close(ctx)
	if a, _ := fm.GetAttr(ctx, 4); a.Size != far+4 {
		t.Fatalf("size %d", a.Size)
	}

	h = l.Open(5, fm.create(5))
	defer h.Close(ctx)
	mustWrite(t, h, []byte("end"), meta.MaxFileSize-3)
	if _, err := h.WriteAt(ctx, []byte("x"), meta.MaxFileSize); !fserr.Is(fserr.TooBig, err) {
		t.Fatalf("write past MaxFileSize = %v", err)
	}
	if _, err := h.WriteAt(ctx, []byte("x"), -1); !fserr.Is(fserr.Invalid, err) {
		t.Fatalf("negative offset = %v", err)
	}
	buf := make([]byte, 10)
	if n, err := h.ReadAt(ctx, buf, meta.MaxFileSize-3); n != 3 || err != io.EOF || string(buf[:3]) != "end" {
		t.Fatalf("read at MaxFileSize-3 = %d %v %q", n, err, buf[:n])
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTruncate(t *testing.T) {
	fm := newFakeMeta()
	l := newLayer(t, fm, mem.New(), Config{})
	attr := fm.create(6)
	h := l.Open(6, attr)
	defer h.Close(ctx)
	r := rand.New(rand.NewPCG(3, 3))
	data := randBytes(r, 6<<20)
	mustWrite(t, h, data, 0)
	truncate := func(size uint64) {
		t.Helper()
		if _, err := fm.SetAttr(ctx, meta.Root, 6, meta.SetSize, meta.Attr{Size: size}); err != nil {
			t.Fatal(err)
		}
		l.Truncated(6, size)
	}
	expect := func(want []byte) {
		t.Helper()
		if sz, _ := l.Size(6); sz != uint64(len(want)) {
			t.Fatalf("size %d, want %d", sz, len(want))
		}
		if got := readAll(t, h, int64(len(want)), 1<<20); !bytes.Equal(got, want) {
			t.Fatal("content differs")
		}
	}
	// Truncate with the data still pending, then flushed.
	truncate(5 << 20)
	expect(data[:5<<20])
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	expect(data[:5<<20])
	truncate(1000)
	expect(data[:1000])
	truncate(3 << 20) // up: the tail reads as zeros
	want := append(bytes.Clone(data[:1000]), make([]byte, 3<<20-1000)...)
	expect(want)
	mustWrite(t, h, []byte("xyz"), 2000)
	copy(want[2000:], "xyz")
	expect(want)
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	l2 := newLayer(t, fm, mem.New(), Config{})
	_ = l2
	expect(want)
}

// flipByte corrupts one byte of the block object behind key.
func flipByte(t *testing.T, dir, key string, off int64) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(key))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCorruption(t *testing.T) {
	dir := t.TempDir()
	st, err := file.Open(dir, file.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	fm := newFakeMeta()
	l := newLayer(t, fm, st, Config{})
	h := l.Open(7, fm.create(7))
	data := randBytes(rand.New(rand.NewPCG(4, 4)), 1<<20)
	mustWrite(t, h, data, 0)
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	infos, _ := st.List(ctx, "", "", 0)
	if len(infos) != 1 {
		t.Fatalf("objects %v", infos)
	}
	key := infos[0].Key
	flipByte(t, dir, key, 200<<10+5)

	l2 := newLayer(t, fm, st, Config{ReadaheadMax: -1})
	a, _ := fm.GetAttr(ctx, 7)
	h2 := l2.Open(7, a)
	defer h2.Close(ctx)
	buf := make([]byte, 4096)
	// A random read far from the damage only checks its own segments.
	if _, err := h2.ReadAt(ctx, buf, 700<<10); err != nil || !bytes.Equal(buf, data[700<<10:700<<10+4096]) {
		t.Fatalf("read of an intact segment: %v", err)
	}
	_, err = h2.ReadAt(ctx, buf, 200<<10)
	if !fserr.Is(fserr.Corrupt, err) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "offset 196608") {
		t.Fatalf("read of corrupt segment = %v", err)
	}
	// Whole-block reads report it too.
	big := make([]byte, 1<<20)
	if _, err := h2.ReadAt(ctx, big, 0); !fserr.Is(fserr.Corrupt, err) {
		t.Fatalf("whole read = %v", err)
	}
	problems, err := l2.CheckBlocks(ctx, fm.liveSlices, true)
	if err != nil || len(problems) != 1 || !strings.HasPrefix(problems[0], "corrupt block "+key) {
		t.Fatalf("CheckBlocks = %q, %v", problems, err)
	}
	// A damaged trailer is caught as well.
	flipByte(t, dir, key, 200<<10+5) // repair
	flipByte(t, dir, key, 1<<20+4*3+1)
	l3 := newLayer(t, fm, st, Config{})
	h3 := l3.Open(7, a)
	defer h3.Close(ctx)
	if _, err := h3.ReadAt(ctx, buf, 3*blockfmt.SegSize+10); !fserr.Is(fserr.Corrupt, err) {
		t.Fatalf("read with corrupt trailer = %v", err)
	}
}

func countBlocks(t *testing.T, s objstore.Store) int {
	t.Helper()
	l, err := s.List(ctx, blockfmt.KeyPrefix, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(l)
}

func TestGCAndCompaction(t *testing.T) {
	fm := newFakeMeta()
	st := mem.New()
	l := newLayer(t, fm, st, Config{CompactThreshold: -1})
	r := rand.New(rand.NewPCG(5, 5))
	model := make([]byte, 9<<20)
	attr := fm.create(8)
	h := l.Open(8, attr)
	for i := range 30 {
		off := r.IntN(8 << 20)
		p := randBytes(r, r.IntN(1<<20))
		if i == 0 {
			p = randBytes(r, 9<<20)
			off = 0
		}
		mustWrite(t, h, p, int64(off))
		copy(model[off:], p)
		if err := h.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := fm.records(8, 0); n != 30 {
		t.Fatalf("records before compaction = %d", n)
	}
	if err := l.Compact(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if n := fm.records(8, 0); n != 1 {
		t.Fatalf("records after compaction = %d", n)
	}
	if got := readAll(t, h, int64(len(model)), 1<<20); !bytes.Equal(got, model) {
		t.Fatal("content changed by compaction")
	}
	before := countBlocks(t, st)
	gs, err := l.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gs.Slices != 30 || countBlocks(t, st) != 3 {
		t.Fatalf("GC %+v: blocks %d -> %d", gs, before, countBlocks(t, st))
	}
	h.Close(ctx)
	l2 := newLayer(t, fm, st, Config{})
	a, _ := fm.GetAttr(ctx, 8)
	h2 := l2.Open(8, a)
	if got := readAll(t, h2, int64(len(model)), 1<<20); !bytes.Equal(got, model) {
		t.Fatal("content after GC differs")
	}
	h2.Close(ctx)

	// Background compaction after commits.
	l3 := newLayer(t, fm, st, Config{CompactThreshold: 4})
	h3 := l3.Open(9, fm.create(9))
	// Five commits pass the threshold on the last one, so no commit can
	// race with the compaction and make it conflict.
	for i := range 5 {
		mustWrite(t, h3, []byte{byte(i)}, int64(i*100000))
		if err := h3.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	h3.Close(ctx)
	l3.Close() // waits for background compaction
	if n := fm.records(9, 0); n != 1 || l3.Stats().Compactions != 1 {
		t.Fatalf("records after background compaction = %d, stats %+v", n, l3.Stats())
	}
	l4 := newLayer(t, fm, st, Config{})
	a9, _ := fm.GetAttr(ctx, 9)
	h4 := l4.Open(9, a9)
	got := readAll(t, h4, int64(a9.Size), 1<<20)
	for i := range 5 {
		if got[i*100000] != byte(i) {
			t.Fatalf("byte %d = %d", i*100000, got[i*100000])
		}
	}
	h4.Close(ctx)

	fm.remove(8)
	fm.remove(9)
	gs, err = l4.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countBlocks(t, st); n != 0 || gs.Inodes != 2 {
		t.Fatalf("after deleting everything: %d blocks, %+v", n, gs)
	}
	if problems, err := l4.CheckBlocks(ctx, fm.liveSlices, true); err != nil || len(problems) != 0 {
		t.Fatalf("CheckBlocks = %q, %v", problems, err)
	}
}

func TestCheckBlocks(t *testing.T) {
	fm := newFakeMeta()
	st := mem.New()
	l := newLayer(t, fm, st, Config{})
	h := l.Open(10, fm.create(10))
	mustWrite(t, h, make([]byte, 5<<20), 0)
	h.Close(ctx)
	st.Put(ctx, blockfmt.Key(999, 0, 10), make([]byte, 14))
	st.Put(ctx, "chunks/junk", nil)
	st.Delete(ctx, blockfmt.Key(1, 1, 1<<20))
	problems, err := l.CheckBlocks(ctx, fm.liveSlices, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"missing block chunks/0/0/1_1_1048576 of slice 1",
		"orphan block chunks/0/0/999_0_10",
		"unexpected object chunks/junk",
	}
	if fmt.Sprint(problems) != fmt.Sprint(want) {
		t.Fatalf("CheckBlocks = %q", problems)
	}
}

func TestConcurrentFiles(t *testing.T) {
	fm := newFakeMeta()
	st := mem.New()
	l := newLayer(t, fm, st, Config{BufferBytes: 16 << 20})
	var wg sync.WaitGroup
	datas := make([][]byte, 8)
	for i := range 8 {
		ino := meta.Ino(100 + i)
		attr := fm.create(ino)
		datas[i] = randBytes(rand.New(rand.NewPCG(uint64(i), 9)), 3<<20+i*1000)
		wg.Go(func() {
			h := l.Open(ino, attr)
			for off := 0; off < len(datas[i]); off += 100 << 10 {
				if _, err := h.WriteAt(ctx, datas[i][off:min(off+100<<10, len(datas[i]))], int64(off)); err != nil {
					t.Error(err)
					return
				}
			}
			if err := h.Close(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range 8 {
		ino := meta.Ino(100 + i)
		a, _ := fm.GetAttr(ctx, ino)
		h := l.Open(ino, a)
		if got := readAll(t, h, int64(a.Size), 1<<20); !bytes.Equal(got, datas[i]) {
			t.Fatalf("file %d differs", i)
		}
		h.Close(ctx)
	}
}

// slowStore delays Puts and records the largest buffered byte count seen.
type slowStore struct {
	objstore.Store
	delay time.Duration
	fail  atomic.Bool
}

func (s *slowStore) Put(ctx context.Context, key string, data []byte) error {
	time.Sleep(s.delay)
	if s.fail.Load() {
		return fserr.E("slow.Put", key, fserr.IO)
	}
	return s.Store.Put(ctx, key, data)
}

func TestBufferBound(t *testing.T) {
	fm := newFakeMeta()
	ss := &slowStore{Store: mem.New(), delay: 5 * time.Millisecond}
	const limit = 8 << 20
	l := newLayer(t, fm, ss, Config{BufferBytes: limit, UploadConcurrency: 2})
	var peak atomic.Int64
	stop := make(chan struct{})
	var mon sync.WaitGroup
	mon.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if b := l.Stats().BufferedBytes; b > peak.Load() {
				peak.Store(b)
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	// Many files written without flushing: spilling keeps writers going.
	var wg sync.WaitGroup
	hs := make([]*Handle, 40)
	for i := range hs {
		hs[i] = l.Open(meta.Ino(200+i), fm.create(meta.Ino(200+i)))
	}
	for i, h := range hs {
		wg.Go(func() {
			p := make([]byte, 64<<10)
			for j := range 12 {
				p[0] = byte(i + j)
				if _, err := h.WriteAt(ctx, p, int64(j)*int64(len(p))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, h := range hs {
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	mon.Wait()
	// A writer may hold one piece (up to a block) beyond the limit.
	if p := peak.Load(); p > limit+meta.BlockSize {
		t.Fatalf("buffered peak %d over limit %d", p, limit)
	}
	if b := l.Stats().BufferedBytes; b != 0 {
		t.Fatalf("buffered after close = %d", b)
	}
	for i := range hs {
		a, _ := fm.GetAttr(ctx, meta.Ino(200+i))
		h := l.Open(meta.Ino(200+i), a)
		got := readAll(t, h, int64(a.Size), 1<<20)
		if len(got) != 12*64<<10 || got[11*64<<10] != byte(i+11) {
			t.Fatalf("file %d wrong after spills", i)
		}
		h.Close(ctx)
	}
}

func TestUploadFailure(t *testing.T) {
	fm := newFakeMeta()
	ss := &slowStore{Store: mem.New()}
	l := newLayer(t, fm, ss, Config{})
	h := l.Open(11, fm.create(11))
	ss.fail.Store(true)
	mustWrite(t, h, make([]byte, 5<<20), 0)
	if err := h.Flush(ctx); !fserr.Is(fserr.IO, err) {
		t.Fatalf("Flush after failed upload = %v", err)
	}
	if fm.writes != 0 {
		t.Fatal("failed data was committed")
	}
	ss.fail.Store(false)
	mustWrite(t, h, []byte("ok"), 0)
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _ := fm.GetAttr(ctx, 11); a.Size != 2 {
		t.Fatalf("size %d", a.Size)
	}
}

// vanishingStore lists an object that is gone when read, as when a
// server's garbage collection deletes a block during a check.
type vanishingStore struct {
	objstore.Store
	gone string
}

func (s *vanishingStore) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if key == s.gone {
		return nil, objstore.ErrNotFound
	}
	return s.Store.Get(ctx, key, off, n)
}

// CheckBlocks must not report blocks that garbage collection removed while
// it ran (their slice is no longer referenced at the end of the check), but
// must report the same loss for a slice that is still referenced.
func TestCheckBlocksBesideGC(t *testing.T) {
	fm := newFakeMeta()
	st := mem.New()
	l := newLayer(t, fm, st, Config{})
	h := l.Open(9, fm.create(9))
	if _, err := h.WriteAt(ctx, bytes.Repeat([]byte{7}, 1000), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	infos, _ := st.List(ctx, "", "", 0)
	if len(infos) != 1 {
		t.Fatalf("objects %v", infos)
	}
	vs := &vanishingStore{Store: st, gone: infos[0].Key}
	l2 := newLayer(t, fm, vs, Config{})

	collected := 0
	live := func(fn func(meta.Slice) error) error {
		collected++
		if collected > 1 {
			return nil // the slice was freed and forgotten meanwhile
		}
		return fm.liveSlices(fn)
	}
	if problems, err := l2.CheckBlocks(ctx, live, true); err != nil || len(problems) != 0 {
		t.Fatalf("block collected during the check reported: %v %v", problems, err)
	}
	problems, err := l2.CheckBlocks(ctx, fm.liveSlices, true)
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0], "not found") {
		t.Fatalf("a referenced block that cannot be read must be reported: %v %v", problems, err)
	}
}

// TestCacheStats: a file larger than the cache, read twice by a second
// Layer, misses, evicts and (reading a small range again) hits; the cache
// never holds more than its size.
func TestCacheStats(t *testing.T) {
	fm := newFakeMeta()
	st := mem.New()
	w := newLayer(t, fm, st, Config{})
	attr := fm.create(2)
	h := w.Open(2, attr)
	data := randBytes(rand.New(rand.NewPCG(2, 2)), 12<<20)
	mustWrite(t, h, data, 0)
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	const limit = 4 << 20
	l := newLayer(t, fm, st, Config{CacheBytes: limit, ReadaheadMax: -1})
	a, _ := fm.GetAttr(ctx, 2)
	r := l.Open(2, a)
	defer r.Close(ctx)
	for range 2 {
		if got := readAll(t, r, int64(len(data)), 1<<20); !bytes.Equal(got, data) {
			t.Fatal("read differs")
		}
	}
	s := l.Stats()
	if s.CacheMisses == 0 || s.CacheEvictions == 0 || s.CacheEvictedBytes < int64(len(data)) {
		t.Errorf("after reading %d bytes twice through a %d-byte cache: %+v", len(data), limit, s)
	}
	if s.CacheBytesInUse == 0 || s.CacheBytesInUse > limit || s.CacheLimitBytes != limit {
		t.Errorf("cache bytes %d (limit %d, reported %d)", s.CacheBytesInUse, limit, s.CacheLimitBytes)
	}
	hits := s.CacheHits
	buf := make([]byte, 4096)
	for range 2 {
		if _, err := r.ReadAt(ctx, buf, int64(len(data))-8192); err != nil {
			t.Fatal(err)
		}
	}
	if s2 := l.Stats(); s2.CacheHits <= hits || s2.CacheEvictions < s.CacheEvictions {
		t.Errorf("re-reading a cached range: hits %d -> %d", hits, s2.CacheHits)
	}
	if off := newLayer(t, fm, st, Config{CacheBytes: -1}).Stats(); off.CacheLimitBytes != 0 {
		t.Errorf("disabled cache reports limit %d", off.CacheLimitBytes)
	}
}
