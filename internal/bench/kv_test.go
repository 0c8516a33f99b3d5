package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestKVSmoke(t *testing.T) {
	rep, err := RunKV(context.Background(), KVOptions{Dir: t.TempDir(), Clients: 5, Conns: 2, Ops: 500, MultiGetOps: 50, MultiGetKeys: 10, ScanSplits: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 4 {
		t.Fatalf("results: %+v", rep.Results)
	}
	for _, r := range rep.Results {
		if r.Shoal <= 0 {
			t.Errorf("%s: %v", r.Metric, r.Shoal)
		}
		if r.Metric != "kv.scan" && (r.Latency.P50 <= 0 || r.Latency.P999 < r.Latency.P50) {
			t.Errorf("%s: latency %+v", r.Metric, r.Latency)
		}
	}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil || !strings.Contains(b.String(), "kv.scan") {
		t.Fatalf("text report: %v %q", err, b.String())
	}
}

func TestParseRedisBenchmark(t *testing.T) {
	out := "SET: rps=0.0 (overall: nan) avg_msec=nan\rSET: 55602.00 requests per second, p50=0.455 msec\n" +
		"GET: 62131.00 requests per second\n\nsomething else\n"
	got := parseRedisBenchmark([]byte(out))
	if got["SET"].rps != 55602 || got["GET"].rps != 62131 || len(got) != 2 {
		t.Fatalf("parsed %v", got)
	}
	csv := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"` + "\n" +
		`"SET","41203.00","1.100","0.200","0.951","1.900","3.100","9.000"` + "\n" +
		`"GET","41017.00","1.000","0.200","0.900","1.800","2.500","7.000"` + "\n"
	got = parseRedisBenchmark([]byte(csv))
	if got["SET"] != (redisFigure{rps: 41203, lat: Latency{P50: 0.951, P99: 3.1}}) || got["GET"].rps != 41017 || len(got) != 2 {
		t.Fatalf("parsed csv %v", got)
	}
}
