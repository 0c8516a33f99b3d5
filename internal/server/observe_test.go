package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	dto "github.com/prometheus/client_model/go"

	shoal "github.com/shoalfs/shoal"
	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/rpc"
	"github.com/shoalfs/shoal/internal/server"
)

// marker is in every name the workloads choose: no label may contain it.
const marker = "zq"

// workload drives every surface with names made from round, so a second
// round uses names the first never did.
func workload(t *testing.T, srv *server.Server, round int) {
	t.Helper()
	ctx := context.Background()
	c := dial(t, srv.Addr())
	dir := fmt.Sprintf("%sdir%d", marker, round)
	must(t, c.Mkdir(dir, 0o755))
	for i := range 5 {
		name := fmt.Sprintf("%s/%sfile%d-%d", dir, marker, round, i)
		must(t, c.WriteFile(name, bytes.Repeat([]byte{byte(i)}, 1000*(i+1)), 0o644))
		if _, err := c.ReadFile(name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Stat(fmt.Sprintf("%smissing%d", marker, round)); err == nil {
		t.Fatal("stat of a missing file succeeded")
	}
	must(t, c.Rename(dir+"/"+marker+"file"+strconv.Itoa(round)+"-0", dir+"/"+marker+"renamed"))
	must(t, c.Remove(dir+"/"+marker+"renamed"))

	table := fmt.Sprintf("%stable%d", marker, round)
	if _, err := c.CreateTable(table, shoal.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	tb := c.Table(table)
	for i := range 5 {
		must(t, tb.Set([]byte(fmt.Sprintf("%shash%d", marker, i)), []byte(marker+"sort"), []byte("v"), 0))
		if _, _, err := tb.Get([]byte(fmt.Sprintf("%shash%d", marker, i)), []byte(marker+"sort")); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.Table(marker+"notable").Get([]byte("h"), []byte("s")); err == nil {
		t.Fatal("get from a missing table succeeded")
	}

	ak, sk := srv.S3Keys()
	s3c := awss3.New(awss3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
		BaseEndpoint: aws.String("http://" + srv.S3Addr()),
		UsePathStyle: true,
	})
	bucket := fmt.Sprintf("%sbucket%d", marker, round)
	if _, err := s3c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		key := fmt.Sprintf("%skey/%d/%d", marker, round, i)
		if _, err := s3c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("data")}); err != nil {
			t.Fatal(err)
		}
		out, err := s3c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
	}
	// An object in blocks (not inline), read twice: the gateway's block
	// cache misses, then hits.
	big := bytes.Repeat([]byte{byte(round)}, 300<<10)
	bigKey := fmt.Sprintf("%sbig%d", marker, round)
	if _, err := s3c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(bigKey), Body: bytes.NewReader(big)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		out, err := s3c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(bigKey)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("GetObject of %s: %d bytes, %v", bigKey, len(got), err)
		}
	}
	if _, err := s3c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(marker + "nokey")}); err == nil {
		t.Fatal("head of a missing key succeeded")
	}
	if _, err := s3c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	// Requests no router knows, with user input where a label might pick it up.
	for _, base := range []string{"http://" + srv.S3Addr(), "http://" + srv.WorkerAddr()} {
		for _, m := range []string{"GET", "PUT", marker + "METHOD" + strconv.Itoa(round)} {
			req, _ := http.NewRequest(m, base+"/"+marker+"junk"+strconv.Itoa(round)+"/x?"+marker+"q=1", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// grpcMethods are the method names of every service the server registers.
func grpcMethods() map[string]bool {
	out := map[string]bool{"Check": true, "Watch": true, "List": true}
	for _, d := range []grpc.ServiceDesc{pb.Meta_ServiceDesc, pb.Session_ServiceDesc, pb.Admin_ServiceDesc,
		pb.KV_ServiceDesc, pb.Inline_ServiceDesc, pb.Clone_ServiceDesc, pb.Cluster_ServiceDesc} {
		for _, m := range d.Methods {
			out[m.MethodName] = true
		}
		for _, s := range d.Streams {
			out[s.StreamName] = true
		}
	}
	return out
}

var (
	s3ActionRE = regexp.MustCompile(`^([A-Z][A-Za-z0-9]{2,40}|GET|HEAD|PUT|POST|DELETE|OPTIONS|PATCH|other)$`)
	httpCodeRE = regexp.MustCompile(`^[1-5][0-9][0-9]$`)
)

// checkLabels asserts that every label of every shoal_ series comes from
// its bounded set, and returns the number of shoal_ series.
func checkLabels(t *testing.T, srv *server.Server) int {
	t.Helper()
	fams, err := srv.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	methods := grpcMethods()
	series := 0
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, "shoal_") {
			continue
		}
		for _, m := range f.GetMetric() {
			series++
			for _, lp := range m.GetLabel() {
				k, v := lp.GetName(), lp.GetValue()
				if strings.Contains(strings.ToLower(v), marker) {
					t.Errorf("%s{%s=%q}: a label carries user input", name, k, v)
				}
				ok := false
				switch k {
				case "surface":
					ok = v == "grpc" || v == "s3" || v == "block" || v == "agent"
				case "service":
					ok = strings.HasPrefix(v, "shoal.v1.") || v == "grpc.health.v1.Health"
				case "method":
					ok = methods[v]
				case "op":
					if name == "shoal_kv_operations_total" {
						ok = methods[v]
					} else if strings.HasPrefix(name, "shoal_store_") {
						ok = map[string]bool{"get": true, "head": true, "put": true, "delete": true, "list": true, "sync": true, "open": true}[v]
					} else {
						ok = map[string]bool{"get": true, "head": true, "put": true, "delete": true, "list": true, "sync": true, "other": true, "post": true, "options": true, "patch": true}[v]
					}
				case "action":
					ok = s3ActionRE.MatchString(v)
				case "code":
					if strings.HasPrefix(name, "shoal_grpc_") || name == "shoal_kv_operations_total" {
						ok = regexp.MustCompile(`^[A-Z][A-Za-z]+$`).MatchString(v)
					} else {
						ok = httpCodeRE.MatchString(v)
					}
				case "fs":
					ok = v == "default"
				case "version":
					ok = v == "(devel)" || v == "test"
				case "role":
					ok = v == "server"
				case "engine":
					ok = v == "badger"
				case "type":
					ok = v == "update" || v == "view"
				case "outcome":
					if strings.HasPrefix(name, "shoal_engine_") {
						ok = map[string]bool{"committed": true, "aborted": true, "conflict": true, "canceled": true, "failed": true}[v]
					} else {
						ok = map[string]bool{"ok": true, "not_found": true, "canceled": true, "error": true}[v]
					}
				case "store":
					ok = v == "local" || v == "remote"
				case "tier":
					ok = v == "memory"
				case "state":
					ok = v == "running" || v == "succeeded" || v == "failed" || v == "stopped"
				}
				if !ok {
					t.Errorf("%s: label %s=%q is outside its bounded set", name, k, v)
				}
			}
		}
	}
	return series
}

// TestMetricsBoundedLabels scrapes after a mixed workload (files, KV,
// S3, stray requests) that every label value comes from a bounded set,
// and that a second round with fresh names adds no series.
func TestMetricsBoundedLabels(t *testing.T) {
	srv, _ := start(t, server.Config{S3: s3On(), MetricsListen: "127.0.0.1:0"})
	workload(t, srv, 1)
	n1 := checkLabels(t, srv)
	workload(t, srv, 2)
	n2 := checkLabels(t, srv)
	t.Logf("shoal_ series: %d after one round, %d after two", n1, n2)
	if n2 != n1 {
		t.Errorf("a second round with new names grew the series from %d to %d", n1, n2)
	}
	if n1 > 400 {
		t.Errorf("%d shoal_ series: not bounded", n1)
	}

	// The scrape endpoints: the block port and --metrics-listen.
	for _, addr := range []string{srv.WorkerAddr(), srv.MetricsAddr()} {
		body := get(t, "http://"+addr+"/metrics", http.StatusOK)
		for _, want := range []string{
			`shoal_grpc_request_duration_seconds_count{code="OK",method="Mkdir",service="shoal.v1.Meta"}`,
			`shoal_s3_request_duration_seconds_count{action="PutObject",code="200"}`,
			`shoal_s3_request_duration_seconds_count{action="HeadObject",code="404"}`,
			`shoal_block_request_duration_seconds_count{code="`,
			`shoal_kv_operations_total{code="OK",op="Set"}`,
			`shoal_request_bytes_total{surface="s3"}`,
			`shoal_fs_inodes{fs="default"}`,
			`shoal_fs_sessions{fs="default"}`,
			`shoal_build_info{role="server"`,
			`go_goroutines`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s/metrics lacks %s", addr, want)
			}
		}
	}
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, want, b)
	}
	return string(b)
}

