package data

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"

	kvmem "github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore/file"
)

// TestEndToEnd runs the data path over the real meta service: write,
// overwrite, truncate, compact, delete, GC, and checks that every block
// object is gone at the end.
func TestEndToEnd(t *testing.T) {
	fs, err := meta.New(ctx, kvmem.New(), meta.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	dir := t.TempDir()
	st, err := file.Open(dir, file.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	l := newLayer(t, fs, st, Config{CompactThreshold: 5})
	live := func(fn func(meta.Slice) error) error { return fs.LiveSlices(ctx, fn) }
	r := rand.New(rand.NewPCG(11, 11))

	var inos []meta.Ino
	models := map[meta.Ino][]byte{}
	for i := range 3 {
		name := "f" + string(rune('0'+i))
		a, err := fs.Create(ctx, meta.Root, meta.RootIno, name, 0o644, os.O_RDWR, true)
		if err != nil {
			t.Fatal(err)
		}
		h := l.Open(a.Ino, a)
		data := randBytes(r, 5<<20+i*777)
		mustWrite(t, h, data, 0)
		// Overwrites, each flushed: more records than the threshold.
		for range 7 {
			off := r.IntN(len(data) - 1000)
			p := randBytes(r, r.IntN(1000))
			mustWrite(t, h, p, int64(off))
			copy(data[off:], p)
			if err := h.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := fs.Release(ctx, a.Ino); err != nil {
			t.Fatal(err)
		}
		inos = append(inos, a.Ino)
		models[a.Ino] = data
	}
	// Truncate the second file down and up again.
	ino := inos[1]
	a, err := fs.Open(ctx, meta.Root, ino, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	h := l.Open(ino, a)
	if _, err := fs.SetAttr(ctx, meta.Root, ino, meta.SetSize, meta.Attr{Size: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	l.Truncated(ino, 1<<20)
	if _, err := fs.SetAttr(ctx, meta.Root, ino, meta.SetSize, meta.Attr{Size: 2 << 20}); err != nil {
		t.Fatal(err)
	}
	l.Truncated(ino, 2<<20)
	m := models[ino]
	m = append(m[:1<<20:1<<20], make([]byte, 1<<20)...)
	models[ino] = m
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	fs.Release(ctx, ino)
	l.Close() // let background compactions finish

	// A fresh Layer sees every file as written.
	l2 := newLayer(t, fs, st, Config{})
	for _, ino := range inos {
		a, err := fs.Open(ctx, meta.Root, ino, os.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		h := l2.Open(ino, a)
		if got := readAll(t, h, int64(a.Size), 1<<20); !bytes.Equal(got, models[ino]) {
			t.Fatalf("ino %d: content differs (size %d, want %d)", ino, len(got), len(models[ino]))
		}
		h.Close(ctx)
		fs.Release(ctx, ino)
		if err := l2.Compact(ctx, ino); err != nil {
			t.Fatal(err)
		}
	}
	if problems, err := l2.CheckBlocks(ctx, live, true); err != nil || len(problems) > 0 {
		t.Fatalf("CheckBlocks: %q, %v", problems, err)
	}
	if _, err := l2.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if problems, err := l2.CheckBlocks(ctx, live, true); err != nil || len(problems) > 0 {
		t.Fatalf("CheckBlocks after GC: %q, %v", problems, err)
	}
	for i := range 3 {
		if err := fs.Unlink(ctx, meta.Root, meta.RootIno, "f"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	gs, err := l2.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countBlocks(t, st); n != 0 {
		t.Fatalf("%d block objects left after deleting every file (GC %+v)", n, gs)
	}
}
