package server

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/shoalfs/shoal/internal/load"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/ring"
	"github.com/shoalfs/shoal/internal/rpc"
)

// The worker role runs load jobs (internal/load): one Runner per
// filesystem, reading through a shoal.Client dialled to the meta servers
// (its own meta role in `shoal server`), so every block it loads goes
// through the worker that owns it on the ring, as any client's read
// does. The client comes from Config.LoadClient (internal/cli gives
// shoal.Dial): this package cannot import the SDK, whose own tests run
// servers. The jobs and the member list come over the same API. A filesystem
// created later gets its runner within loadFSRefresh.

const loadFSRefresh = 10 * time.Second

// loadRunners is the worker role's set of runners, by filesystem name.
type loadRunners struct {
	runners map[string]*loadRunner
}

type loadRunner struct {
	r           *load.Runner
	closeClient func() error
	conn        *rpc.Conn
}

func (lr *loadRunner) close() {
	lr.r.Close()
	lr.closeClient()
	lr.conn.Close()
}

// LoadClient opens the client a worker's load jobs of filesystem fsName
// read through, at the meta servers addrs (comma-separated) with token:
// view returns it for a context, closeFn closes it.
type LoadClient func(ctx context.Context, addrs, fsName, token string) (view func(context.Context) load.FS, closeFn func() error, err error)

// loadToken is what the worker's clients present: the peer token, else a
// super token of the process's own tokens file (`shoal server`), else
// none (no tokens).
func (s *Server) loadToken() string {
	if s.cfg.PeerToken != "" {
		return s.cfg.PeerToken
	}
	var supers []string
	for tok, t := range s.cfg.Tokens {
		if t.Super {
			supers = append(supers, tok)
		}
	}
	sort.Strings(supers)
	if len(supers) > 0 {
		return supers[0]
	}
	return ""
}

func (s *Server) loadAddrs() []string {
	if a := s.Addr(); a != "" {
		return []string{a}
	}
	return s.cfg.MetaAddrs
}

// LoadStats sums the worker's runners' counters (for metrics).
func (s *Server) LoadStats() load.Stats {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	var out load.Stats
	for _, lr := range s.loads.runners {
		st := lr.r.Stats()
		out.Bytes += st.Bytes
		out.Files += st.Files
		out.Failures += st.Failures
		out.Skipped += st.Skipped
	}
	return out
}

func (s *Server) startRunner(ctx context.Context, name string) (*loadRunner, error) {
	tok := s.loadToken()
	conn, err := rpc.Dial(ctx, s.loadAddrs(), rpc.ClientOptions{FSName: name, Token: tok,
		Client: "shoal-worker-load/" + s.cfg.Version, Logger: s.cfg.Logger})
	if err != nil {
		return nil, err
	}
	jobs, _ := conn.Meta().(meta.Loader)
	view, closeFn, err := s.cfg.LoadClient(ctx, strings.Join(s.loadAddrs(), ","), name, tok)
	if err != nil {
		conn.Close()
		return nil, err
	}
	cc := conn.Cluster()
	r, err := load.New(load.Config{
		Worker: s.workerID,
		Jobs:   jobs,
		FS:     view,
		Members: func(ctx context.Context) (ring.Params, []string, error) {
			m, err := cc.Members(ctx, false)
			if err != nil {
				return ring.Params{}, nil, err
			}
			ids := make([]string, len(m.Workers))
			for i, w := range m.Workers {
				ids[i] = w.ID
			}
			return m.Ring, ids, nil
		},
		Cache:  s.cfg.LoadCache,
		Poll:   s.cfg.LoadPoll,
		Logger: s.cfg.Logger,
	})
	if err != nil {
		closeFn()
		conn.Close()
		return nil, err
	}
	r.Start()
	return &loadRunner{r: r, closeClient: closeFn, conn: conn}, nil
}

// loadLoop keeps a runner on every filesystem until ctx ends.
func (s *Server) loadLoop(ctx context.Context) {
	if s.cfg.LoadClient == nil {
		s.log.Info("server: this worker runs no load jobs (no Config.LoadClient)")
		return
	}
	defer func() {
		s.loadMu.Lock()
		defer s.loadMu.Unlock()
		for _, lr := range s.loads.runners {
			lr.close()
		}
		s.loads.runners = nil
	}()
	t := time.NewTicker(loadFSRefresh)
	defer t.Stop()
	for {
		for _, info := range s.reg.list(ctx) {
			s.loadMu.Lock()
			_, ok := s.loads.runners[info.Name]
			s.loadMu.Unlock()
			if ok || ctx.Err() != nil {
				continue
			}
			lr, err := s.startRunner(ctx, info.Name)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("server: load jobs", "fs", info.Name, "err", err)
				}
				continue
			}
			s.loadMu.Lock()
			if s.loads.runners == nil {
				s.loads.runners = map[string]*loadRunner{}
			}
			s.loads.runners[info.Name] = lr
			s.loadMu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
