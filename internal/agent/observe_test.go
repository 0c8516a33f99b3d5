package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// lockedBuffer is a log sink the agent's goroutines write concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.b.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// agentWorkload drives one session through files, shared memory, KV
// tables, errors and an unknown opcode, naming everything with tag so a
// second round uses fresh names.
func agentWorkload(t *testing.T, tc *testClient, tag string) {
	tc.ok(OpMkdir, "d"+tag, 0o755, 0)
	tc.call(OpMkdir, "d"+tag, 0o755, 0) // EEXIST
	tc.call(OpStat, "missing"+tag, 1)   // ENOENT
	tc.ok(OpStat, "d"+tag, 1)
	h := tc.ok(OpOpen, "d"+tag+"/f", int64(os.O_CREATE|os.O_RDWR), 0o644).int()
	tc.ok(OpPwrite, h, 0, []byte("hello "+tag))
	tc.ok(OpPread, h, 0, 100)
	f, mem := shm(t, 8192)
	iov := tc.callFD(OpIovReg, int(f.Fd()), int64(len(mem))).d.int()
	tc.ok(OpPwriteIov, h, 0, 4096, iov, 0)
	tc.ok(OpPreadIov, h, 0, 4096, iov, 4096)
	tc.ok(OpPwritev, 1, iov, 0, 1000, h, 4096)
	tc.ok(OpPreadv, 1, iov, 0, 1000, h, 4096)
	tc.ok(OpIovUnreg, iov)
	tc.ok(OpClose, h)
	tc.call(OpClose, h) // EBADF
	tc.ok(OpWriteFile, "w"+tag, int64(os.O_CREATE|os.O_WRONLY|os.O_TRUNC), 0o644, []byte("whole"))
	tc.ok(OpReadFile, "w"+tag, 0, 0, 0)
	tc.ok(OpListDir, "d"+tag)
	tc.ok(OpKVCreateTable, "t"+tag, 0)
	tc.ok(OpKVSet, "t"+tag, []byte("h"+tag), []byte("s"), []byte("v"), 0)
	tc.ok(OpKVGet, "t"+tag, []byte("h"+tag), []byte("s"))
	tc.call(OpKVSet, "t"+tag, []byte("h")) // EPROTO: malformed
	tc.call(999)                           // ENOSYS: not in the table
	tc.ok(OpRemove, "d"+tag, 1)
}

// agentSeries gathers the agent's registry: every series as
// name{labels}, and each family's type.
func agentSeries(t *testing.T, a *Agent) (map[string]map[string]string, []*dto.MetricFamily) {
	t.Helper()
	fams, err := a.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]map[string]string{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			key := f.GetName() + "{"
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
				key += lp.GetName() + "=" + lp.GetValue() + ","
			}
			series[key+"}"] = labels
		}
	}
	return series, fams
}

