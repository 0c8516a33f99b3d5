package agent

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	shoal "github.com/shoalfs/shoal"
)

// ErrRunning is returned by New when another agent holds the socket.
var ErrRunning = errors.New("agent: another agent is already serving this socket")

// Config configures an Agent. The zero value serves DefaultSocket.
type Config struct {
	// Socket is the Unix socket path (default DefaultSocket()). Its
	// directory is created 0700 and must belong to this user.
	Socket string
	// IdleTimeout is how long the agent waits with no connection before
	// it exits (default 10 minutes; negative: never).
	IdleTimeout time.Duration
	// ClientLinger is how long a Go client no session uses stays open,
	// keeping its cache warm for the next process (default 1 minute).
	ClientLinger time.Duration
	// Parallel bounds how many entries of one PREADV/PWRITEV run at once
	// (default 16).
	Parallel int
	// Logger receives connection and client events, and one line per
	// request (docs/metrics.md) (nil discards).
	Logger *slog.Logger
	// SlowRequest is the duration past which a request is logged at
	// Warn (0: metrics.DefaultSlowRequest; negative: never).
	SlowRequest time.Duration
	// MetricsListen is a HOST:PORT serving /metrics, /healthz and
	// /readyz ("": none; the agent is per user and mostly started on
	// demand, so metrics are opt-in).
	MetricsListen string
	// Version is reported in shoal_build_info.
	Version string
	// Open builds a Go client for a session (default: shoal.Dial for
	// addresses, shoal.OpenLocal for a data directory).
	Open func(ctx context.Context, spec ClientSpec) (*shoal.Client, error)
}

// ClientSpec is what a session asks to be connected to; sessions with
// equal specs share one Go client.
type ClientSpec struct {
	Addrs   string // comma-separated server addresses, or "" with DataDir
	DataDir string // local mode: a data directory opened in the agent
	FS      string // filesystem name ("" is "default")
	Token   string
	Super   bool   // act as root (the token must allow it)
	Uid     uint32 // identity, from the peer's credentials
	Gid     uint32
	Groups  string // supplementary gids, comma-separated, for map keys
}

func (c *Config) ensureDefaults() {
	if c.Socket == "" {
		c.Socket = DefaultSocket()
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.ClientLinger == 0 {
		c.ClientLinger = time.Minute
	}
	if c.Parallel <= 0 {
		c.Parallel = 16
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Open == nil {
		c.Open = openClient
	}
}

// openClient is the default Config.Open.
func openClient(ctx context.Context, s ClientSpec) (*shoal.Client, error) {
	opts := []shoal.Option{shoal.WithUmask(0)}
	if s.FS != "" {
		opts = append(opts, shoal.WithFS(s.FS))
	}
	if s.DataDir != "" {
		// Local mode: the agent itself holds the data directory, so the
		// identity is the agent's user (see ClientSpec for the key).
		return shoal.OpenLocal(ctx, s.DataDir, append(opts, shoal.WithIdentity(s.Uid, s.Gid))...)
	}
	if s.Token != "" {
		opts = append(opts, shoal.WithToken(s.Token))
	}
	var groups []uint32
	for _, g := range splitComma(s.Groups) {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			groups = append(groups, uint32(n))
		}
	}
	opts = append(opts, shoal.WithIdentity(s.Uid, s.Gid, groups...))
	return shoal.Dial(ctx, s.Addrs, opts...)
}

// Agent serves the protocol on one socket.
type Agent struct {
	cfg  Config
	ln   *net.UnixListener
	lock *os.File
	log  *slog.Logger

	// mu guards everything below; a session's own state has its own lock,
	// always taken after mu when both are needed.
	mu struct {
		sync.Mutex
		clients   map[ClientSpec]*clientEntry
		sessions  map[uint64]*session
		shared    map[uint64]sharedFH
		conns     map[*conn]struct{}
		idleSince time.Time
	}
	wg     sync.WaitGroup
	nextID atomic.Int64
	stats  stats
	obs    *observer
}

type clientEntry struct {
	spec      ClientSpec
	c         *shoal.Client
	refs      int
	idleSince time.Time
}

// sharedFH is an open file handed to another process (ShareFH/OpenFH).
type sharedFH struct {
	uid   uint32
	spec  ClientSpec
	path  string
	flags int
}

// New prepares an agent: it creates the socket directory, takes the
// agent lock (ErrRunning if another agent holds it), and listens.
func New(cfg Config) (*Agent, error) {
	cfg.ensureDefaults()
	a := &Agent{cfg: cfg, log: cfg.Logger}
	if err := privateDir(filepath.Dir(cfg.Socket)); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(cfg.Socket+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrRunning
		}
		return nil, fmt.Errorf("agent: lock: %w", err)
	}
	_ = lock.Truncate(0)
	_, _ = lock.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	// Holding the lock proves any socket file left is stale.
	_ = os.Remove(cfg.Socket)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.Socket, Net: "unix"})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("agent: listen: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	_ = os.Chmod(cfg.Socket, 0o600)
	a.ln, a.lock = ln, lock
	// After the lock: an agent that finds another one running must not
	// take (or fail on) the metrics port.
	if a.obs, err = newObserver(a); err != nil {
		ln.Close()
		lock.Close()
		return nil, err
	}
	a.mu.clients = map[ClientSpec]*clientEntry{}
	a.mu.sessions = map[uint64]*session{}
	a.mu.shared = map[uint64]sharedFH{}
	a.mu.conns = map[*conn]struct{}{}
	a.mu.idleSince = time.Now()
	a.nextID.Store(int64(random64() >> 20))
	return a, nil
}

