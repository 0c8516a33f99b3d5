package data

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore/file"
)

// The benchmarks run the data path in-process over Badger (fsync on every
// commit) and the file store (blocks fsynced only by Sync, as Linux
// fsyncs data only on fsync) in a temp dir; SmallFiles/WriteFsync calls
// Sync on every file. The raw disk figure of the same directory is
// printed beside them:
//
//	go test -run '^$' -bench . -benchtime 2x ./internal/data/
const (
	benchFileSize = 256 << 20
	benchIO       = 1 << 20
	benchSmall    = 128 << 10
	benchSmallN   = 500
)

type benchEnv struct {
	fs    *meta.FS
	store *file.Store
	dir   string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	dir := b.TempDir()
	eng, err := badger.Open(filepath.Join(dir, "meta"), badger.Options{SyncWrites: true})
	if err != nil {
		b.Fatal(err)
	}
	fs, err := meta.New(ctx, eng, meta.Config{})
	if err != nil {
		b.Fatal(err)
	}
	st, err := file.Open(filepath.Join(dir, "blocks"), file.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fs.Close(); eng.Close() })
	return &benchEnv{fs: fs, store: st, dir: dir}
}

func (e *benchEnv) create(b *testing.B, name string) meta.Attr {
	a, err := e.fs.Create(ctx, meta.Root, meta.RootIno, name, 0o644, os.O_RDWR, false)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

func writeFile(b *testing.B, l *Layer, a meta.Attr, size int, buf []byte) {
	writeFileSync(b, l, a, size, buf, false)
}

func writeFileSync(b *testing.B, l *Layer, a meta.Attr, size int, buf []byte, fsync bool) {
	h := l.Open(a.Ino, a)
	for off := 0; off < size; off += len(buf) {
		if _, err := h.WriteAt(ctx, buf, int64(off)); err != nil {
			b.Fatal(err)
		}
	}
	if fsync {
		if err := h.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := h.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

func readFile(b *testing.B, l *Layer, a meta.Attr, buf []byte) {
	h := l.Open(a.Ino, a)
	for off := int64(0); off < int64(a.Size); off += int64(len(buf)) {
		if _, err := h.ReadAt(ctx, buf, off); err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
	h.Close(ctx)
}

func BenchmarkSeqWrite(b *testing.B) {
	e := newBenchEnv(b)
	l := newLayer(b, e.fs, e.store, Config{})
	buf := make([]byte, benchIO)
	b.SetBytes(benchFileSize)
	for i := 0; b.Loop(); i++ {
		writeFile(b, l, e.create(b, fmt.Sprint("w", i)), benchFileSize, buf)
	}
}

func BenchmarkSeqRead(b *testing.B) {
	e := newBenchEnv(b)
	l := newLayer(b, e.fs, e.store, Config{})
	writeFile(b, l, e.create(b, "r"), benchFileSize, make([]byte, benchIO))
	a, _ := e.fs.Lookup(ctx, meta.Root, meta.RootIno, "r")
	buf := make([]byte, benchIO)
	b.SetBytes(benchFileSize)
	for b.Loop() {
		// A new Layer each time: a cold block cache (the OS page cache
		// stays warm, as it does for the raw figure).
		l := newLayer(b, e.fs, e.store, Config{})
		readFile(b, l, a, buf)
		l.Close()
	}
}

func BenchmarkSmallFiles(b *testing.B) {
	e := newBenchEnv(b)
	l := newLayer(b, e.fs, e.store, Config{})
	buf := make([]byte, benchSmall)
	var attrs []meta.Attr
	b.Run("Write", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			for j := range benchSmallN {
				a := e.create(b, fmt.Sprint("s", i, "_", j))
				writeFile(b, l, a, benchSmall, buf)
				a.Size = benchSmall
				attrs = append(attrs, a)
			}
		}
		b.ReportMetric(float64(benchSmallN*b.N)/b.Elapsed().Seconds(), "files/s")
	})
	b.Run("WriteFsync", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			for j := range benchSmallN {
				a := e.create(b, fmt.Sprint("y", i, "_", j))
				writeFileSync(b, l, a, benchSmall, buf, true)
			}
		}
		b.ReportMetric(float64(benchSmallN*b.N)/b.Elapsed().Seconds(), "files/s")
	})
	b.Run("Read", func(b *testing.B) {
		for b.Loop() {
			l := newLayer(b, e.fs, e.store, Config{})
			for _, a := range attrs[:benchSmallN] {
				readFile(b, l, a, buf)
			}
			l.Close()
		}
		b.ReportMetric(float64(benchSmallN*b.N)/b.Elapsed().Seconds(), "files/s")
	})
}

// BenchmarkRawDisk is the physical limit beside the figures above: the
// same bytes written with os in 4 MiB pieces and fsynced, then read back.
func BenchmarkRawDisk(b *testing.B) {
	dir := b.TempDir()
	buf := make([]byte, 4<<20)
	p := filepath.Join(dir, "raw")
	b.Run("Write", func(b *testing.B) {
		b.SetBytes(benchFileSize)
		for b.Loop() {
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			for off := 0; off < benchFileSize; off += len(buf) {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("Read", func(b *testing.B) {
		b.SetBytes(benchFileSize)
		for b.Loop() {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := f.Read(buf[:benchIO]); err == io.EOF {
					break
				}
			}
			f.Close()
		}
	})
}

// BenchmarkByteReads reads a warm 128 KiB file one byte per ReadAt, as
// fstest.TestFS and byte-wise readers do: the cost of planning a read.
func BenchmarkByteReads(b *testing.B) {
	e := newBenchEnv(b)
	l := newLayer(b, e.fs, e.store, Config{})
	a := e.create(b, "bytes")
	writeFile(b, l, a, benchSmall, make([]byte, benchSmall))
	a.Size = benchSmall
	h := l.Open(a.Ino, a)
	defer h.Close(ctx)
	var p [1]byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := h.ReadAt(ctx, p[:], int64(i%benchSmall)); err != nil {
			b.Fatal(err)
		}
	}
}
