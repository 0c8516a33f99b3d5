package rpc

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/ring"
)

// ClusterClient reaches the worker registry: a worker keeps its lease
// with it, a client reads the member list.
type ClusterClient struct{ c *Conn }

// Cluster returns the connection's Cluster client.
func (c *Conn) Cluster() *ClusterClient { return &ClusterClient{c} }

// Members is the member list meta serves: the ring's parameters and the
// workers' leases, by id.
type Members struct {
	Ring    ring.Params
	Workers []meta.Worker
}

func clusterDo[R any](ctx context.Context, c *Conn, op string, fn func(ctx context.Context, a pb.ClusterClient) (R, error)) (R, error) {
	var out R
	err := c.invoke(ctx, op, false, nil, callOpts{noSession: true}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		out, err = fn(ctx, pb.NewClusterClient(cc))
		return err
	})
	return out, err
}

// Heartbeat registers w or renews its lease for ttl, at whichever meta
// process answers (they share the engine), and returns the lease.
func (cc *ClusterClient) Heartbeat(ctx context.Context, w meta.Worker, ttl time.Duration) (meta.Worker, error) {
	l := leaseToPB(w)
	l.Ttl = int64(ttl)
	r, err := clusterDo(ctx, cc.c, "rpc.Heartbeat", func(ctx context.Context, a pb.ClusterClient) (*pb.WorkerLease, error) {
		return a.Heartbeat(ctx, l)
	})
	if err != nil {
		return meta.Worker{}, err
	}
	return leaseFromPB(r), nil
}

// Leave drops worker id's lease.
func (cc *ClusterClient) Leave(ctx context.Context, id string) error {
	_, err := clusterDo(ctx, cc.c, "rpc.Leave", func(ctx context.Context, a pb.ClusterClient) (*pb.Empty, error) {
		return a.Leave(ctx, &pb.WorkerID{Id: id})
	})
	return err
}

// Members returns the live workers (every recorded lease when all is
// set) with the ring's parameters.
func (cc *ClusterClient) Members(ctx context.Context, all bool) (Members, error) {
	r, err := clusterDo(ctx, cc.c, "rpc.Members", func(ctx context.Context, a pb.ClusterClient) (*pb.MemberList, error) {
		return a.Members(ctx, &pb.MembersRequest{All: all})
	})
	if err != nil {
		return Members{}, err
	}
	out := Members{Ring: ringFromPB(r.Ring), Workers: make([]meta.Worker, len(r.Workers))}
	for i, l := range r.Workers {
		out.Workers[i] = leaseFromPB(l)
	}
	return out, nil
}

// DefaultPlacementRefresh is how often a Placement reads the member list.
const DefaultPlacementRefresh = 5 * time.Second

// Placement places block keys on the ring of the live workers that meta
// lists, refreshed in the background; it is objstore/remote's Placer.
// Until a list with members arrives (or against a server without the
// Cluster service) it places nothing, and the remote store uses the
// block URLs the session announced.
type Placement struct {
	cc     *ClusterClient
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		ring *ring.Ring
		urls map[string]string // member id -> block base URL
	}
}

// NewPlacement reads the member list once and then every refresh (0:
// DefaultPlacementRefresh) until Close. A member list whose ring
// parameters this build does not know is an error: placing with other
// parameters than the other clients would scatter the caches.
func NewPlacement(ctx context.Context, c *Conn, refresh time.Duration, log *slog.Logger) (*Placement, error) {
	if refresh <= 0 {
		refresh = DefaultPlacementRefresh
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p := &Placement{cc: c.Cluster(), log: log}
	if err := p.Refresh(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(refresh)
		defer t.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case <-t.C:
			}
			if err := p.Refresh(bg); err != nil && bg.Err() == nil {
				// Keep placing on the last list: its dead members fail
				// over to the next ones.
				p.log.Warn("rpc: member list", "err", err)
			}
		}
	}()
	return p, nil
}

// Refresh reads the member list now.
func (p *Placement) Refresh(ctx context.Context) error {
	m, err := p.cc.Members(ctx, false)
	if fserr.Is(fserr.NotSupported, err) {
		return nil // an older server: no ring, the announced URLs serve
	}
	if err != nil {
		return err
	}
	ids := make([]string, len(m.Workers))
	urls := make(map[string]string, len(m.Workers))
	for i, w := range m.Workers {
		ids[i], urls[w.ID] = w.ID, w.URL
	}
	r, err := ring.New(m.Ring, ids)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.mu.ring, p.mu.urls = r, urls
	p.mu.Unlock()
	return nil
}

// Ring returns the ring placed on now (nil before a member list).
func (p *Placement) Ring() *ring.Ring {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.ring
}

// Place returns the block URLs of key's walk on the ring: its holder
// first, then every other live worker in ring order.
func (p *Placement) Place(key string) []string {
	p.mu.Lock()
	r, urls := p.mu.ring, p.mu.urls
	p.mu.Unlock()
	if r == nil {
		return nil
	}
	walk := r.Walk(key, 0)
	out := make([]string, len(walk))
	for i, id := range walk {
		out[i] = urls[id]
	}
	return out
}

// Close stops the refreshes.
func (p *Placement) Close() error {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	return nil
}
