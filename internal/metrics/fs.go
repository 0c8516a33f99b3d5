package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FSSample is one filesystem as a scrape sees it, read from the counters
// the filesystem keeps (meta's usage stripes and sessions, the data
// layer's Stats of the server's GC).
type FSSample struct {
	Name       string
	Sessions   int // live client sessions (the server's own included)
	OpenFiles  int // inodes held open, summed over sessions
	Inodes     uint64
	UsedBytes  uint64
	TotalBytes uint64 // the capacity, or the "unlimited" figure StatFS reports
	// GC work done by this process since it started.
	GCBlocksDeleted int64
	Compactions     int64
	// Err is set when the sample could not be read in full; the
	// collector then reports only shoal_fs_scrape_errors_total.
	Err error
}

// ScrapeTimeout bounds how long a collector may read its samples.
const ScrapeTimeout = 5 * time.Second

var (
	fsSessions = prometheus.NewDesc("shoal_fs_sessions", "Live client sessions of the filesystem.", []string{"fs"}, nil)
	fsOpen     = prometheus.NewDesc("shoal_fs_open_files", "Inodes held open by the filesystem's sessions.", []string{"fs"}, nil)
	fsInodes   = prometheus.NewDesc("shoal_fs_inodes", "Inodes in use in the filesystem.", []string{"fs"}, nil)
	fsUsed     = prometheus.NewDesc("shoal_fs_used_bytes", "Bytes of file data in the filesystem (logical sizes).", []string{"fs"}, nil)
	fsTotal    = prometheus.NewDesc("shoal_fs_capacity_bytes", "The filesystem's capacity (a very large number when unlimited).", []string{"fs"}, nil)
	fsGCBlocks = prometheus.NewDesc("shoal_gc_blocks_deleted_total", "Blocks deleted by garbage collection.", []string{"fs"}, nil)
	fsCompact  = prometheus.NewDesc("shoal_compactions_total", "Chunks compacted.", []string{"fs"}, nil)
	fsErrors   = prometheus.NewDesc("shoal_fs_scrape_errors", "Filesystems whose state this scrape could not read.", nil, nil)
)

// FSCollector reports the filesystems read returns at each scrape.
func FSCollector(read func(ctx context.Context) []FSSample) prometheus.Collector {
	return fsCollector{read}
}

type fsCollector struct {
	read func(ctx context.Context) []FSSample
}

func (fsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{fsSessions, fsOpen, fsInodes, fsUsed, fsTotal, fsGCBlocks, fsCompact, fsErrors} {
		ch <- d
	}
}

func (c fsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	errs := 0
	for _, s := range c.read(ctx) {
		if s.Err != nil {
			errs++
			continue
		}
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, s.Name)
		}
		g(fsSessions, float64(s.Sessions))
		g(fsOpen, float64(s.OpenFiles))
		g(fsInodes, float64(s.Inodes))
		g(fsUsed, float64(s.UsedBytes))
		g(fsTotal, float64(s.TotalBytes))
		ch <- prometheus.MustNewConstMetric(fsGCBlocks, prometheus.CounterValue, float64(s.GCBlocksDeleted), s.Name)
		ch <- prometheus.MustNewConstMetric(fsCompact, prometheus.CounterValue, float64(s.Compactions), s.Name)
	}
	ch <- prometheus.MustNewConstMetric(fsErrors, prometheus.GaugeValue, float64(errs))
}
