// Package health answers a process's liveness and readiness probes:
// /healthz (the process serves HTTP), /readyz (every readiness check
// passes: the engine answers a read transaction, the block store answers
// a lookup, the process is not draining) and the standard gRPC health
// service (grpc.health.v1) on the API port.
//
// Invariants: readiness is computed from the checks at each probe, never
// latched, so a probe fails while the engine is unreachable and passes
// again by itself once it answers; the gRPC status follows the same
// checks (Watch re-evaluates them periodically) and turns NOT_SERVING
// for good once Drain is called. A check is bounded by CheckTimeout, so
// a hung engine fails the probe instead of hanging it.
package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/objstore"
)

// CheckTimeout bounds one readiness check.
const CheckTimeout = 2 * time.Second

// DefaultWatchInterval is how often Watch re-evaluates the gRPC status.
const DefaultWatchInterval = 5 * time.Second

// Check is one readiness condition.
type Check struct {
	Name string
	// Fn returns nil when the condition holds.
	Fn func(ctx context.Context) error
}

// Engine checks that eng answers a read transaction: a lookup of a key
// no one writes, so it reads nothing of consequence.
func Engine(name string, eng kv.Engine) Check {
	return Check{Name: name, Fn: func(ctx context.Context) error {
		return eng.View(ctx, func(tx kv.ReadTxn) error {
			_, err := tx.Get([]byte("\xffshoal-readyz"))
			if errors.Is(err, kv.ErrNotFound) {
				return nil
			}
			return err
		})
	}}
}

// Store checks that the block store answers a lookup (a missing object
// is an answer).
func Store(name string, st func() (objstore.Store, error)) Check {
	return Check{Name: name, Fn: func(ctx context.Context) error {
		s, err := st()
		if err != nil {
			return err
		}
		if _, err := s.Head(ctx, "shoal-readyz"); err != nil && !errors.Is(err, objstore.ErrNotFound) {
			return err
		}
		return nil
	}}
}

// Checker runs a process's readiness checks.
type Checker struct {
	checks   []Check
	draining atomic.Bool
	grpc     *grpchealth.Server

	mu       sync.Mutex
	services []string // gRPC service names whose status Watch sets
}

// New returns a Checker over checks.
func New(checks ...Check) *Checker {
	return &Checker{checks: checks, grpc: grpchealth.NewServer()}
}

// Add appends checks (before the Checker serves).
func (c *Checker) Add(checks ...Check) { c.checks = append(c.checks, checks...) }

// Ready runs every check and returns the failures joined, each named.
func (c *Checker) Ready(ctx context.Context) error {
	if c.draining.Load() {
		return errors.New("draining: the process is shutting down")
	}
	var errs []error
	for _, ch := range c.checks {
		cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		err := ch.Fn(cctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ch.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Drain makes readiness fail from now on (the process is stopping), and
// the gRPC health service answer NOT_SERVING.
func (c *Checker) Drain() {
	c.draining.Store(true)
	c.grpc.Shutdown()
}

// Healthz answers 200 while the process serves HTTP at all.
func (c *Checker) Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, "ok")
	})
}

// Readyz answers 200 when Ready passes, else 503 with one line per
// failed check.
func (c *Checker) Readyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := c.Ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintln(w, "not ready:", line)
			}
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// Handle serves /healthz and /readyz, passing every other request to next.
// It matches exact paths only, so next sees every other path unchanged.
func (c *Checker) Handle(next http.Handler, more map[string]http.Handler) http.Handler {
	healthz, readyz := c.Healthz(), c.Readyz()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			healthz.ServeHTTP(w, r)
			return
		case "/readyz":
			readyz.ServeHTTP(w, r)
			return
		}
		if h, ok := more[r.URL.Path]; ok {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RegisterGRPC adds the grpc.health.v1 service to g, reporting for the
// server as a whole ("") and for each of services. The status starts
// NOT_SERVING until Watch has run the checks once.
func (c *Checker) RegisterGRPC(g *grpc.Server, services ...string) {
	c.mu.Lock()
	c.services = append([]string{""}, services...)
	c.mu.Unlock()
	for _, s := range c.services {
		c.grpc.SetServingStatus(s, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	healthpb.RegisterHealthServer(g, c.grpc)
}

// Update runs the checks once and sets the gRPC status from them.
func (c *Checker) Update(ctx context.Context) error {
	err := c.Ready(ctx)
	if c.draining.Load() {
		return err
	}
	st := healthpb.HealthCheckResponse_SERVING
	if err != nil {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	c.mu.Lock()
	services := c.services
	c.mu.Unlock()
	for _, s := range services {
		c.grpc.SetServingStatus(s, st)
	}
	return err
}

// Watch keeps the gRPC status current, every interval (0:
// DefaultWatchInterval), until ctx is done.
func (c *Checker) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		c.Update(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
