package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// LoadSample is what a scrape reports of load jobs: the jobs by state
// in the engine (meta role: JobsKnown set) and this worker's work
// since it started (worker role).
type LoadSample struct {
	// Jobs counts the jobs recorded by state name (running, succeeded,
	// failed, stopped), summed over the filesystems.
	Jobs      map[string]int
	JobsKnown bool
	// Bytes, Files and Failures are this worker's load work.
	Bytes, Files, Failures int64
}

var (
	loadJobs     = prometheus.NewDesc("shoal_load_jobs", "Load jobs recorded in the engine, by state.", []string{"state"}, nil)
	loadBytes    = prometheus.NewDesc("shoal_load_bytes_total", "Bytes this worker read for load jobs.", nil, nil)
	loadFiles    = prometheus.NewDesc("shoal_load_files_total", "Files this worker loaded (or skipped as cached) for load jobs.", nil, nil)
	loadFailures = prometheus.NewDesc("shoal_load_failures_total", "Files that failed to load on this worker.", nil, nil)
)

// LoadStates are the label values of shoal_load_jobs, always all
// reported (0 when none), so the series set is fixed.
var LoadStates = []string{"running", "succeeded", "failed", "stopped"}

// LoadCollector reports load jobs as read returns them at each scrape.
func LoadCollector(read func(ctx context.Context) LoadSample) prometheus.Collector {
	return loadCollector{read}
}

type loadCollector struct {
	read func(ctx context.Context) LoadSample
}

func (loadCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{loadJobs, loadBytes, loadFiles, loadFailures} {
		ch <- d
	}
}

func (c loadCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	s := c.read(ctx)
	if s.JobsKnown {
		for _, st := range LoadStates {
			ch <- prometheus.MustNewConstMetric(loadJobs, prometheus.GaugeValue, float64(s.Jobs[st]), st)
		}
	}
	ch <- prometheus.MustNewConstMetric(loadBytes, prometheus.CounterValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(loadFiles, prometheus.CounterValue, float64(s.Files))
	ch <- prometheus.MustNewConstMetric(loadFailures, prometheus.CounterValue, float64(s.Failures))
}
