package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalfs/shoal/internal/data"
)

// CacheTierMemory is the in-memory block cache of a data layer
// (internal/data), the only cache tier a process has today: the value of
// the "tier" label.
const CacheTierMemory = "memory"

var (
	cacheHits      = prometheus.NewDesc("shoal_cache_hits_total", "Block segments served from the cache, by tier.", []string{"tier"}, nil)
	cacheMisses    = prometheus.NewDesc("shoal_cache_misses_total", "Block segments the cache did not hold (fetched from the block store), by tier.", []string{"tier"}, nil)
	cacheEvictions = prometheus.NewDesc("shoal_cache_evictions_total", "Block segments evicted from the cache to make room, by tier.", []string{"tier"}, nil)
	cacheEvicted   = prometheus.NewDesc("shoal_cache_evicted_bytes_total", "Bytes evicted from the cache, by tier.", []string{"tier"}, nil)
	cacheBytes     = prometheus.NewDesc("shoal_cache_bytes", "Bytes held in the cache, by tier.", []string{"tier"}, nil)
	cacheCapacity  = prometheus.NewDesc("shoal_cache_capacity_bytes", "The cache's configured size, by tier.", []string{"tier"}, nil)
)

// CacheCollector reports the block caches of the data layers read
// returns at each scrape, summed (the process's caches as one), under
// tier "memory".
func CacheCollector(read func() []data.Stats) prometheus.Collector {
	return cacheCollector{read}
}

type cacheCollector struct{ read func() []data.Stats }

func (cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cacheHits, cacheMisses, cacheEvictions, cacheEvicted, cacheBytes, cacheCapacity} {
		ch <- d
	}
}

func (c cacheCollector) Collect(ch chan<- prometheus.Metric) {
	var sum data.Stats
	for _, s := range c.read() {
		sum.CacheHits += s.CacheHits
		sum.CacheMisses += s.CacheMisses
		sum.CacheEvictions += s.CacheEvictions
		sum.CacheEvictedBytes += s.CacheEvictedBytes
		sum.CacheBytesInUse += s.CacheBytesInUse
		sum.CacheLimitBytes += s.CacheLimitBytes
	}
	m := func(d *prometheus.Desc, t prometheus.ValueType, v int64) {
		ch <- prometheus.MustNewConstMetric(d, t, float64(v), CacheTierMemory)
	}
	m(cacheHits, prometheus.CounterValue, sum.CacheHits)
	m(cacheMisses, prometheus.CounterValue, sum.CacheMisses)
	m(cacheEvictions, prometheus.CounterValue, sum.CacheEvictions)
	m(cacheEvicted, prometheus.CounterValue, sum.CacheEvictedBytes)
	m(cacheBytes, prometheus.GaugeValue, sum.CacheBytesInUse)
	m(cacheCapacity, prometheus.GaugeValue, sum.CacheLimitBytes)
}