// Socket returns the path the agent listens on.
func (a *Agent) Socket() string { return a.cfg.Socket }

// Run serves until ctx is done or the agent has been idle for
// IdleTimeout, then closes every session and client and removes the
// socket. It returns nil on an idle or requested exit.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.wg.Add(1)
	go a.janitor(ctx, cancel)
	a.obs.serve()
	var err error
	for {
		c, aerr := a.ln.AcceptUnix()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("agent: accept: %w", aerr)
			}
			break
		}
		a.serve(ctx, c)
	}
	cancel()
	a.shutdown()
	a.wg.Wait()
	return err
}

// janitor closes lingering clients and ends the agent when idle.
func (a *Agent) janitor(ctx context.Context, cancel context.CancelFunc) {
	defer a.wg.Done()
	tick := time.Second
	if a.cfg.IdleTimeout > 0 && a.cfg.IdleTimeout < 4*tick {
		tick = a.cfg.IdleTimeout / 4
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.ln.Close()
			return
		case now := <-t.C:
			var closing []*clientEntry
			a.mu.Lock()
			for k, e := range a.mu.clients {
				if e.refs == 0 && now.Sub(e.idleSince) >= a.cfg.ClientLinger {
					delete(a.mu.clients, k)
					closing = append(closing, e)
				}
			}
			idle := len(a.mu.conns) == 0 && a.cfg.IdleTimeout > 0 && now.Sub(a.mu.idleSince) >= a.cfg.IdleTimeout
			a.mu.Unlock()
			for _, e := range closing {
				a.closeClient(e)
			}
			if idle {
				a.log.Info("agent: idle, exiting", "socket", a.cfg.Socket)
				cancel()
				a.ln.Close()
				return
			}
		}
	}
}

func (a *Agent) closeClient(e *clientEntry) {
	if err := e.c.Close(); err != nil {
		a.log.Warn("agent: closing client", "fs", e.spec.FS, "err", err)
	}
}

