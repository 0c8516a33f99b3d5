package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalfs/shoal/internal/pagecache"
)

var (
	pcHits        = prometheus.NewDesc("shoal_page_cache_hits_total", "Page cache Gets answered from a tier, by tier.", []string{"tier"}, nil)
	pcMisses      = prometheus.NewDesc("shoal_page_cache_misses_total", "Page cache Gets that fetched from the under-store or waited on another Get's fetch.", nil, nil)
	pcEvictions   = prometheus.NewDesc("shoal_page_cache_evictions_total", "Pages evicted to make room, by tier.", []string{"tier"}, nil)
	pcCorrupt     = prometheus.NewDesc("shoal_page_cache_corrupt_total", "Pages found damaged on disk (checksum or header), removed and fetched again, by tier.", []string{"tier"}, nil)
	pcFetches     = prometheus.NewDesc("shoal_page_cache_fetches_total", "Fetches of pages from the under-store (one per page however many Gets waited).", nil, nil)
	pcFetchErrors = prometheus.NewDesc("shoal_page_cache_fetch_errors_total", "Fetches that failed.", nil, nil)
	pcWriteErrors = prometheus.NewDesc("shoal_page_cache_disk_write_errors_total", "Page writes a disk tier failed (the tier is skipped for a while), by tier.", []string{"tier"}, nil)
	pcFetched     = prometheus.NewDesc("shoal_page_cache_fetched_bytes_total", "Bytes fetched from the under-store.", nil, nil)
	pcServed      = prometheus.NewDesc("shoal_page_cache_hit_bytes_total", "Bytes served from the cache's tiers.", nil, nil)
	pcBytes       = prometheus.NewDesc("shoal_page_cache_bytes", "Bytes held, by tier (on disk: files, headers and block rounding included).", []string{"tier"}, nil)
	pcBudget      = prometheus.NewDesc("shoal_page_cache_budget_bytes", "The tier's byte budget.", []string{"tier"}, nil)
	pcPages       = prometheus.NewDesc("shoal_page_cache_pages", "Pages held, by tier.", []string{"tier"}, nil)
)

// PageCacheCollector reports a worker's page cache (internal/pagecache) at
// each scrape, read from c.Stats(). The tier label is TierStats.Tier:
// "memory", "disk0", "disk1"... (the disk's index in the worker's
// configuration, never its directory).
func PageCacheCollector(c pagecache.Cacher) prometheus.Collector { return pageCacheCollector{c} }

type pageCacheCollector struct{ c pagecache.Cacher }

func (pageCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pcHits, pcMisses, pcEvictions, pcCorrupt, pcFetches, pcFetchErrors, pcWriteErrors, pcFetched, pcServed, pcBytes, pcBudget, pcPages} {
		ch <- d
	}
}

func (p pageCacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.c.Stats()
	m := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	m(pcMisses, prometheus.CounterValue, float64(s.Misses))
	m(pcFetches, prometheus.CounterValue, float64(s.Fetches))
	m(pcFetchErrors, prometheus.CounterValue, float64(s.FetchErrors))
	m(pcFetched, prometheus.CounterValue, float64(s.BytesFetched))
	m(pcServed, prometheus.CounterValue, float64(s.BytesServedHits))
	var tierHits uint64
	for _, t := range s.Tiers {
		tierHits += t.Hits
	}
	for i, t := range s.Tiers {
		hits := t.Hits
		if i == 0 && s.Hits > tierHits {
			// Gets served while their page was being written to
			// disk count with the first tier (memory when there is
			// one), so the tiers sum to the total.
			hits += s.Hits - tierHits
		}
		m(pcHits, prometheus.CounterValue, float64(hits), t.Tier)
		m(pcEvictions, prometheus.CounterValue, float64(t.Evictions), t.Tier)
		m(pcBytes, prometheus.GaugeValue, float64(t.Bytes), t.Tier)
		m(pcBudget, prometheus.GaugeValue, float64(t.Budget), t.Tier)
		m(pcPages, prometheus.GaugeValue, float64(t.Pages), t.Tier)
		if t.Tier != pagecache.TierMemory {
			m(pcCorrupt, prometheus.CounterValue, float64(t.Corrupt), t.Tier)
			m(pcWriteErrors, prometheus.CounterValue, float64(t.WriteErrors), t.Tier)
		}
	}
}
