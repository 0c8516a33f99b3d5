package kvtable_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/kvtable"
)

// The benchmarks run in-process over Badger on disk: 50 concurrent
// callers, 100-byte values. The figures through the server come from
// `shoal bench kv`.
//
//	go test -run '^$' -bench . -benchtime 2s ./internal/kvtable/

const (
	benchClients  = 50
	benchValue    = 100
	benchHashKeys = 10000
)

func benchStore(b *testing.B, sync bool) *kvtable.Table {
	b.Helper()
	eng, err := badger.Open(b.TempDir(), badger.Options{SyncWrites: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	return benchTable(b, eng)
}

func benchTable(b *testing.B, eng kv.Engine) *kvtable.Table {
	s, err := kvtable.Open(eng, kvtable.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if _, err := s.CreateTable(context.Background(), "bench", kvtable.TableOptions{}); err != nil {
		b.Fatal(err)
	}
	return s.Table("bench")
}

func parallel50(b *testing.B) {
	b.SetParallelism((benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
}

func hashKey(i uint64) []byte { return fmt.Appendf(nil, "hk%08d", i%benchHashKeys) }

// preload writes perHash records under each of hashKeys hash keys.
func preload(b *testing.B, tb *kvtable.Table, hashKeys, perHash int) {
	b.Helper()
	val := make([]byte, benchValue)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for h := range work {
				kvs := make([]kvtable.KV, perHash)
				for j := range kvs {
					kvs[j] = kvtable.KV{SortKey: binary.BigEndian.AppendUint32(nil, uint32(j)), Value: val}
				}
				if err := tb.MultiSet(context.Background(), hashKey(uint64(h)), kvs, 0); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for h := range hashKeys {
		work <- h
	}
	close(work)
	wg.Wait()
}

func benchSet(b *testing.B, sync bool) {
	tb := benchStore(b, sync)
	val := make([]byte, benchValue)
	var n atomic.Uint64
	parallel50(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if err := tb.Set(context.Background(), hashKey(i), binary.BigEndian.AppendUint64(nil, i), val, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkSet: commits survive process death (Badger's default here).
func BenchmarkSet(b *testing.B) { benchSet(b, false) }

// BenchmarkSetSync: every commit waits for fsync.
func BenchmarkSetSync(b *testing.B) { benchSet(b, true) }

func BenchmarkGet(b *testing.B) {
	tb := benchStore(b, false)
	preload(b, tb, benchHashKeys, 10)
	var n atomic.Uint64
	parallel50(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			v, ok, err := tb.Get(context.Background(), hashKey(i), binary.BigEndian.AppendUint32(nil, uint32(i%10)))
			if err != nil || !ok || len(v) != benchValue {
				b.Errorf("get: %v %v", ok, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkMultiGet100(b *testing.B) {
	tb := benchStore(b, false)
	preload(b, tb, 1000, 100)
	var n atomic.Uint64
	parallel50(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1) % 1000
			kvs, _, err := tb.MultiGet(context.Background(), hashKey(i), nil, 0, 0, false)
			if err != nil || len(kvs) != 100 {
				b.Errorf("multi_get: %d %v", len(kvs), err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(100*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkScan reads the whole table (100,000 records) per iteration
// with one unordered scanner per core.
func BenchmarkScan(b *testing.B) {
	tb := benchStore(b, false)
	preload(b, tb, 1000, 100)
	ctx := context.Background()
	b.ResetTimer()
	var total atomic.Int64
	for range b.N {
		scs, err := tb.GetUnorderedScanners(ctx, runtime.GOMAXPROCS(0), kvtable.DefaultScanOptions())
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, sc := range scs {
			wg.Go(func() {
				for {
					_, _, _, ok, err := sc.Next(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					if !ok {
						return
					}
					total.Add(1)
				}
			})
		}
		wg.Wait()
	}
	if total.Load() != int64(b.N)*100000 {
		b.Fatalf("scanned %d records", total.Load())
	}
	b.ReportMetric(float64(total.Load())/b.Elapsed().Seconds(), "records/s")
}