// TestHealth checks the probe endpoints and the gRPC health service,
// which answers without a token on a server that has tokens.
func TestHealth(t *testing.T) {
	srv, stop := start(t, server.Config{MetricsListen: "127.0.0.1:0",
		Tokens: map[string]rpc.Token{"tok": {Super: true}}})
	for _, addr := range []string{srv.WorkerAddr(), srv.MetricsAddr()} {
		get(t, "http://"+addr+"/healthz", http.StatusOK)
		get(t, "http://"+addr+"/readyz", http.StatusOK)
	}
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(grpccreds.NewCredentials()))
	must(t, err)
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	waitServing(t, hc, "", healthpb.HealthCheckResponse_SERVING)
	waitServing(t, hc, "shoal.v1.Meta", healthpb.HealthCheckResponse_SERVING)

	// Draining: readiness fails once the server starts stopping. Stop
	// waits for in-flight calls, so watch from a stream opened before.
	wctx, cancel := context.WithCancel(context.Background())
	w, err := hc.Watch(wctx, &healthpb.HealthCheckRequest{})
	must(t, err)
	if r, err := w.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v %v", r, err)
	}
	done := make(chan error, 1)
	go func() { done <- stop() }()
	r, err := w.Recv()
	if err == nil && r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("while draining: %v", r.Status)
	}
	cancel() // let the graceful stop finish
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitServing(t *testing.T, hc healthpb.HealthClient, svc string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err == nil && r.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %q: %v %v, want %v", svc, r, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedBuffer is a log sink the server's goroutines share.
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
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

// TestRequestLog checks one JSON line per request: Info for mutations,
// Debug for reads, the S3 request id equal to x-amz-request-id, the gRPC
// id naming the client's session and request, and Warn past the slow
// threshold.
func TestRequestLog(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, _ := start(t, server.Config{S3: s3On(), Logger: log, SlowRequest: -1})
	c := dial(t, srv.Addr())
	must(t, c.Mkdir("logdir", 0o755))
	if _, err := c.Stat("logdir"); err != nil {
		t.Fatal(err)
	}
	ak, sk := srv.S3Keys()
	s3c := awss3.New(awss3.Options{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
		BaseEndpoint: aws.String("http://" + srv.S3Addr()), UsePathStyle: true})
	if _, err := s3c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String("logbkt")}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.S3Addr() + "/logbkt/nokey")
	must(t, err)
	resp.Body.Close()
	amzID := resp.Header.Get("x-amz-request-id")

	find := func(pred func(map[string]any) bool) map[string]any {
		for _, l := range buf.lines(t) {
			if l["msg"] == "request" || l["msg"] == "slow request" {
				if pred(l) {
					return l
				}
			}
		}
		return nil
	}
	// Lines are written after the response: wait for the last one.
	deadline := time.Now().Add(5 * time.Second)
	for find(func(l map[string]any) bool { return l["id"] == amzID }) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	l := find(func(l map[string]any) bool { return l["id"] == amzID })
	if l == nil || l["surface"] != "s3" || l["op"] != "GetObject" || l["code"] != "403" && l["code"] != "404" || l["level"] != "DEBUG" {
		t.Errorf("S3 read line for %s: %v", amzID, l)
	}
	l = find(func(l map[string]any) bool { return l["op"] == "CreateBucket" })
	if l == nil || l["level"] != "INFO" || l["code"] != "200" {
		t.Errorf("S3 mutation line: %v", l)
	}
	l = find(func(l map[string]any) bool { return l["op"] == "shoal.v1.Meta/Mkdir" })
	if l == nil || l["level"] != "INFO" || l["code"] != "OK" || !regexp.MustCompile(`^[0-9]+\.[0-9]+$`).MatchString(fmt.Sprint(l["id"])) {
		t.Errorf("gRPC mutation line (want id SESSION.REQUEST): %v", l)
	}
	l = find(func(l map[string]any) bool {
		return l["op"] == "shoal.v1.Meta/Lookup" || l["op"] == "shoal.v1.Meta/Resolve"
	})
	if l == nil || l["level"] != "DEBUG" {
		t.Errorf("gRPC read line: %v", l)
	}
}

