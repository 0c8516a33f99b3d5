package metrics

import (
	"path"
	"reflect"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalfs/shoal/internal/kv"
)

var (
	engTxns = prometheus.NewDesc("shoal_engine_transactions_total",
		"Transactions of the metadata engine by engine kind, type (update, view) and outcome (committed, aborted, conflict, canceled, failed).",
		[]string{"engine", "type", "outcome"}, nil)
	engRetries = prometheus.NewDesc("shoal_engine_conflict_retries_total",
		"Update attempts of the metadata engine run again because their commit conflicted.",
		[]string{"engine"}, nil)
	engSeconds = prometheus.NewDesc("shoal_engine_transaction_seconds_total",
		"Wall time spent in metadata engine transactions (retries and backoff included), by type.",
		[]string{"engine", "type"}, nil)
)

// StatsEngine is an engine that counts its transactions (kv.Counters):
// every engine of internal/kv.
type StatsEngine interface {
	Stats() kv.Stats
}

// EngineKind names an engine for the "engine" label: the name of the
// package that implements it ("badger", "etcd", "mem"), bounded by the
// code, not by input.
func EngineKind(e any) string {
	t := reflect.TypeOf(e)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.PkgPath() == "" {
		return "other"
	}
	return path.Base(t.PkgPath())
}

// EngineCollector reports the transaction counters of the engine get
// returns at each scrape (none while it returns nil).
func EngineCollector(get func() StatsEngine) prometheus.Collector {
	return engineCollector{get}
}

type engineCollector struct {
	get func() StatsEngine
}

func (engineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- engTxns
	ch <- engRetries
	ch <- engSeconds
}

func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.get()
	if e == nil {
		return
	}
	st, kind := e.Stats(), EngineKind(e)
	for _, o := range kv.Outcomes() {
		ch <- prometheus.MustNewConstMetric(engTxns, prometheus.CounterValue, float64(st.Updates[o]), kind, "update", o.String())
		ch <- prometheus.MustNewConstMetric(engTxns, prometheus.CounterValue, float64(st.Views[o]), kind, "view", o.String())
	}
	ch <- prometheus.MustNewConstMetric(engRetries, prometheus.CounterValue, float64(st.ConflictRetries), kind)
	ch <- prometheus.MustNewConstMetric(engSeconds, prometheus.CounterValue, st.UpdateSeconds, kind, "update")
	ch <- prometheus.MustNewConstMetric(engSeconds, prometheus.CounterValue, st.ViewSeconds, kind, "view")
}
