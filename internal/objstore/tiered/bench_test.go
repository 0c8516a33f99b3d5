package tiered_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/file"
	"github.com/shoalfs/shoal/internal/objstore/kvstore"
	"github.com/shoalfs/shoal/internal/objstore/tiered"
)

// The benchmarks measure what the small tier buys for small blocks. Both
// stores are in a temp dir on the same filesystem, neither syncs at Put
// (the file store's default; Badger without SyncWrites), and the host's
// own rate of creating, writing and closing files of the same size is
// printed beside them as the limit the file store works against:
//
//	go test -run '^$' -bench . -benchtime 2x ./internal/objstore/tiered/
//
// BenchmarkStore puts and gets 1000 objects of one 128 KiB block with its
// CRC trailer (two 64 KiB segments, 4 bytes each) from 4 goroutines. The
// end-to-end figure (files through meta and data) is in ./smallfiles.
const (
	benchObj       = 128<<10 + 8
	benchObjN      = 1000
	benchWorkers   = 4
	benchSmall     = 128 << 10
	benchThreshold = 256 << 10
)

var stores = []struct {
	name string
	open func(b *testing.B, dir string) objstore.Store
}{
	{"File", func(b *testing.B, dir string) objstore.Store { return openFile(b, dir) }},
	{"Tiered", func(b *testing.B, dir string) objstore.Store {
		return tiered.New(kvstore.New(openBadger(b, filepath.Join(dir, "kv"), false), []byte("B"), kvstore.Options{}), openFile(b, dir), benchThreshold)
	}},
}

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

// objKey follows internal/data's block key scheme.
func objKey(id int) string {
	return fmt.Sprintf("chunks/%d/%d/%d_0_%d", id/1_000_000, id/1_000, id, benchSmall)
}

// parallel runs fn(i) for i in [from, from+n) on benchWorkers goroutines.
func parallel(b *testing.B, from, n int, fn func(i int) error) {
	var wg sync.WaitGroup
	errs := make(chan error, benchWorkers)
	for w := range benchWorkers {
		wg.Go(func() {
			for i := from + w; i < from+n; i += benchWorkers {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	obj := make([]byte, benchObj)
	for i := range obj {
		obj[i] = byte(i * 7)
	}
	for _, sc := range stores {
		b.Run(sc.name, func(b *testing.B) {
			st := sc.open(b, b.TempDir())
			defer st.Close()
			next := 0
			b.Run("Put", func(b *testing.B) {
				for b.Loop() {
					parallel(b, next, benchObjN, func(i int) error { return st.Put(ctx, objKey(i), obj) })
					next += benchObjN
				}
				b.ReportMetric(float64(benchObjN*b.N)/b.Elapsed().Seconds(), "objects/s")
			})
			// Each Put made durable on its own, as a file fsynced at
			// close would be.
			b.Run("PutSync", func(b *testing.B) {
				sy := st.(objstore.Syncer)
				for b.Loop() {
					parallel(b, next, benchObjN, func(i int) error {
						k := objKey(i)
						if err := st.Put(ctx, k, obj); err != nil {
							return err
						}
						return sy.Sync(ctx, []string{k})
					})
					next += benchObjN
				}
				b.ReportMetric(float64(benchObjN*b.N)/b.Elapsed().Seconds(), "objects/s")
			})
			b.Run("Get", func(b *testing.B) {
				if next == 0 {
					parallel(b, 0, benchObjN, func(i int) error { return st.Put(ctx, objKey(i), obj) })
				}
				for b.Loop() {
					parallel(b, 0, benchObjN, func(i int) error {
						got, err := st.Get(ctx, objKey(i), 0, -1)
						if err == nil && len(got) != benchObj {
							err = fmt.Errorf("Get(%d): %d bytes", i, len(got))
						}
						return err
					})
				}
				b.ReportMetric(float64(benchObjN*b.N)/b.Elapsed().Seconds(), "objects/s")
			})
		})
	}
	// The host's limit for the file store: plain files of the same size
	// created, written and closed (no rename, no fsync), then read.
	b.Run("RawFiles", func(b *testing.B) {
		dir := b.TempDir()
		path := func(i int) string { return filepath.Join(dir, strconv.Itoa(i/1000), strconv.Itoa(i)) }
		next := 0
		b.Run("Create", func(b *testing.B) {
			for b.Loop() {
				for d := next / 1000; d <= (next+benchObjN-1)/1000; d++ {
					os.MkdirAll(filepath.Join(dir, strconv.Itoa(d)), 0o755)
				}
				parallel(b, next, benchObjN, func(i int) error {
					f, err := os.Create(path(i))
					if err != nil {
						return err
					}
					if _, err := f.Write(obj); err != nil {
						f.Close()
						return err
					}
					return f.Close()
				})
				next += benchObjN
			}
			b.ReportMetric(float64(benchObjN*b.N)/b.Elapsed().Seconds(), "objects/s")
		})
		b.Run("Read", func(b *testing.B) {
			for b.Loop() {
				parallel(b, 0, min(next, benchObjN), func(i int) error {
					_, err := os.ReadFile(path(i))
					return err
				})
			}
			b.ReportMetric(float64(min(next, benchObjN)*b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	})
}
