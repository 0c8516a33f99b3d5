package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/datadir"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/health"
	"github.com/shoalfs/shoal/internal/metrics"
	"github.com/shoalfs/shoal/internal/objstore"
)

// Observability (docs/metrics.md): every request of every listener goes
// through internal/metrics (timing, bytes, the request log); /metrics,
// /healthz and /readyz are served on the block HTTP port and on
// Config.MetricsListen; the gRPC port serves grpc.health.v1. Readiness is
// the engine answering a read (meta role) and the default filesystem's
// block store answering a lookup (worker role), and not draining.
//
// The probe endpoints need no token: they disclose counts and filesystem
// names, never data, and a load balancer's probe carries no credentials.

// observer is the server's metrics and health.
type observer struct {
	s       *Server
	metrics *metrics.Set
	health  *health.Checker

	ln   net.Listener // MetricsListen; nil when unset
	http *http.Server

	stop context.CancelFunc
	wg   sync.WaitGroup
}

func newObserver(s *Server) (*observer, error) {
	o := &observer{s: s}
	o.metrics = metrics.New(metrics.Options{
		Role:        s.cfg.Roles.String(),
		Version:     s.cfg.Version,
		Logger:      s.cfg.Logger,
		SlowRequest: s.cfg.SlowRequest,
	})
	if err := o.metrics.Register(metrics.FSCollector(o.samples), metrics.EngineCollector(o.engine),
		metrics.CacheCollector(o.cacheStats), metrics.LoadCollector(o.loadSample)); err != nil {
		return nil, err
	}
	o.health = health.New()
	if s.cfg.MetricsListen != "" {
		ln, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			return nil, fserr.E("server.New", s.cfg.MetricsListen, fserr.IO, err)
		}
		o.ln = ln
		o.http = &http.Server{
			Handler:           o.endpoints(http.NotFoundHandler()),
			ReadHeaderTimeout: 10 * time.Second,
		}
	}
	return o, nil
}

// addChecks registers the readiness checks of the roles (once New has
// opened the engine and the registry).
func (o *observer) addChecks() {
	s := o.s
	if s.eng != nil {
		o.health.Add(health.Engine("engine", s.eng))
	}
	if s.cfg.Roles&RoleWorker != 0 {
		o.health.Add(health.Store("store", func() (objstore.Store, error) { return s.reg.blockStore(datadir.DefaultFS) }))
	}
}

// store wraps a block store the process opens so that its calls are
// counted (kind is one of metrics' Store kinds).
func (o *observer) store(kind string, st objstore.Store) objstore.Store {
	return o.metrics.Store(kind, st)
}

// engine is the metadata engine when it counts its transactions (read at
// scrape time: New opens it after the observer).
func (o *observer) engine() metrics.StatsEngine {
	if se, ok := any(o.s.eng).(metrics.StatsEngine); ok && o.s.eng != nil {
		return se
	}
	return nil
}

// dataStatser is the S3 gateway's Closer when it can report its data
// layer's counters (internal/cli's does).
type dataStatser interface{ DataStats() data.Stats }

// cacheStats are the process's data layers' counters: the GC layer of
// each filesystem and the S3 gateway's client.
func (o *observer) cacheStats() []data.Stats {
	var stats []data.Stats
	for _, st := range o.s.reg.states() {
		if st.gc != nil {
			stats = append(stats, st.gc.Stats())
		}
	}
	if r := o.s.s3; r != nil {
		if ds, ok := r.closer.(dataStatser); ok {
			stats = append(stats, ds.DataStats())
		}
	}
	return stats
}

// endpoints serves /metrics, /healthz and /readyz in front of next.
func (o *observer) endpoints(next http.Handler) http.Handler {
	return o.health.Handle(next, map[string]http.Handler{"/metrics": o.metrics.Handler()})
}

// grpcOptions go before the rpc server's own options (see metrics.GRPCOptions).
func (o *observer) grpcOptions() []grpc.ServerOption { return o.metrics.GRPCOptions() }

// registerGRPC adds the health service to g.
func (o *observer) registerGRPC(g *grpc.Server) {
	var names []string
	for name := range g.GetServiceInfo() {
		names = append(names, name)
	}
	o.health.RegisterGRPC(g, names...)
}

