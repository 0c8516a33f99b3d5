package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/health"
	"github.com/shoalfs/shoal/internal/metrics"
)

// Observability (docs/metrics.md): every request through the dispatcher
// is timed by opcode name and outcome, its bytes counted and its one
// request-log line written through internal/metrics, whether or not
// metrics are served; with Config.MetricsListen the agent also serves
// /metrics, /healthz and /readyz there. Readiness is every shared Go
// client answering a StatFS (its server, or its data directory's engine)
// and the agent not stopping; an agent with no client yet is ready.

// MetricsEnv names the environment variable `shoal agent` takes as its
// --metrics-listen when the flag is not given: the Python package starts
// the agent with its own environment, so setting it in the process that
// first builds a Client turns metrics on for the agent it starts.
const MetricsEnv = "SHOAL_AGENT_METRICS"

// observer is the agent's metrics and health.
type observer struct {
	metrics *metrics.Set
	health  *health.Checker
	ln      net.Listener // Config.MetricsListen; nil when unset
	http    *http.Server
}

func newObserver(a *Agent) (*observer, error) {
	o := &observer{
		metrics: metrics.New(metrics.Options{
			Role:        "agent",
			Version:     a.cfg.Version,
			Logger:      a.cfg.Logger,
			SlowRequest: a.cfg.SlowRequest,
			Surfaces:    []string{metrics.SurfaceAgent},
		}),
		health: health.New(),
	}
	if err := o.metrics.Register(metrics.AgentCollector(a.sample)); err != nil {
		return nil, err
	}
	o.health.Add(health.Check{Name: "clients", Fn: a.clientsReady})
	if a.cfg.MetricsListen == "" {
		return o, nil
	}
	ln, err := net.Listen("tcp", a.cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("agent: metrics listen: %w", err)
	}
	o.ln = ln
	o.http = &http.Server{
		Handler:           o.health.Handle(http.NotFoundHandler(), map[string]http.Handler{"/metrics": o.metrics.Handler()}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	return o, nil
}

func (o *observer) serve() {
	if o.http != nil {
		go o.http.Serve(o.ln)
	}
}

func (o *observer) close() {
	o.health.Drain()
	if o.http != nil {
		o.http.Close()
	} else if o.ln != nil {
		o.ln.Close()
	}
}

// Metrics is the agent's metrics set (tests gather its registry).
func (a *Agent) Metrics() *metrics.Set { return a.obs.metrics }

// Health is the agent's readiness checker.
func (a *Agent) Health() *health.Checker { return a.obs.health }

// MetricsAddr is the address of Config.MetricsListen ("" when unset).
func (a *Agent) MetricsAddr() string {
	if a.obs.ln == nil {
		return ""
	}
	return a.obs.ln.Addr().String()
}

// sample reads the agent's state for a scrape: agent mu, then each
// session's (the documented order), then its scanners' own lock.
func (a *Agent) sample() metrics.AgentSample {
	a.mu.Lock()
	defer a.mu.Unlock()
	smp := metrics.AgentSample{Connections: len(a.mu.conns), Sessions: len(a.mu.sessions), Clients: len(a.mu.clients)}
	for _, s := range a.mu.sessions {
		s.mu.Lock()
		smp.Files += len(s.files)
		smp.Dirs += len(s.dirs)
		smp.Buffers += len(s.iovs)
		s.mu.Unlock()
		s.kv.mu.Lock()
		smp.Scanners += len(s.kv.mu.m)
		s.kv.mu.Unlock()
	}
	return smp
}

// clientsReady asks every shared client's filesystem for its usage: a
// read of the meta server or of the data directory's engine.
func (a *Agent) clientsReady(ctx context.Context) error {
	a.mu.Lock()
	entries := make([]*clientEntry, 0, len(a.mu.clients))
	for _, e := range a.mu.clients {
		entries = append(entries, e)
	}
	a.mu.Unlock()
	var errs []error
	for _, e := range entries {
		// A client closed meanwhile (lingered out) fails here; the next
		// probe no longer sees it.
		if _, err := e.c.WithContext(ctx).StatFS(); err != nil {
			at := e.spec.Addrs
			if e.spec.DataDir != "" {
				at = e.spec.DataDir
			}
			errs = append(errs, fmt.Errorf("%s (fs %q): %w", at, e.spec.FS, err))
		}
	}
	return errors.Join(errs...)
}

// agentReads are the opcodes that change nothing a caller can see; the
// request log writes them at Debug, every other at Info. OPEN is a read
// unless it may create or truncate (req.mutates); CLOSE, the session and
// buffer opcodes change only the agent's own state.
var agentReads = map[uint16]bool{
	OpPing: true, OpBuild: true, OpAttach: true, OpStop: true, OpSetOpt: true,
	OpLoadProgress: true, OpStatFS: true, OpStat: true, OpReadlink: true, OpRealpath: true, OpGetXattr: true, OpListXattr: true,
	OpListDir: true, OpOpenDir: true, OpReadDir: true, OpCloseDir: true, OpOpen: true, OpClose: true,
	OpPread: true, OpPreadIov: true, OpPreadv: true, OpFstat: true, OpIovReg: true, OpIovUnreg: true,
	OpShareFH: true, OpOpenFH: true, OpReadFile: true, OpStats: true,
	OpKVListTables: true, OpKVDescribeTable: true, OpKVGet: true, OpKVExist: true, OpKVTTL: true,
	OpKVMultiGet: true, OpKVMultiGetOpt: true, OpKVSortKeyCount: true, OpKVGetSortKeys: true,
	OpKVBatchGet: true, OpKVGetScanner: true, OpKVUnorderedScanners: true, OpKVNext: true, OpKVCloseScanner: true,
}

// result is what dispatch reports about the request it ran.
type result struct {
	spec    *opSpec // nil: an unknown opcode
	err     error   // as answered
	mutates bool    // an OPEN that may create or truncate
	path    string
	shmIn   int64 // bytes taken from the caller's shared memory (writes)
	shmOut  int64 // bytes put into it (reads)
}

// observe reports one finished request: frame bytes in and out, the
// shared-memory bytes, the outcome and the log line.
func (c *conn) observe(ctx context.Context, op uint16, start time.Time, res *result, in, out int) {
	name := "other"
	if res.spec != nil {
		name = res.spec.name
	}
	ar := metrics.AgentRequest{
		Op:       name,
		Mutation: !agentReads[op] || res.mutates,
		Start:    start,
		In:       int64(in) + res.shmIn,
		Out:      int64(out) + res.shmOut,
		Pid:      c.peer.pid,
		Path:     res.path,
	}
	if s := c.sess; s != nil {
		ar.Session = s.id
	}
	if res.err != nil {
		ar.Errno = syscall.Errno(errnoOf(res.err))
		ar.Err = res.err
		ar.RemoteID = shoal.RequestID(res.err)
	}
	c.a.obs.metrics.AgentDone(ctx, &ar)
}
