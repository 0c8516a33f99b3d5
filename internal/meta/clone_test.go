package meta_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/meta"
)

// seg is a run of visible file data: bytes [start, end) read slice id
// from offset off (id 0: zeros).
type seg struct {
	start, end uint64
	id, off    uint64
}

// visible paints a file's chunk records, oldest first, into the runs a
// reader sees over [0, size), merged where contiguous.
func visible(t *testing.T, f *meta.FS, ino meta.Ino) []seg {
	t.Helper()
	ctx := context.Background()
	a, err := f.GetAttr(ctx, ino)
	if err != nil {
		t.Fatal(err)
	}
	out := []seg{{0, a.Size, 0, 0}}
	paint := func(s seg) {
		var next []seg
		for _, o := range out {
			if o.end <= s.start || o.start >= s.end {
				next = append(next, o)
				continue
			}
			if o.start < s.start {
				next = append(next, seg{o.start, s.start, o.id, o.off})
			}
			if o.end > s.end {
				next = append(next, seg{s.end, o.end, o.id, o.off + (s.end - o.start)})
			}
		}
		next = append(next, s)
		slices.SortFunc(next, func(x, y seg) int { return int(int64(x.start) - int64(y.start)) })
		out = next
	}
	for idx := uint64(0); idx*meta.ChunkSize < a.Size; idx++ {
		recs, err := f.ReadChunk(ctx, ino, uint32(idx))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			s := idx*meta.ChunkSize + uint64(r.Pos)
			e := min(s+uint64(r.Len), a.Size)
			if s >= e {
				continue
			}
			off := uint64(r.Off)
			if r.ID == 0 {
				off = 0
			}
			paint(seg{s, e, r.ID, off})
		}
	}
	return normalize(out)
}

