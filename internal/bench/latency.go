package bench

import (
	"slices"
	"sync"
	"time"
)

// latencies collects the duration of every operation of a run from many
// goroutines (each appends to a slice of its own, merged at the end), so
// the tail percentiles come from every sample, not a sketch.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

// add merges one goroutine's samples.
func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

// Latency holds the percentiles of one run, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
}

func (l *latencies) percentiles() Latency {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		return Latency{}
	}
	slices.Sort(l.all)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(l.all))), len(l.all)-1)
		return float64(l.all[i]) / float64(time.Millisecond)
	}
	return Latency{P50: at(0.50), P99: at(0.99), P999: at(0.999)}
}

// medianLatency is the per-percentile median over runs.
func medianLatency(runs []Latency) Latency {
	pick := func(f func(Latency) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		return median(v)
	}
	if len(runs) == 0 {
		return Latency{}
	}
	return Latency{P50: pick(func(l Latency) float64 { return l.P50 }),
		P99: pick(func(l Latency) float64 { return l.P99 }), P999: pick(func(l Latency) float64 { return l.P999 })}
}
