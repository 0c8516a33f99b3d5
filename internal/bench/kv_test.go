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
	if got["SET"] != 55602 || got["GET"] != 62131 || len(got) != 2 {
		t.Fatalf("parsed %v", got)
	}
}