func normalize(in []seg) []seg {
	var out []seg
	for _, s := range in {
		if s.id == 0 {
			s.off = 0
		}
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.end == s.start && p.id == s.id && (s.id == 0 || p.off+(p.end-p.start) == s.off) {
				p.end = s.end
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// window clips runs to [a, b) and shifts them to start at to.
func window(in []seg, a, b, to uint64) []seg {
	var out []seg
	for _, s := range in {
		st, en := max(s.start, a), min(s.end, b)
		if st >= en {
			continue
		}
		off := s.off + (st - s.start)
		out = append(out, seg{st - a + to, en - a + to, s.id, off})
	}
	return normalize(out)
}

// writeFile makes a file with overlapping slices over chunks, with
// holes, returning it.
func writeFile(t *testing.T, f *meta.FS, name string, writes [][3]uint64) meta.Attr {
	t.Helper()
	ctx := context.Background()
	a, err := f.Mknod(ctx, meta.Root, meta.RootIno, name, meta.TypeRegular, 0o644, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range writes { // {absolute position, length, offset in slice}
		id, err := f.NewSliceID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		size := uint32(w[1] + w[2])
		var cw []meta.ChunkWrite
		pos, n, off := w[0], w[1], w[2]
		for n > 0 {
			l := min(n, meta.ChunkSize-pos%meta.ChunkSize)
			cw = append(cw, meta.ChunkWrite{Index: uint32(pos / meta.ChunkSize), Slice: meta.Slice{ID: id, Size: size, Off: uint32(off), Len: uint32(l), Pos: uint32(pos % meta.ChunkSize)}})
			pos, n, off = pos+l, n-l, off+l
		}
		if _, err := f.Write(ctx, a.Ino, cw, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	a, _ = f.GetAttr(ctx, a.Ino)
	return a
}

const mib = 1 << 20

func TestCloneChunks(t *testing.T) {
	ctx := context.Background()
	for _, excl := range []bool{false, true} {
		f := newTestFS(t, excl)
		// 20 chunks: past one transaction's batch; overlaps, a record
		// crossing chunk 0/1, a truncate hole, a sparse middle.
		src := writeFile(t, f, "src", [][3]uint64{
			{0, 10 * mib, 0},
			{5 * mib, 70 * mib, 3},
			{2 * mib, 1 * mib, 7},
			{17*meta.ChunkSize + 5, 4 * mib, 0},
			{19*meta.ChunkSize + 100, 30 * mib, 0},
		})
		if _, err := f.SetAttr(ctx, meta.Root, src.Ino, meta.SetSize, meta.Attr{Size: 19*meta.ChunkSize + 20*mib}); err != nil {
			t.Fatal(err)
		}
		src, _ = f.GetAttr(ctx, src.Ino)
		want := visible(t, f, src.Ino)

		dst := writeFile(t, f, "dst", [][3]uint64{{0, 3 * mib, 0}})
		got, err := f.CloneChunks(ctx, meta.Root, src.Ino, dst.Ino)
		if err != nil {
			t.Fatal(err)
		}
		if got.Size != src.Size {
			t.Fatalf("size %d, want %d", got.Size, src.Size)
		}
		if v := visible(t, f, dst.Ino); !slices.Equal(v, want) {
			t.Fatalf("clone differs:\n got %v\nwant %v", v, want)
		}
		checkClean(t, f)

		// Concatenate: the clone at 0, then a range of src after it.
		cat := writeFile(t, f, "cat", nil)
		if _, err := f.AppendChunks(ctx, meta.Root, cat.Ino, dst.Ino, 0); err != nil {
			t.Fatal(err)
		}
		r0, r1 := uint64(4*mib+3), uint64(70*mib+11)
		if _, err := f.CopyRange(ctx, meta.Root, src.Ino, r0, cat.Ino, src.Size, r1-r0); err != nil {
			t.Fatal(err)
		}
		wantCat := normalize(append(window(want, 0, src.Size, 0), window(want, r0, r1, src.Size)...))
		if v := visible(t, f, cat.Ino); !slices.Equal(v, wantCat) {
			t.Fatalf("concatenation differs:\n got %v\nwant %v", v, wantCat)
		}
		// Over existing data: unwritten parts of the source read as zeros.
		over := writeFile(t, f, "over", [][3]uint64{{0, 80 * mib, 0}})
		ov := visible(t, f, over.Ino)
		if _, err := f.CopyRange(ctx, meta.Root, src.Ino, 17*meta.ChunkSize, over.Ino, 1*mib, 10*mib); err != nil {
			t.Fatal(err)
		}
		wantOver := normalize(append(append(window(ov, 0, 1*mib, 0), window(want, 17*meta.ChunkSize, 17*meta.ChunkSize+10*mib, 1*mib)...), window(ov, 11*mib, 80*mib, 11*mib)...))
		if v := visible(t, f, over.Ino); !slices.Equal(v, wantOver) {
			t.Fatalf("copy over data differs:\n got %v\nwant %v", v, wantOver)
		}
		checkClean(t, f)

		// Errors: beyond the source, same file, no permission.
		if _, err := f.CopyRange(ctx, meta.Root, src.Ino, src.Size-1, cat.Ino, 0, 2); err == nil {
			t.Fatal("copy beyond the source's end succeeded")
		}
		if _, err := f.CloneChunks(ctx, meta.Root, src.Ino, src.Ino); err == nil {
			t.Fatal("clone onto itself succeeded")
		}
		if _, err := f.CloneChunks(ctx, meta.Identity{Uid: 1000, Gid: 1000}, src.Ino, cat.Ino); err == nil {
			t.Fatal("clone into another's file succeeded")
		}

		// Every reference is accounted: dropping all the files frees every slice.
		for _, n := range []string{"src", "dst", "cat", "over"} {
			if err := f.Unlink(ctx, meta.Root, meta.RootIno, n); err != nil {
				t.Fatal(err)
			}
			checkClean(t, f)
		}
		for {
			n, err := f.Reclaim(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		checkClean(t, f)
		freed, err := f.FreedSlices(ctx, 0)
		if err != nil || len(freed) != 7 {
			t.Fatalf("freed %v %v, want the 7 slices written", freed, err)
		}
		st, _ := f.StatFS(ctx)
		if st.UsedBytes != 0 {
			t.Fatalf("usage %d bytes after deleting everything", st.UsedBytes)
		}
	}
}
