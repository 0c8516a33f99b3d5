package metrics

import (
	"context"
	"log/slog"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// AgentRequest is one request `shoal agent` served (internal/agent's
// dispatcher reports it once the response is written).
type AgentRequest struct {
	// Op is the opcode's name in the agent's table, or "other" for an
	// opcode the table does not have: the bounded "op" label.
	Op string
	// Errno is the errno answered, 0 for success.
	Errno syscall.Errno
	// Mutation marks a request that may change what a caller can see
	// (logged at Info; reads at Debug).
	Mutation bool
	Start    time.Time
	// In and Out are the bytes from and to the caller: the request and
	// response frames and the shared-memory bytes the request consumed
	// (a write) or filled (a read).
	In, Out int64
	// For the log line only: the caller's session (0: none yet) and
	// process, what the request named, and its error with the request
	// id of the server call that failed, if one did.
	Session  uint64
	Pid      int32
	Path     string
	Err      error
	RemoteID string
}

// AgentOutcome is the "outcome" label of an errno: "ok" for 0, else the
// errno's name ("ENOENT"), or "other" for a number the kernel's table
// does not name, so the label takes at most the table's values.
func AgentOutcome(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return "other"
}

// AgentBegin counts a request in flight; AgentDone ends it.
func (s *Set) AgentBegin() { s.inflight.WithLabelValues(SurfaceAgent).Inc() }

// AgentDone records r: its latency by op and outcome, its bytes, and its
// request-log line.
func (s *Set) AgentDone(ctx context.Context, r *AgentRequest) {
	s.inflight.WithLabelValues(SurfaceAgent).Dec()
	d := time.Since(r.Start)
	outcome := AgentOutcome(r.Errno)
	s.agentDur.WithLabelValues(r.Op, outcome).Observe(d.Seconds())
	s.reqBytes.WithLabelValues(SurfaceAgent).Add(float64(r.In))
	s.rspBytes.WithLabelValues(SurfaceAgent).Add(float64(r.Out))
	s.logRequest(ctx, &done{
		surface:  SurfaceAgent,
		op:       r.Op,
		code:     outcome,
		id:       s.newID(),
		mutation: r.Mutation,
		failed:   r.Errno == syscall.EIO, // the agent's "internal error": fserr's unclassified failures
		dur:      d,
		in:       r.In,
		out:      r.Out,
		more: func(attrs []slog.Attr) []slog.Attr {
			if r.Session != 0 {
				attrs = append(attrs, slog.Uint64("session", r.Session))
			}
			attrs = append(attrs, slog.Int("pid", int(r.Pid)))
			if r.Path != "" {
				attrs = append(attrs, slog.String("path", r.Path))
			}
			if r.Err != nil {
				attrs = append(attrs, slog.String("err", r.Err.Error()))
			}
			if r.RemoteID != "" {
				attrs = append(attrs, slog.String("remote_id", r.RemoteID))
			}
			return attrs
		},
	})
}

// AgentSample is the agent's state at a scrape.
type AgentSample struct {
	Connections int
	Sessions    int
	Clients     int // shared Go clients open (one per server or data directory, filesystem and identity)
	// Handles open in sessions, by kind.
	Files, Dirs, Scanners, Buffers int
}

var (
	agentConns    = prometheus.NewDesc("shoal_agent_connections", "Caller connections to the agent.", nil, nil)
	agentSessions = prometheus.NewDesc("shoal_agent_sessions", "Caller sessions (Python Client objects) in the agent.", nil, nil)
	agentClients  = prometheus.NewDesc("shoal_agent_clients", "Go SDK clients the agent holds open, lingering ones included.", nil, nil)
	agentHandles  = prometheus.NewDesc("shoal_agent_open_handles", "Handles open in the agent's sessions, by kind (file, dir, scanner, buffer).", []string{"kind"}, nil)
)

// AgentCollector reports the agent's state read returns at each scrape.
func AgentCollector(read func() AgentSample) prometheus.Collector { return agentCollector{read} }

type agentCollector struct{ read func() AgentSample }

func (agentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{agentConns, agentSessions, agentClients, agentHandles} {
		ch <- d
	}
}

func (c agentCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.read()
	g := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	g(agentConns, s.Connections)
	g(agentSessions, s.Sessions)
	g(agentClients, s.Clients)
	g(agentHandles, s.Files, "file")
	g(agentHandles, s.Dirs, "dir")
	g(agentHandles, s.Scanners, "scanner")
	g(agentHandles, s.Buffers, "buffer")
}
