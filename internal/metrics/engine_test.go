package metrics

import (
	"context"
	"testing"

	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/mem"
)

// The engine collector reports an engine's counters under its package
// name, and nothing while there is no engine.
func TestEngineCollector(t *testing.T) {
	var eng *mem.Engine
	s := New(Options{})
	if err := s.Register(EngineCollector(func() StatsEngine {
		if eng == nil {
			return nil
		}
		return eng
	})); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "shoal_engine_conflict_retries_total", map[string]string{"engine": "mem"}); n != 0 {
		t.Fatalf("retries %v before the engine exists", n)
	}
	eng = mem.New()
	defer eng.Close()
	ctx := context.Background()
	for range 3 {
		if err := eng.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("k"), []byte("v")) }); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, "shoal_engine_transactions_total", map[string]string{"engine": "mem", "type": "update", "outcome": "committed"}); n != 3 {
		t.Errorf("committed updates %v, want 3", n)
	}
	if k := EngineKind(eng); k != "mem" {
		t.Errorf("EngineKind = %q", k)
	}
	if k := EngineKind(nil); k != "other" {
		t.Errorf("EngineKind(nil) = %q", k)
	}
}

// The cache collector sums the data layers it is given.
func TestCacheCollector(t *testing.T) {
	s := New(Options{})
	if err := s.Register(CacheCollector(func() []data.Stats {
		one := data.Stats{CacheHits: 5, CacheMisses: 2, CacheEvictions: 1, CacheEvictedBytes: 10, CacheBytesInUse: 20, CacheLimitBytes: 30}
		return []data.Stats{one, one}
	})); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"shoal_cache_hits_total": 10, "shoal_cache_misses_total": 4, "shoal_cache_evictions_total": 2,
		"shoal_cache_evicted_bytes_total": 20, "shoal_cache_bytes": 40, "shoal_cache_capacity_bytes": 60} {
		if got := count(t, s, name, map[string]string{"tier": "memory"}); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
