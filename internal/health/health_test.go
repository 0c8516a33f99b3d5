package health_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/shoalfs/shoal/internal/health"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/objstore"
	objmem "github.com/shoalfs/shoal/internal/objstore/mem"
)

// partitioned is a real engine behind a switch that makes it unreachable,
// as a network partition from a remote engine would.
type partitioned struct {
	kv.Engine
	cut atomic.Bool
}

var errUnreachable = errors.New("engine unreachable")

func (p *partitioned) View(ctx context.Context, fn func(kv.ReadTxn) error) error {
	if p.cut.Load() {
		return errUnreachable
	}
	return p.Engine.View(ctx, fn)
}

func probe(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

// TestReadinessFollowsEngine: readiness fails while the engine is
// unreachable and recovers by itself; liveness does not care.
func TestReadinessFollowsEngine(t *testing.T) {
	eng := &partitioned{Engine: mem.New()}
	defer eng.Close()
	c := health.New(health.Engine("engine", eng))
	h := c.Handle(http.NotFoundHandler(), nil)
	if code, _ := probe(t, h, "/readyz"); code != http.StatusOK {
		t.Fatalf("readyz on a reachable engine: %d", code)
	}
	eng.cut.Store(true)
	code, body := probe(t, h, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "engine: engine unreachable") {
		t.Fatalf("readyz while cut: %d %q", code, body)
	}
	if code, _ := probe(t, h, "/healthz"); code != http.StatusOK {
		t.Fatalf("healthz while cut: %d", code)
	}
	eng.cut.Store(false)
	if code, body := probe(t, h, "/readyz"); code != http.StatusOK {
		t.Fatalf("readyz after the engine came back: %d %q", code, body)
	}
	if code, _ := probe(t, h, "/other"); code != http.StatusNotFound {
		t.Fatalf("other paths go to next: %d", code)
	}
}

// TestReadinessClosedEngine: a closed Badger engine fails the check.
func TestReadinessClosedEngine(t *testing.T) {
	eng, err := badger.Open(t.TempDir(), badger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := health.New(health.Engine("engine", eng))
	if err := c.Ready(context.Background()); err != nil {
		t.Fatalf("open engine: %v", err)
	}
	eng.Close()
	if err := c.Ready(context.Background()); err == nil {
		t.Fatal("a closed engine passes readiness")
	}
}

// TestReadinessStore: a store that answers NotFound is ready; a closed one
// or one that cannot be opened is not.
func TestReadinessStore(t *testing.T) {
	st := objmem.New()
	var openErr error
	c := health.New(health.Store("store", func() (objstore.Store, error) { return st, openErr }))
	if err := c.Ready(context.Background()); err != nil {
		t.Fatalf("ready store: %v", err)
	}
	openErr = errors.New("no such filesystem")
	if err := c.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "store: no such filesystem") {
		t.Fatalf("store that cannot be opened: %v", err)
	}
}

// TestGRPCHealth: the gRPC status follows the checks and turns
// NOT_SERVING for good on Drain.
func TestGRPCHealth(t *testing.T) {
	eng := &partitioned{Engine: mem.New()}
	defer eng.Close()
	c := health.New(health.Engine("engine", eng))
	g := grpc.NewServer()
	c.RegisterGRPC(g, "svc")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	defer g.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	status := func(svc string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if s := status(""); s != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("before the first update: %v", s)
	}
	ctx := context.Background()
	steps := []struct {
		cut  bool
		want healthpb.HealthCheckResponse_ServingStatus
	}{
		{false, healthpb.HealthCheckResponse_SERVING},
		{true, healthpb.HealthCheckResponse_NOT_SERVING},
		{false, healthpb.HealthCheckResponse_SERVING},
	}
	for _, st := range steps {
		eng.cut.Store(st.cut)
		c.Update(ctx)
		if s, s2 := status(""), status("svc"); s != st.want || s2 != st.want {
			t.Fatalf("cut=%v: %v %v, want %v", st.cut, s, s2, st.want)
		}
	}
	c.Drain()
	c.Update(ctx)
	if s := status(""); s != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("after Drain: %v", s)
	}
	if err := c.Ready(ctx); err == nil {
		t.Fatal("ready while draining")
	}
}
