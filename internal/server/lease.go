package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/ring"
	"github.com/shoalfs/shoal/internal/rpc"
)

// The worker role keeps a lease in the engine's worker registry (see
// meta.HeartbeatWorker) so that clients place blocks on it: through the
// engine when this process has it, else through any meta server. The
// meta role prunes leases that lapsed.

// Defaults for the worker lease.
const (
	// DefaultLeaseTTL is a lease's lifetime without a heartbeat: a
	// killed worker leaves clients' rings within it (they also fail over
	// to the next member at once when it stops answering).
	DefaultLeaseTTL = 10 * time.Second
	// leasePruneGrace is how long a lapsed lease stays recorded, so
	// `shoal status` shows a worker that just died as expired.
	leasePruneGrace = time.Minute
)

// peerConn returns the connection to the meta servers (a worker alone),
// dialling it on first use.
func (s *Server) peerConn(ctx context.Context) (*rpc.Conn, error) {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	if s.peer == nil {
		conn, err := rpc.Dial(ctx, s.cfg.MetaAddrs, rpc.ClientOptions{
			Token:  s.cfg.PeerToken,
			Client: "shoal-worker/" + s.cfg.Version,
			Logger: s.cfg.Logger,
		})
		if err != nil {
			return nil, err
		}
		s.peer = conn
	}
	return s.peer, nil
}

// lease is this worker's registration.
func (s *Server) lease() meta.Worker {
	return meta.Worker{ID: s.workerID, URL: s.workerURL, Capacity: s.cfg.WorkerCapacity}
}

// heartbeat renews the lease once.
func (s *Server) heartbeat(ctx context.Context) error {
	if s.eng != nil {
		_, err := meta.HeartbeatWorker(ctx, s.eng, s.lease(), s.cfg.LeaseTTL)
		return err
	}
	conn, err := s.peerConn(ctx)
	if err != nil {
		return err
	}
	_, err = conn.Cluster().Heartbeat(ctx, s.lease(), s.cfg.LeaseTTL)
	return err
}

// leaveCluster drops the lease on a clean stop, so clients move this
// worker's share before the lease would lapse.
func (s *Server) leaveCluster() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var err error
	if s.eng != nil {
		err = meta.LeaveWorker(ctx, s.eng, s.workerID)
	} else if conn, cerr := s.peerConn(ctx); cerr != nil {
		err = cerr
	} else {
		err = conn.Cluster().Leave(ctx, s.workerID)
	}
	if err != nil {
		s.log.Warn("server: dropping the worker lease", "id", s.workerID, "err", err)
	}
}

// leaseLoop heartbeats three times a lease until ctx ends, then leaves.
func (s *Server) leaseLoop(ctx context.Context) {
	every := s.cfg.LeaseTTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		hctx, cancel := context.WithTimeout(ctx, every)
		err := s.heartbeat(hctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("server: worker heartbeat", "id", s.workerID, "err", err)
		}
		select {
		case <-ctx.Done():
			s.leaveCluster()
			return
		case <-t.C:
		}
	}
}

// pruneLeases deletes the leases that lapsed a while ago (meta role).
func (s *Server) pruneLeases(ctx context.Context) {
	gone, err := meta.PruneWorkers(ctx, s.eng, time.Now(), leasePruneGrace)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("server: pruning worker leases", "err", err)
	}
	if len(gone) > 0 {
		s.log.Info("server: worker leases lapsed", "workers", gone)
	}
}

// announcedURLs are the block URLs a client is told: the live workers'
// when any holds a lease, else the configured ones.
func (s *Server) announcedURLs(ctx context.Context) []string {
	ws, err := meta.Workers(ctx, s.eng, time.Now(), false)
	if err != nil || len(ws) == 0 {
		return s.BlockURLs()
	}
	urls := make([]string, len(ws))
	for i, w := range ws {
		urls[i] = w.URL
	}
	return urls
}

// gcOwner names this process in the collector's claims: host, pid and a
// random part, so a restarted process never mistakes a predecessor's
// claim for its own.
func gcOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// gcClaimTTL is how long the collector's claim outlives its holder's
// last pass: several passes, and at least a minute, so a long pass is
// not overtaken.
func (s *Server) gcClaimTTL() time.Duration {
	return max(5*s.cfg.GCInterval, time.Minute)
}

// leasePlacer is the Placer of the collector's block store in a meta
// process without a worker of its own: it sends each delete to the live
// workers, in the ring's order for the key, read from the engine's
// registry at most every leasePlaceRefresh. With it a meta server needs
// no --worker-url: the workers it collects through are the ones holding
// leases, as for clients.
type leasePlacer struct {
	s *Server

	mu struct {
		sync.Mutex
		at   time.Time
		ring *ring.Ring
		urls map[string]string // worker id -> block base URL
	}
}

// leasePlaceRefresh is how stale the collector's member list may be; a
// dead worker in it costs one failed connection before the next member.
const leasePlaceRefresh = 5 * time.Second

func (p *leasePlacer) Place(key string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.mu.at) > leasePlaceRefresh {
		p.refreshLocked()
	}
	if p.mu.ring == nil {
		return nil
	}
	walk := p.mu.ring.Walk(key, 0)
	out := make([]string, len(walk))
	for i, id := range walk {
		out[i] = p.mu.urls[id]
	}
	return out
}

// refreshLocked reads the registry. On an error it keeps the last list
// (its dead members fail over) and tries again at the next refresh.
func (p *leasePlacer) refreshLocked() {
	p.mu.at = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	params, err := meta.RingParams(ctx, p.s.eng)
	if err != nil {
		p.s.log.Warn("server: ring parameters for the collector", "err", err)
		return
	}
	ws, err := meta.Workers(ctx, p.s.eng, time.Now(), false)
	if err != nil {
		p.s.log.Warn("server: worker leases for the collector", "err", err)
		return
	}
	ids := make([]string, len(ws))
	urls := make(map[string]string, len(ws))
	for i, w := range ws {
		ids[i], urls[w.ID] = w.ID, w.URL
	}
	r, err := ring.New(params, ids)
	if err != nil {
		p.s.log.Warn("server: the collector's ring", "err", err)
		return
	}
	p.mu.ring, p.mu.urls = r, urls
}
