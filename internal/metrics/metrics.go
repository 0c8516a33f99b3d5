package metrics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultSlowRequest is Options.SlowRequest when unset.
const DefaultSlowRequest = time.Second

// Surfaces name where a request came in: the value of every "surface" label.
const (
	SurfaceGRPC  = "grpc"
	SurfaceS3    = "s3"
	SurfaceBlock = "block"
	SurfaceAgent = "agent"
)

// Options configures a Set. The zero value works: no request log.
type Options struct {
	// Role names the process ("server", "meta", "worker", "gateway", ...)
	// in shoal_build_info.
	Role string
	// Version is reported in shoal_build_info.
	Version string
	// Logger receives the request log (see the package doc). Nil discards.
	Logger *slog.Logger
	// SlowRequest is the duration past which a request is logged at Warn
	// (0: DefaultSlowRequest; negative: never).
	SlowRequest time.Duration
	// Surfaces are the surfaces the process serves, whose per-surface
	// series exist from the start (default: grpc, s3 and block, the
	// server roles'; the agent's is agent).
	Surfaces []string
}

// EnsureDefaults fills unset fields.
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SlowRequest == 0 {
		o.SlowRequest = DefaultSlowRequest
	}
	if o.Version == "" {
		o.Version = "(devel)"
	}
	if o.Surfaces == nil {
		o.Surfaces = []string{SurfaceGRPC, SurfaceS3, SurfaceBlock}
	}
}

// Set is the metrics of one process: its registry and the request
// instruments. Its methods are safe for concurrent use.
type Set struct {
	opts Options
	log  *slog.Logger
	reg  *prometheus.Registry

	idPrefix string
	seq      atomic.Uint64

	grpcDur  *prometheus.HistogramVec
	s3Dur    *prometheus.HistogramVec
	blockDur *prometheus.HistogramVec
	agentDur *prometheus.HistogramVec
	mountDur *prometheus.HistogramVec
	kvOps    *prometheus.CounterVec
	reqBytes *prometheus.CounterVec
	rspBytes *prometheus.CounterVec
	inflight *prometheus.GaugeVec
	slow     *prometheus.CounterVec

	storeDur   *prometheus.HistogramVec
	storeBytes *prometheus.CounterVec
}

// latencyBuckets span 100µs (a cached lookup) to 30s (a large S3 upload).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New returns a Set with the process collectors (go_*, process_*) and
// shoal_build_info registered.
func New(opts Options) *Set {
	opts.EnsureDefaults()
	s := &Set{opts: opts, log: opts.Logger, reg: prometheus.NewRegistry()}
	var b [4]byte
	rand.Read(b[:])
	s.idPrefix = hex.EncodeToString(b[:])

	s.grpcDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shoal_grpc_request_duration_seconds",
		Help:    "Latency of gRPC API calls by service, method and status code.",
		Buckets: latencyBuckets,
	}, []string{"service", "method", "code"})
	s.s3Dur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shoal_s3_request_duration_seconds",
		Help:    "Latency of S3 requests by action and HTTP status code.",
		Buckets: latencyBuckets,
	}, []string{"action", "code"})
	s.blockDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shoal_block_request_duration_seconds",
		Help:    "Latency of block HTTP requests by operation and HTTP status code.",
		Buckets: latencyBuckets,
	}, []string{"op", "code"})
	s.agentDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shoal_agent_request_duration_seconds",
		Help:    "Latency of the agent's requests by opcode name and outcome (ok or the errno's name).",
		Buckets: latencyBuckets,
	}, []string{"op", "outcome"})
	s.mountDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shoal_mount_request_duration_seconds",
		Help:    "Latency of the FUSE requests `shoal mount` served, by request name and outcome (ok or the errno's name).",
		Buckets: latencyBuckets,
	}, []string{"op", "outcome"})
	s.kvOps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_kv_operations_total",
		Help: "KV table operations served over gRPC, by operation and status code.",
	}, []string{"op", "code"})
	s.reqBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_request_bytes_total",
		Help: "Bytes received from clients (written by them), by surface.",
	}, []string{"surface"})
	s.rspBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_response_bytes_total",
		Help: "Bytes sent to clients (read by them), by surface.",
	}, []string{"surface"})
	s.inflight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shoal_requests_in_flight",
		Help: "Requests being served, by surface.",
	}, []string{"surface"})
	s.slow = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_slow_requests_total",
		Help: "Requests slower than the --slow-request threshold, by surface.",
	}, []string{"surface"})
	s.storeDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shoal_store_request_duration_seconds",
		Help:    "Latency of block store calls by store kind, operation and outcome (ok, not_found, canceled, error).",
		Buckets: latencyBuckets,
	}, []string{"store", "op", "outcome"})
	s.storeBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_store_bytes_total",
		Help: "Object bytes read from (op get) and written to (op put) block stores, by store kind.",
	}, []string{"store", "op"})
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "shoal_build_info",
		Help:        "Always 1; the labels name the version and role of the process.",
		ConstLabels: prometheus.Labels{"version": opts.Version, "role": opts.Role},
	})
	info.Set(1)
	start := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "shoal_start_time_seconds",
		Help: "When the process started, in seconds since the epoch.",
	})
	start.Set(float64(time.Now().UnixNano()) / 1e9)
	s.reg.MustRegister(s.grpcDur, s.s3Dur, s.blockDur, s.agentDur, s.mountDur, s.kvOps, s.reqBytes, s.rspBytes, s.inflight, s.slow, s.storeDur, s.storeBytes, info, start,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series that exist from the start, so dashboards and rate() see
	// zero rather than nothing before the first request.
	for _, sf := range opts.Surfaces {
		s.reqBytes.WithLabelValues(sf)
		s.rspBytes.WithLabelValues(sf)
		s.inflight.WithLabelValues(sf)
		s.slow.WithLabelValues(sf)
	}
	return s
}