// shutdown ends every connection, session and client.
func (a *Agent) shutdown() {
	a.ln.Close()
	a.obs.close()
	a.mu.Lock()
	for c := range a.mu.conns {
		c.nc.Close()
	}
	a.mu.Unlock()
	a.wg.Wait() // connection goroutines end their sessions
	a.mu.Lock()
	clients := a.mu.clients
	a.mu.clients = map[ClientSpec]*clientEntry{}
	a.mu.Unlock()
	for _, e := range clients {
		a.closeClient(e)
	}
	a.lock.Close()
}

func (a *Agent) serve(ctx context.Context, nc *net.UnixConn) {
	p, err := peerOf(nc)
	if err != nil || (p.uid != uint32(os.Geteuid()) && p.uid != 0) {
		a.log.Warn("agent: refusing connection", "uid", p.uid, "err", err)
		nc.Close()
		return
	}
	c := newConn(a, nc, p)
	a.mu.Lock()
	a.mu.conns[c] = struct{}{}
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		c.run(ctx)
		a.mu.Lock()
		delete(a.mu.conns, c)
		if len(a.mu.conns) == 0 {
			a.mu.idleSince = time.Now()
		}
		a.mu.Unlock()
	}()
}

// acquireClient returns the shared client for spec, opening it if needed.
func (a *Agent) acquireClient(ctx context.Context, spec ClientSpec) (*clientEntry, error) {
	a.mu.Lock()
	if e, ok := a.mu.clients[spec]; ok {
		e.refs++
		a.mu.Unlock()
		return e, nil
	}
	a.mu.Unlock()
	// Opening dials servers or opens an engine: not under mu. Two
	// sessions racing for one spec both open; the loser closes its own.
	cl, err := a.cfg.Open(ctx, spec)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if e, ok := a.mu.clients[spec]; ok {
		e.refs++
		a.mu.Unlock()
		_ = cl.Close()
		return e, nil
	}
	e := &clientEntry{spec: spec, c: cl, refs: 1}
	a.mu.clients[spec] = e
	a.mu.Unlock()
	a.log.Info("agent: client opened", "addrs", spec.Addrs, "data", spec.DataDir, "fs", spec.FS, "uid", spec.Uid)
	return e, nil
}

func (a *Agent) releaseClient(e *clientEntry) {
	a.mu.Lock()
	e.refs--
	if e.refs == 0 {
		e.idleSince = time.Now()
	}
	a.mu.Unlock()
}

// newSession registers a session for a connection's peer.
func (a *Agent) newSession(ce *clientEntry, uid uint32) *session {
	s := &session{a: a, ce: ce, uid: uid, parallel: a.cfg.Parallel}
	// Not derived from Run's context: when the agent stops, release must
	// still flush the files left open before the session's context ends.
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cl = ce.c.WithContext(s.ctx)
	s.files = map[int64]*openFile{}
	s.dirs = map[int64]*dirState{}
	s.iovs = map[int64]*iov{}
	a.mu.Lock()
	for {
		s.id, s.secret = random64(), random64()
		if _, taken := a.mu.sessions[s.id]; !taken && s.id != 0 {
			break
		}
	}
	a.mu.sessions[s.id] = s
	a.mu.Unlock()
	return s
}

// attach finds a session by id and secret for another connection of
// the same user.
func (a *Agent) attach(id, secret uint64, uid uint32) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.mu.sessions[id]
	if !ok || s.secret != secret || (s.uid != uid && uid != 0) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil
	}
	s.conns++
	return s
}

// detach drops a connection from its session; the last one ends it.
func (a *Agent) detach(s *session) {
	s.mu.Lock()
	s.conns--
	last := s.conns <= 0 && !s.ended
	if last {
		s.ended = true
	}
	s.mu.Unlock()
	if last {
		a.endSession(s)
	}
}

func (a *Agent) endSession(s *session) {
	a.mu.Lock()
	delete(a.mu.sessions, s.id)
	a.mu.Unlock()
	s.release()
	s.cancel()
	a.releaseClient(s.ce)
}

func random64() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return binary.LittleEndian.Uint64(b[:]) >> 1 // positive as an i64
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