// blockHandler wraps the block server: instrumented, behind the endpoints.
func (o *observer) blockHandler(bs http.Handler) http.Handler {
	return o.endpoints(o.metrics.Block(bs))
}

// s3Handler instruments the S3 gateway.
func (o *observer) s3Handler(gw http.Handler) http.Handler { return o.metrics.S3(gw) }

// serve starts the metrics listener and the gRPC health updates; it
// returns how many servers it started into errc.
func (o *observer) serve(errc chan<- error) int {
	ctx, cancel := context.WithCancel(context.Background())
	o.stop = cancel
	if o.s.grpc != nil {
		o.wg.Go(func() { o.health.Watch(ctx, 0) })
	}
	if o.http == nil {
		return 0
	}
	go func() {
		err := o.http.Serve(o.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	return 1
}

// drain makes readiness fail: the process is stopping.
func (o *observer) drain() {
	o.health.Drain()
	if o.stop != nil {
		o.stop()
	}
	o.wg.Wait()
}

func (o *observer) shutdown(ctx context.Context) {
	if o.http != nil {
		if err := o.http.Shutdown(ctx); err != nil {
			o.http.Close()
		}
	}
}

func (o *observer) close() {
	if o == nil {
		return
	}
	if o.stop != nil {
		o.stop()
	}
	o.wg.Wait()
	if o.http != nil {
		o.http.Close()
	} else if o.ln != nil {
		o.ln.Close()
	}
}

// MetricsAddr is the address of Config.MetricsListen ("" when unset).
func (s *Server) MetricsAddr() string {
	if s.obs == nil || s.obs.ln == nil {
		return ""
	}
	return advertised(s.obs.ln.Addr())
}

// Metrics is the process's metrics set (tests scrape its registry).
func (s *Server) Metrics() *metrics.Set { return s.obs.metrics }

// Health is the process's readiness checker.
func (s *Server) Health() *health.Checker { return s.obs.health }

// samples reads every open filesystem's state for a scrape.
func (o *observer) samples(ctx context.Context) []metrics.FSSample {
	var out []metrics.FSSample
	for _, st := range o.s.reg.states() {
		if st.fs == nil {
			continue // a worker alone knows no namespace
		}
		smp := metrics.FSSample{Name: st.info.Name}
		usage, err := st.fs.StatFS(ctx)
		if err == nil {
			smp.Inodes, smp.UsedBytes, smp.TotalBytes = usage.UsedInodes, usage.UsedBytes, usage.TotalBytes
			sessions, serr := st.fs.Sessions(ctx)
			err = serr
			smp.Sessions = len(sessions)
			for _, si := range sessions {
				smp.OpenFiles += si.Open
			}
		}
		if st.gc != nil {
			gs := st.gc.Stats()
			smp.GCBlocksDeleted, smp.Compactions = gs.BlocksDeleted, gs.Compactions
		}
		smp.Err = err
		out = append(out, smp)
	}
	return out
}

func (o *observer) banner(w io.Writer) {
	var at []string
	if a := o.s.WorkerAddr(); a != "" {
		scheme := "http://"
		if o.s.tlsCfg != nil {
			scheme = "https://"
		}
		at = append(at, scheme+a)
	}
	if a := o.s.MetricsAddr(); a != "" {
		at = append(at, "http://"+a) // never TLS: probes and scrapers on a private address
	}
	for _, a := range at {
		fmt.Fprintf(w, "  metrics:   %s/metrics (and /healthz, /readyz)\n", a)
	}
}

// loadSample reads the load jobs' states (meta role) and this worker's
// load counters.
func (o *observer) loadSample(ctx context.Context) metrics.LoadSample {
	st := o.s.LoadStats()
	smp := metrics.LoadSample{Bytes: st.Bytes, Files: st.Files, Failures: st.Failures}
	if o.s.eng == nil {
		return smp
	}
	smp.Jobs, smp.JobsKnown = map[string]int{}, true
	for _, fst := range o.s.reg.states() {
		if fst.fs == nil {
			continue
		}
		jobs, err := fst.fs.LoadJobs(ctx, false)
		if err != nil {
			continue
		}
		for _, j := range jobs {
			smp.Jobs[j.State.String()]++
		}
	}
	return smp
}