// Registry is the Set's registry, for tests and for Register.
func (s *Set) Registry() *prometheus.Registry { return s.reg }

// Register adds collectors (the process's own: filesystems, engines).
func (s *Set) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := s.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Handler serves the registry in the Prometheus text format (/metrics).
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)})
}

// newID returns a process-unique request id.
func (s *Set) newID() string {
	return s.idPrefix + "-" + strconv.FormatUint(s.seq.Add(1), 16)
}

// done is what a finished request reports to the log.
type done struct {
	surface  string
	op       string
	code     string
	id       string
	mutation bool
	failed   bool // a server-side failure (5xx, Internal...)
	dur      time.Duration
	ttfb     time.Duration // until the response header; 0 when unknown
	in, out  int64
	attrs    []slog.Attr
	// more appends attributes that cost something to build, called only
	// when the line is written.
	more func([]slog.Attr) []slog.Attr
}

// logRequest writes d's one line: Warn if slow, else Info for mutations
// and server failures, Debug for reads.
func (s *Set) logRequest(ctx context.Context, d *done) {
	lvl := slog.LevelDebug
	if d.mutation || d.failed {
		lvl = slog.LevelInfo
	}
	slow := s.opts.SlowRequest > 0 && d.dur >= s.opts.SlowRequest
	if slow {
		lvl = slog.LevelWarn
		s.slow.WithLabelValues(d.surface).Inc()
	}
	if !s.log.Enabled(ctx, lvl) {
		return
	}
	attrs := make([]slog.Attr, 0, 10+len(d.attrs))
	attrs = append(attrs,
		slog.String("surface", d.surface),
		slog.String("op", d.op),
		slog.String("code", d.code),
		slog.String("id", d.id),
		slog.Duration("dur", d.dur),
	)
	if d.in > 0 {
		attrs = append(attrs, slog.Int64("in", d.in))
	}
	if d.out > 0 {
		attrs = append(attrs, slog.Int64("out", d.out))
	}
	attrs = append(attrs, d.attrs...)
	if d.more != nil {
		attrs = d.more(attrs)
	}
	if slow {
		// The breakdown we can measure from outside the handler: time
		// to the response header (the work) and the rest (the transfer).
		if d.ttfb > 0 {
			attrs = append(attrs, slog.Duration("to_header", d.ttfb), slog.Duration("transfer", d.dur-d.ttfb))
		}
		attrs = append(attrs, slog.Duration("threshold", s.opts.SlowRequest))
	}
	msg := "request"
	if slow {
		msg = "slow request"
	}
	s.log.LogAttrs(ctx, lvl, msg, attrs...)
}
