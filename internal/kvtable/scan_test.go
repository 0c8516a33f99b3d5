package kvtable_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/shoalfs/shoal/internal/kvtable"
)

// TestScanners100k checks that unordered scanners with random split
// counts cover 100,000 records exactly once, over hash keys of mixed
// lengths and contents, with some records expired.
func TestScanners100k(t *testing.T) {
	t.Parallel()
	for _, eng := range []struct {
		name string
		open opener
	}{{"mem", openMem}, {"badger", openBadger}} {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			testScanners100k(t, eng.open)
		})
	}
}

func testScanners100k(t *testing.T, open opener) {
	ctx := context.Background()
	e := newEnv(t, open, kvtable.Options{})
	tb := e.tb
	const hashKeys, perHash = 5000, 20
	rng := rand.New(rand.NewPCG(7, 7))
	hks := make([][]byte, hashKeys)
	for i := range hks {
		switch i % 3 {
		case 0: // sequential, as user ids
			hks[i] = fmt.Appendf(nil, "user%08d", i)
		case 1: // random binary, as hashes
			hks[i] = binary.BigEndian.AppendUint64(nil, rng.Uint64())
		default: // short
			hks[i] = fmt.Appendf(nil, "%x", i)
		}
	}
	// Writers in parallel: one multi_set per hash key.
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				kvs := make([]kvtable.KV, perHash)
				for j := range kvs {
					kvs[j] = kvtable.KV{SortKey: binary.BigEndian.AppendUint32(nil, uint32(j)), Value: binary.BigEndian.AppendUint32(nil, uint32(i))}
				}
				ttl := 0
				if i%50 == 0 {
					ttl = 1 // these expire before the scan
				}
				if err := tb.MultiSet(ctx, hks[i], kvs, ttl); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range hashKeys {
		work <- i
	}
	close(work)
	wg.Wait()
	e.clock.Advance(2e9)
	want := 0
	for i := range hashKeys {
		if i%50 != 0 {
			want += perHash
		}
	}

	for _, n := range []int{1, 2 + rng.IntN(6), 8 + rng.IntN(30), 64} {
		scs, err := tb.GetUnorderedScanners(ctx, n, kvtable.ScanOptions{BatchSize: 500 + rng.IntN(1500), NoValue: rng.IntN(2) == 0})
		must(t, err)
		if len(scs) > n || len(scs) < (n+1)/2 {
			t.Fatalf("%d scanners for max %d", len(scs), n)
		}
		seen := make(map[string]struct{}, want)
		var mu sync.Mutex
		sizes := make([]int, len(scs))
		for i, sc := range scs {
			wg.Go(func() {
				for {
					hk, sk, _, ok, err := sc.Next(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					if !ok {
						return
					}
					sizes[i]++
					k := string(hk) + "\x00" + string(sk)
					mu.Lock()
					if _, dup := seen[k]; dup {
						t.Errorf("split %d: %q seen twice", n, k)
					}
					seen[k] = struct{}{}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != want {
			t.Fatalf("split %d: saw %d records, want %d", n, len(seen), want)
		}
		t.Logf("split %d -> %d scanners, sizes %v", n, len(scs), sizes)
	}
}
