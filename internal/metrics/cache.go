package metrics

import "github.com/prometheus/client_golang/prometheus"

// CacheTierMemory is the in-memory block cache of a data layer
// (internal/data), the only cache tier a process has today: the value of
// the "tier" label.
const CacheTierMemory = "memory"

// CacheSample is one cache tier as a scrape sees it, summed over the
// process's data layers (from data.Layer.Stats).
type CacheSample struct {
	Tier         string
	Hits         int64 // segments served from the cache
	Misses       int64 // segments fetched from the store
	Evictions    int64 // segments dropped to make room
	EvictedBytes int64
	Bytes        int64 // now held
	Capacity     int64 // the configured size
}

var (
	cacheHits      = prometheus.NewDesc("shoal_cache_hits_total", "Block segments served from the cache, by tier.", []string{"tier"}, nil)
	cacheMisses    = prometheus.NewDesc("shoal_cache_misses_total", "Block segments the cache did not hold (fetched from the block store), by tier.", []string{"tier"}, nil)
	cacheEvictions = prometheus.NewDesc("shoal_cache_evictions_total", "Block segments evicted from the cache to make room, by tier.", []string{"tier"}, nil)
	cacheEvicted   = prometheus.NewDesc("shoal_cache_evicted_bytes_total", "Bytes evicted from the cache, by tier.", []string{"tier"}, nil)
	cacheBytes     = prometheus.NewDesc("shoal_cache_bytes", "Bytes held in the cache, by tier.", []string{"tier"}, nil)
	cacheCapacity  = prometheus.NewDesc("shoal_cache_capacity_bytes", "The cache's configured size, by tier.", []string{"tier"}, nil)
)

// CacheCollector reports the tiers read returns at each scrape (one
// sample per tier).
func CacheCollector(read func() []CacheSample) prometheus.Collector {
	return cacheCollector{read}
}

type cacheCollector struct{ read func() []CacheSample }

func (cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cacheHits, cacheMisses, cacheEvictions, cacheEvicted, cacheBytes, cacheCapacity} {
		ch <- d
	}
}

func (c cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.read() {
		ch <- prometheus.MustNewConstMetric(cacheHits, prometheus.CounterValue, float64(s.Hits), s.Tier)
		ch <- prometheus.MustNewConstMetric(cacheMisses, prometheus.CounterValue, float64(s.Misses), s.Tier)
		ch <- prometheus.MustNewConstMetric(cacheEvictions, prometheus.CounterValue, float64(s.Evictions), s.Tier)
		ch <- prometheus.MustNewConstMetric(cacheEvicted, prometheus.CounterValue, float64(s.EvictedBytes), s.Tier)
		ch <- prometheus.MustNewConstMetric(cacheBytes, prometheus.GaugeValue, float64(s.Bytes), s.Tier)
		ch <- prometheus.MustNewConstMetric(cacheCapacity, prometheus.GaugeValue, float64(s.Capacity), s.Tier)
	}
}