func value(fams []*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if w, ok := want[lp.GetName()]; ok && w != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAgentMetricsBoundedLabels: after a mixed workload every agent
// label is from its bounded set, a second round with fresh names adds no
// series, the bytes and gauges show what was done, and the endpoints
// answer on Config.MetricsListen.
func TestAgentMetricsBoundedLabels(t *testing.T) {
	a := startAgent(t, Config{MetricsListen: "127.0.0.1:0"})
	tc := dialAgent(t, a)
	if code, body := httpGet(t, "http://"+a.MetricsAddr()+"/readyz"); code != 200 {
		t.Fatalf("readyz with no client: %d %s", code, body)
	}
	build(tc, t.TempDir())
	agentWorkload(t, tc, "a")

	ops := map[string]bool{"other": true}
	for _, spec := range opTable {
		if spec.fn != nil {
			ops[spec.name] = true
		}
	}
	errnoName := regexp.MustCompile(`^E[A-Z0-9]+$`)
	allowed := map[string]func(string) bool{
		"op":      func(v string) bool { return ops[v] },
		"outcome": func(v string) bool { return v == "ok" || errnoName.MatchString(v) },
		"surface": func(v string) bool { return v == "agent" },
		"kind":    func(v string) bool { return v == "file" || v == "dir" || v == "scanner" || v == "buffer" },
		"le":      func(string) bool { return true },
		"version": func(string) bool { return true },
		"role":    func(v string) bool { return v == "agent" },
	}
	// Open handles while they are open.
	h := tc.ok(OpOpen, "held", int64(os.O_CREATE|os.O_RDWR), 0o644).int()
	dh := tc.ok(OpOpenDir, ".").int()
	_, fams := agentSeries(t, a)
	for _, kind := range []string{"file", "dir"} {
		if v, _ := value(fams, "shoal_agent_open_handles", map[string]string{"kind": kind}); v != 1 {
			t.Errorf("open %s handles %v, want 1", kind, v)
		}
	}
	tc.ok(OpClose, h)
	tc.ok(OpCloseDir, dh)

	first, fams := agentSeries(t, a)
	nShoal := 0
	for key, labels := range first {
		if !strings.HasPrefix(key, "shoal_") {
			continue
		}
		nShoal++
		for k, v := range labels {
			if ok := allowed[k]; ok == nil || !ok(v) {
				t.Errorf("%s: label %s=%q is not from a bounded set", key, k, v)
			}
		}
	}
	for _, c := range []struct {
		name string
		want map[string]string
	}{
		{"shoal_agent_request_duration_seconds", map[string]string{"op": "mkdir", "outcome": "ok"}},
		{"shoal_agent_request_duration_seconds", map[string]string{"op": "mkdir", "outcome": "EEXIST"}},
		{"shoal_agent_request_duration_seconds", map[string]string{"op": "stat", "outcome": "ENOENT"}},
		{"shoal_agent_request_duration_seconds", map[string]string{"op": "close", "outcome": "EBADF"}},
		{"shoal_agent_request_duration_seconds", map[string]string{"op": "kv_set", "outcome": "EPROTO"}},
		{"shoal_agent_request_duration_seconds", map[string]string{"op": "other", "outcome": "ENOSYS"}},
		{"shoal_agent_request_duration_seconds", map[string]string{"op": "kv_get", "outcome": "ok"}},
		{"shoal_agent_sessions", nil},
		{"shoal_agent_connections", nil},
		{"shoal_agent_clients", nil},
	} {
		if v, ok := value(fams, c.name, c.want); !ok || v != 1 {
			t.Errorf("%s%v = %v (exported %v), want 1", c.name, c.want, v, ok)
		}
	}
	// Shared memory moved 4096+1000 bytes each way, frames the rest.
	if v, _ := value(fams, "shoal_request_bytes_total", map[string]string{"surface": "agent"}); v < 5096 {
		t.Errorf("request bytes %v, want at least the 5096 written from shared memory", v)
	}
	if v, _ := value(fams, "shoal_response_bytes_total", map[string]string{"surface": "agent"}); v < 5096 {
		t.Errorf("response bytes %v, want at least the 5096 read into shared memory", v)
	}

	agentWorkload(t, tc, "b")
	second, _ := agentSeries(t, a)
	for key := range second {
		if _, ok := first[key]; !ok && strings.HasPrefix(key, "shoal_") {
			t.Errorf("second round added series %s", key)
		}
	}
	t.Logf("%d shoal_ series after one round", nShoal)

	code, body := httpGet(t, "http://"+a.MetricsAddr()+"/metrics")
	if code != 200 || !strings.Contains(body, `shoal_agent_request_duration_seconds_count{op="mkdir",outcome="ok"}`) ||
		!strings.Contains(body, `shoal_build_info{role="agent"`) {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, _ := httpGet(t, "http://"+a.MetricsAddr()+"/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, body := httpGet(t, "http://"+a.MetricsAddr()+"/readyz"); code != 200 {
		t.Errorf("readyz with a local client: %d %s", code, body)
	}
}

// TestAgentReadyzFailsOnDeadClient: a client whose data directory is
// closed under it fails readiness, naming it.
func TestAgentReadyzFailsOnDeadClient(t *testing.T) {
	a := startAgent(t, Config{MetricsListen: "127.0.0.1:0"})
	tc := dialAgent(t, a)
	dir := t.TempDir()
	build(tc, dir)
	a.mu.Lock()
	for _, e := range a.mu.clients {
		e.c.Close()
	}
	a.mu.Unlock()
	code, body := httpGet(t, "http://"+a.MetricsAddr()+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: clients: "+dir) {
		t.Errorf("readyz with a closed client: %d %q", code, body)
	}
}

// TestAgentRequestLog: one line per request, Info for mutations, Debug
// for reads, with the outcome; past the threshold, Warn.
func TestAgentRequestLog(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := startAgent(t, Config{Logger: log, SlowRequest: -1})
	tc := dialAgent(t, a)
	build(tc, t.TempDir())
	tc.ok(OpMkdir, "logdir", 0o755, 0)
	tc.call(OpStat, "logdir/missing", 1)
	h := tc.ok(OpOpen, "logdir/f", int64(os.O_RDWR|os.O_CREATE), 0o644).int()
	tc.ok(OpClose, h)
	h = tc.ok(OpOpen, "logdir/f", int64(os.O_RDONLY), 0).int()
	tc.ok(OpClose, h)

	find := func(pred func(map[string]any) bool) []map[string]any {
		var out []map[string]any
		for _, l := range buf.lines(t) {
			if l["msg"] == "request" && pred(l) {
				out = append(out, l)
			}
		}
		return out
	}
	if ls := find(func(l map[string]any) bool { return l["op"] == "mkdir" }); len(ls) != 1 ||
		ls[0]["level"] != "INFO" || ls[0]["code"] != "ok" || ls[0]["surface"] != "agent" || ls[0]["path"] != "logdir" || ls[0]["id"] == "" {
		t.Errorf("mkdir lines: %v", ls)
	}
	if ls := find(func(l map[string]any) bool { return l["op"] == "stat" }); len(ls) != 1 ||
		ls[0]["level"] != "DEBUG" || ls[0]["code"] != "ENOENT" || ls[0]["err"] == nil {
		t.Errorf("stat lines: %v", ls)
	}
	if ls := find(func(l map[string]any) bool { return l["op"] == "open" }); len(ls) != 2 ||
		ls[0]["level"] != "INFO" || ls[1]["level"] != "DEBUG" {
		t.Errorf("open lines (creating: INFO, reading: DEBUG): %v", ls)
	}

	var slowBuf lockedBuffer
	slowLog := slog.New(slog.NewJSONHandler(&slowBuf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b := startAgent(t, Config{Logger: slowLog, SlowRequest: time.Nanosecond})
	tc = dialAgent(t, b)
	tc.ok(OpPing)
	// The agent logs a request after its answer is written, so the line
	// may follow the answer by a moment.
	var ls []map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if ls = slowBuf.lines(t); len(ls) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(ls) != 1 || ls[0]["msg"] != "slow request" || ls[0]["level"] != "WARN" || ls[0]["threshold"] == nil {
		t.Errorf("slow lines: %v", ls)
	}
	if v, _ := value(mustGather(t, b), "shoal_slow_requests_total", map[string]string{"surface": "agent"}); v != 1 {
		t.Errorf("slow requests %v, want 1", v)
	}
}

func mustGather(t *testing.T, a *Agent) []*dto.MetricFamily {
	_, fams := agentSeries(t, a)
	return fams
}

// TestAgentDashboard: every shoal_agent_ metric the Grafana dashboards
// query is exported by a running agent after a workload, and every
// shoal_agent_ metric it exports is shown (internal/server's
// TestDashboardMetricsExported checks the rest against a server).
func TestAgentDashboard(t *testing.T) {
	files, err := filepath.Glob("../../deploy/grafana/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	a := startAgent(t, Config{})
	tc := dialAgent(t, a)
	build(tc, t.TempDir())
	agentWorkload(t, tc, "x")
	_, fams := agentSeries(t, a)
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				exported[f.GetName()+suf] = true
			}
		}
	}
	name := regexp.MustCompile(`\bshoal_agent_[a-zA-Z0-9_]+`)
	queried := map[string]bool{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllString(string(b), -1) {
			queried[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")] = true
			if !exported[m] {
				t.Errorf("%s queries %s, which the agent does not export", filepath.Base(file), m)
			}
		}
		if !strings.Contains(string(b), `surface=\"agent\"`) && !strings.Contains(string(b), "by (surface)") {
			t.Errorf("%s shows no agent bytes", filepath.Base(file))
		}
	}
	for _, f := range fams {
		if n := f.GetName(); strings.HasPrefix(n, "shoal_agent_") && !queried[n] {
			t.Errorf("no dashboard shows %s", n)
		}
	}
}
