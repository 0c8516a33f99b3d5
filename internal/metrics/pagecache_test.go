package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/shoalfs/shoal/internal/pagecache"
)

// The page cache collector reports a real cache with a memory and a disk
// tier, labels by tier index and never by directory.
func TestPageCacheCollector(t *testing.T) {
	dir := t.TempDir()
	c, err := pagecache.Open(pagecache.Options{PageSize: 1000, MemoryBytes: 2000, Disks: []pagecache.Disk{{Dir: dir, Bytes: 1 << 20}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := New(Options{})
	if err := s.Register(PageCacheCollector(c)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	page := func(context.Context) ([]byte, error) { return make([]byte, 1000), nil }
	for i := range 3 {
		if _, err := c.Get(ctx, pagecache.Key{Source: "m/a", Page: int64(i)}, page); err != nil {
			t.Fatal(err)
		}
	}
	c.Sync()
	for i := range 3 { // memory holds 2 of them, the disk all 3
		if _, err := c.Get(ctx, pagecache.Key{Source: "m/a", Page: int64(i)}, page); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]float64{"shoal_page_cache_misses_total": 3, "shoal_page_cache_fetches_total": 3,
		"shoal_page_cache_fetch_errors_total": 0, "shoal_page_cache_fetched_bytes_total": 3000} {
		if got := count(t, s, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	hits := count(t, s, "shoal_page_cache_hits_total", map[string]string{"tier": "memory"}) +
		count(t, s, "shoal_page_cache_hits_total", map[string]string{"tier": "disk0"})
	if hits != 3 {
		t.Errorf("hits by tier sum to %v, want 3", hits)
	}
	for name, want := range map[string]float64{"shoal_page_cache_budget_bytes": 1 << 20, "shoal_page_cache_pages": 3, "shoal_page_cache_bytes": 3 * 4096,
		"shoal_page_cache_corrupt_total": 0} {
		if got := count(t, s, name, map[string]string{"tier": "disk0"}); got != want {
			t.Errorf("%s{disk0} = %v, want %v", name, got, want)
		}
	}
	if got := count(t, s, "shoal_page_cache_budget_bytes", map[string]string{"tier": "memory"}); got != 2000 {
		t.Errorf("memory budget = %v", got)
	}
	mf, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range mf {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "/") {
					t.Errorf("%s has a path in label %s=%q", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}