// TestRequestIDInClientError: a failed call's SDK error names the request
// id the server logged it under, for a mutation (SESSION.REQUEST) and for a
// read (an id of the server's).
func TestRequestIDInClientError(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, _ := start(t, server.Config{Logger: log, SlowRequest: -1})
	c := dial(t, srv.Addr())
	must(t, c.Mkdir("iddir", 0o755))
	mkErr := c.Mkdir("iddir", 0o755)
	_, statErr := c.Stat("iddir/missing")
	for _, tc := range []struct {
		name string
		err  error
		id   *regexp.Regexp
		code string
	}{
		{"mkdir", mkErr, regexp.MustCompile(`^[0-9]+\.[0-9]+$`), "AlreadyExists"},
		{"stat", statErr, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]+$`), "NotFound"},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		id := shoal.RequestID(tc.err)
		t.Logf("%s: %v", tc.name, tc.err)
		if !tc.id.MatchString(id) {
			t.Errorf("%s: request id %q in %v, want %v", tc.name, id, tc.err, tc.id)
			continue
		}
		if !strings.Contains(tc.err.Error(), "(request "+id+")") {
			t.Errorf("%s: message %q does not show the request id", tc.name, tc.err)
		}
		var line map[string]any
		for deadline := time.Now().Add(5 * time.Second); line == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			for _, l := range buf.lines(t) {
				if l["msg"] == "request" && l["surface"] == "grpc" && l["id"] == id {
					line = l
				}
			}
		}
		if line == nil || line["code"] != tc.code {
			t.Errorf("%s: server log line for request %s: %v, want code %s", tc.name, id, line, tc.code)
		}
	}
	if _, err := c.Stat("iddir"); err != nil {
		t.Fatal(err)
	}
	if id := shoal.RequestID(errors.New("local")); id != "" {
		t.Errorf("RequestID of a local error = %q", id)
	}
}

// TestSlowRequestLog: past the threshold every request is a Warn line
// with its timing.
func TestSlowRequestLog(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, _ := start(t, server.Config{Logger: log, SlowRequest: time.Nanosecond})
	c := dial(t, srv.Addr())
	must(t, c.WriteFile("slow", []byte("x"), 0o644))
	var found bool
	for _, l := range buf.lines(t) {
		if l["msg"] == "slow request" && l["level"] == "WARN" && l["threshold"] != nil && l["dur"] != nil {
			found = true
		}
	}
	if !found {
		t.Errorf("no slow-request line in:\n%s", buf.b.String())
	}
	body := get(t, "http://"+srv.WorkerAddr()+"/metrics", http.StatusOK)
	if !strings.Contains(body, `shoal_slow_requests_total{surface="grpc"}`) {
		t.Error("shoal_slow_requests_total missing")
	}
}

// exprs collects every "expr" string in a Grafana dashboard.
func exprs(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "expr" {
				*out = append(*out, s)
			} else {
				exprs(x, out)
			}
		}
	case []any:
		for _, x := range v {
			exprs(x, out)
		}
	}
}

// TestDashboardMetricsExported checks that every metric the Grafana
// dashboards under deploy/grafana query is exported by a running server
// after a workload, and that the dashboards cover every shoal_ metric.
func TestDashboardMetricsExported(t *testing.T) {
	files, err := filepath.Glob("../../deploy/grafana/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	srv, _ := start(t, server.Config{S3: s3On()})
	workload(t, srv, 1)
	fams, err := srv.Metrics().Registry().Gather()
	must(t, err)
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				exported[f.GetName()+suf] = true
			}
		}
	}
	name := regexp.MustCompile(`\b(?:shoal|go|process)_[a-zA-Z0-9_]+`)
	queried := map[string]bool{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		must(t, err)
		var d any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var es []string
		exprs(d, &es)
		if len(es) == 0 {
			t.Errorf("%s queries nothing", file)
		}
		for _, e := range es {
			for _, m := range name.FindAllString(e, -1) {
				if strings.HasPrefix(m, "shoal_agent_") {
					continue // the agent's: internal/agent's TestAgentDashboard
				}
				queried[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")] = true
				if !exported[m] {
					t.Errorf("%s: %q queries %s, which the server does not export", filepath.Base(file), e, m)
				}
			}
		}
	}
	for _, f := range fams {
		if n := f.GetName(); strings.HasPrefix(n, "shoal_") && !queried[n] {
			t.Errorf("no dashboard shows %s", n)
		}
	}
}

// sample returns the value of the series of name whose labels include
// want (a counter, gauge or a histogram's count), and whether it exists.
func sample(t *testing.T, srv *server.Server, name string, want map[string]string) (float64, bool) {
	t.Helper()
	fams, err := srv.Metrics().Registry().Gather()
	must(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
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

// TestEngineStoreCacheMetrics: after a workload the engine's
// transactions, the block store's calls and bytes and the S3 gateway's
// block cache show what it did.
func TestEngineStoreCacheMetrics(t *testing.T) {
	srv, _ := start(t, server.Config{S3: s3On()})
	workload(t, srv, 1)
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"shoal_engine_transactions_total", map[string]string{"engine": "badger", "type": "update", "outcome": "committed"}},
		{"shoal_engine_transactions_total", map[string]string{"engine": "badger", "type": "view", "outcome": "committed"}},
		{"shoal_engine_transactions_total", map[string]string{"engine": "badger", "type": "view", "outcome": "aborted"}}, // the missing names
		{"shoal_engine_transaction_seconds_total", map[string]string{"engine": "badger", "type": "update"}},
		{"shoal_store_request_duration_seconds", map[string]string{"store": "local", "op": "put", "outcome": "ok"}},
		{"shoal_store_request_duration_seconds", map[string]string{"store": "local", "op": "get", "outcome": "ok"}},
		{"shoal_store_bytes_total", map[string]string{"store": "local", "op": "put"}},
		{"shoal_store_bytes_total", map[string]string{"store": "local", "op": "get"}},
		{"shoal_cache_misses_total", map[string]string{"tier": "memory"}},
		{"shoal_cache_hits_total", map[string]string{"tier": "memory"}}, // the big object's second read
		{"shoal_cache_bytes", map[string]string{"tier": "memory"}},
		{"shoal_cache_capacity_bytes", map[string]string{"tier": "memory"}},
	} {
		if v, ok := sample(t, srv, c.name, c.labels); !ok || v <= 0 {
			t.Errorf("%s%v = %v (exported: %v), want > 0", c.name, c.labels, v, ok)
		}
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"shoal_engine_transactions_total", map[string]string{"outcome": "failed", "type": "update"}},
		{"shoal_engine_transactions_total", map[string]string{"outcome": "conflict", "type": "update"}},
		{"shoal_cache_evictions_total", map[string]string{"tier": "memory"}}, // far below 256 MiB
	} {
		if v, ok := sample(t, srv, c.name, c.labels); !ok || v != 0 {
			t.Errorf("%s%v = %v (exported: %v), want 0", c.name, c.labels, v, ok)
		}
	}
	bytesPut, _ := sample(t, srv, "shoal_store_bytes_total", map[string]string{"op": "put"})
	if bytesPut < 300<<10 {
		t.Errorf("store bytes put %v, want at least the big object's %d", bytesPut, 300<<10)
	}
}
