package smallfiles_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/file"
	"github.com/shoalfs/shoal/internal/objstore/kvstore"
	"github.com/shoalfs/shoal/internal/objstore/tiered"
)

// Both stores live in a temp dir and neither syncs at Put; blocks reach
// the disk through Sync, as in internal/data's benchmark, whose metadata
// engine fsyncs every commit.
const (
	benchSmall     = 128 << 10
	benchSmallN    = 500
	benchThreshold = 256 << 10
)

func openFile(b *testing.B, dir string) *file.Store {
	st, err := file.Open(filepath.Join(dir, "blocks"), file.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func openBadger(b *testing.B, dir string, syncWrites bool) *badger.Engine {
	eng, err := badger.Open(dir, badger.Options{SyncWrites: syncWrites})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	return eng
}

// BenchmarkSmallFiles replicates internal/data's BenchmarkSmallFiles
// end to end over each store, with the metadata engine fsyncing every
// commit (SyncMeta, as internal/data's benchmark runs) and not (NoSyncMeta,
// OpenLocal's default). TieredShared keeps the small blocks in the
// metadata engine itself, so its SyncWrites also covers every block Put.
func BenchmarkSmallFiles(b *testing.B) {
	type env struct {
		eng   kv.Engine
		store objstore.Store
	}
	type setup struct {
		name string
		open func(b *testing.B) env
	}
	var setups []setup
	for _, syncMeta := range []bool{true, false} {
		mode := "SyncMeta"
		if !syncMeta {
			mode = "NoSyncMeta"
		}
		setups = append(setups,
			setup{mode + "/File", func(b *testing.B) env {
				dir := b.TempDir()
				return env{openBadger(b, filepath.Join(dir, "meta"), syncMeta), openFile(b, dir)}
			}},
			setup{mode + "/Tiered", func(b *testing.B) env {
				dir := b.TempDir()
				small := kvstore.New(openBadger(b, filepath.Join(dir, "kv"), false), []byte("B"), kvstore.Options{})
				return env{openBadger(b, filepath.Join(dir, "meta"), syncMeta), tiered.New(small, openFile(b, dir), benchThreshold)}
			}},
			setup{mode + "/TieredShared", func(b *testing.B) env {
				dir := b.TempDir()
				eng := openBadger(b, filepath.Join(dir, "meta"), syncMeta)
				// "\xffB" sorts after every metadata key ('F' + fs id...).
				small := kvstore.New(eng, []byte("\xffB"), kvstore.Options{})
				return env{eng, tiered.New(small, openFile(b, dir), benchThreshold)}
			}},
		)
	}
	ctx := context.Background()
	for _, sc := range setups {
		b.Run(sc.name, func(b *testing.B) {
			e := sc.open(b)
			fs, err := meta.New(ctx, e.eng, meta.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer fs.Close()
			newLayer := func() *data.Layer {
				l, err := data.New(fs, e.store, data.Config{})
				if err != nil {
					b.Fatal(err)
				}
				return l
			}
			l := newLayer()
			defer l.Close()
			buf := make([]byte, benchSmall)
			var attrs []meta.Attr
			write := func(b *testing.B, name string, fsync bool) meta.Attr {
				a, err := fs.Create(ctx, meta.Root, meta.RootIno, name, 0o644, os.O_RDWR, false)
				if err != nil {
					b.Fatal(err)
				}
				h := l.Open(a.Ino, a)
				if _, err := h.WriteAt(ctx, buf, 0); err != nil {
					b.Fatal(err)
				}
				if fsync {
					if err := h.Sync(ctx); err != nil {
						b.Fatal(err)
					}
				}
				if err := h.Close(ctx); err != nil {
					b.Fatal(err)
				}
				a.Size = benchSmall
				return a
			}
			b.Run("Write", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					for j := range benchSmallN {
						attrs = append(attrs, write(b, fmt.Sprint("s", i, "_", j), false))
					}
				}
				b.ReportMetric(float64(benchSmallN*b.N)/b.Elapsed().Seconds(), "files/s")
			})
			b.Run("WriteFsync", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					for j := range benchSmallN {
						write(b, fmt.Sprint("y", i, "_", j), true)
					}
				}
				b.ReportMetric(float64(benchSmallN*b.N)/b.Elapsed().Seconds(), "files/s")
			})
			b.Run("Read", func(b *testing.B) {
				for b.Loop() {
					// A fresh Layer each round: no block cache.
					l := newLayer()
					for _, a := range attrs[:benchSmallN] {
						h := l.Open(a.Ino, a)
						if _, err := h.ReadAt(ctx, buf, 0); err != nil && err != io.EOF {
							b.Fatal(err)
						}
						h.Close(ctx)
					}
					l.Close()
				}
				b.ReportMetric(float64(benchSmallN*b.N)/b.Elapsed().Seconds(), "files/s")
			})
		})
	}
}
