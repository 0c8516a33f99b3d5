package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// ClientOptions configures Dial. The zero value works against a local
// server without tokens, as the default filesystem.
type ClientOptions struct {
	FSName   string        // filesystem name (default "default")
	Token    string        // bearer token, when the server has tokens
	Identity meta.Identity // default identity for calls that take none
	Client   string        // program/version shown in the server's session list (default: this program)
	TLS      *tls.Config   // nil: plaintext
	Logger   *slog.Logger  // nil discards
	// HeartbeatEvery is the heartbeat period (default a third of the
	// session TTL the server grants).
	HeartbeatEvery time.Duration
	// SessionTTL asks the server for this session lifetime (0: its default).
	SessionTTL time.Duration
	// RetryTimeout bounds how long a call keeps trying the addresses in
	// turn before failing with kind IO (default 30s).
	RetryTimeout time.Duration
}

const (
	defaultRetryTimeout = 30 * time.Second
	sliceIDBatch        = 256
	// maxResumes bounds how often one call may resume the session, in case
	// two servers keep disowning it.
	maxResumes = 3
)

// Conn is a client connection to a list of meta servers, holding one
// session.
//
// Lock order: ids.mu before resume.mu (newSliceID may recover the session
// while it holds ids.mu); conns.mu, opens.mu, blocks.mu are leaves.
type Conn struct {
	opts  ClientOptions
	addrs []string
	log   *slog.Logger
	creds credentials.TransportCredentials

	closed  atomic.Bool
	session atomic.Uint64 // current session id
	// answered is set once any server answered a call. Until then a
	// definite failure of every address (refused, unknown host, not the
	// API: see probe) fails the call at once; after it, a server that
	// went away is waited for as long as RetryTimeout allows.
	answered atomic.Bool
	probes   []*probe // by address
	reqSeq   atomic.Uint64

	conns struct {
		sync.Mutex
		cc  []*grpc.ClientConn // by address, created on first use
		cur int
	}
	// resume serialises session recovery so concurrent failing calls
	// resume once.
	resume struct {
		sync.Mutex
	}
	opens struct {
		sync.Mutex
		m map[meta.Ino]int // handles per inode
	}
	ids struct {
		sync.Mutex
		sess      uint64 // the session the batch was reserved under
		next, end uint64
		got       time.Time // when the batch was reserved
	}
	blocks struct {
		sync.Mutex
		urls []string
	}
	grants grantCache // block grants (client_grants.go)
	// releases counts the Release calls sent and not answered yet, in
	// all and by inode (see metaClient.Release); idle is closed when n
	// drops to zero.
	releases struct {
		sync.Mutex
		n    int
		inos map[meta.Ino]int
		idle chan struct{}
	}

	hbEvery time.Duration
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	svc     *metaClient
}

// Dial connects to the servers at addrs (tried in order, failing over to
// the next), creates a session and starts its heartbeat.
func Dial(ctx context.Context, addrs []string, opts ClientOptions) (*Conn, error) {
	const op = "rpc.Dial"
	if len(addrs) == 0 {
		return nil, fserr.Errorf(op, fserr.Invalid, "rpc: dial: no address")
	}
	for _, a := range addrs {
		if e := checkAddr(a); e != nil {
			return nil, fserr.E(op, fserr.Invalid, e)
		}
	}
	if opts.FSName == "" {
		opts.FSName = DefaultFS
	}
	if opts.Client == "" {
		opts.Client = filepath.Base(os.Args[0])
	}
	if opts.RetryTimeout <= 0 {
		opts.RetryTimeout = defaultRetryTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Conn{opts: opts, addrs: append([]string(nil), addrs...), log: opts.Logger}
	c.conns.cc = make([]*grpc.ClientConn, len(addrs))
	for _, a := range addrs {
		c.probes = append(c.probes, &probe{addr: a})
	}
	c.opens.m = make(map[meta.Ino]int)
	c.grants.c = c
	c.creds = insecure.NewCredentials()
	if opts.TLS != nil {
		c.creds = credentials.NewTLS(opts.TLS)
	}
	c.svc = &metaClient{c: c}
	reply, err := c.createSession(ctx)
	if err != nil {
		c.closeConns()
		return nil, err
	}
	c.hbEvery = opts.HeartbeatEvery
	if c.hbEvery <= 0 {
		c.hbEvery = time.Duration(reply.Ttl) / 3
		if c.hbEvery <= 0 {
			c.hbEvery = defaultSessionTTL / 3
		}
	}
	hctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go c.heartbeat(hctx)
	return c, nil
}

// Meta returns the session-bound namespace service. Its Close closes the Conn.
func (c *Conn) Meta() meta.Service { return c.svc }

// Session returns the current session id (it changes if the session
// expired while the servers were unreachable).
func (c *Conn) Session() uint64 { return c.session.Load() }

// BlockURLs returns the worker HTTP base URLs the server announced.
func (c *Conn) BlockURLs() []string {
	c.blocks.Lock()
	defer c.blocks.Unlock()
	return append([]string(nil), c.blocks.urls...)
}

// Admin returns the filesystem administration client.
func (c *Conn) Admin() *AdminClient { return &AdminClient{c: c} }

// Close stops the heartbeat and ends the session (its open handles are
// released on the server), then closes the connections.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.cancel()
	c.wg.Wait()
	c.waitReleases(context.Background(), 0)
	// A server that is down only delays Close this long: the session then
	// expires on its own.
	wait := min(c.opts.RetryTimeout, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var err error
	if id := c.session.Load(); id != 0 {
		err = c.invoke(ctx, "rpc.Close", false, nil, callOpts{noSession: true, retry: wait},
			func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
				_, err := pb.NewSessionClient(cc).Close(ctx, &pb.SessionID{Id: id})
				return err
			})
	}
	c.closeConns()
	return err
}

func (c *Conn) closeConns() {
	c.conns.Lock()
	defer c.conns.Unlock()
	for i, cc := range c.conns.cc {
		if cc != nil {
			cc.Close()
			c.conns.cc[i] = nil
		}
	}
}

func (c *Conn) setBlockURLs(urls []string) {
	if len(urls) == 0 {
		return
	}
	c.blocks.Lock()
	c.blocks.urls = urls
	c.blocks.Unlock()
}

// current returns the address index calls go to and its connection,
// creating it on first use.
func (c *Conn) current() (int, *grpc.ClientConn, error) {
	c.conns.Lock()
	defer c.conns.Unlock()
	i := c.conns.cur
	if c.conns.cc[i] == nil {
		cc, err := grpc.NewClient("passthrough:///"+c.addrs[i],
			grpc.WithTransportCredentials(c.creds),
			grpc.WithContextDialer(c.probes[i].dial),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)),
			grpc.WithChainUnaryInterceptor(captureUnary),
			grpc.WithChainStreamInterceptor(captureStream),
			// Loopback and LAN: notice a dead peer within ~20s even when idle.
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
				MinConnectTimeout: 3 * time.Second,
			}),
		)
		if err != nil {
			return i, nil, fserr.E("rpc.Dial", c.addrs[i], fserr.Invalid, err)
		}
		c.conns.cc[i] = cc
	}
	return i, c.conns.cc[i], nil
}

// failover moves calls to the address after i, unless another call
// already moved them. It reports whether it wrapped to the first address.
func (c *Conn) failover(i int) bool {
	c.conns.Lock()
	defer c.conns.Unlock()
	if c.conns.cur != i {
		return false
	}
	c.conns.cur = (i + 1) % len(c.addrs)
	return c.conns.cur == 0
}

type callOpts struct {
	noSession bool          // do not send shoal-session, do not resume
	retry     time.Duration // overrides RetryTimeout
	wait      bool          // first wait for the Releases under way
}

// maxReleases bounds the Releases under way at once; past it Release
// waits for its reply.
const maxReleases = 256

// startRelease counts a Release of ino about to be sent without waiting;
// it reports false when too many are under way already.
func (c *Conn) startRelease(ino meta.Ino) bool {
	c.releases.Lock()
	defer c.releases.Unlock()
	if c.releases.n >= maxReleases {
		return false
	}
	if c.releases.n == 0 {
		c.releases.idle = make(chan struct{})
		c.releases.inos = make(map[meta.Ino]int)
	}
	c.releases.n++
	c.releases.inos[ino]++
	return true
}

func (c *Conn) endRelease(ino meta.Ino) {
	c.releases.Lock()
	defer c.releases.Unlock()
	c.releases.n--
	if c.releases.inos[ino]--; c.releases.inos[ino] == 0 {
		delete(c.releases.inos, ino)
	}
	if c.releases.n == 0 {
		close(c.releases.idle)
	}
}

// waitReleases returns once the Releases of ino (0: of any inode) sent
// before it were answered.
func (c *Conn) waitReleases(ctx context.Context, ino meta.Ino) error {
	c.releases.Lock()
	n, idle := c.releases.n, c.releases.idle
	if ino != 0 && c.releases.inos[ino] == 0 {
		n = 0
	}
	c.releases.Unlock()
	if n == 0 {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// invoke runs fn against the current server until it succeeds, fails for a
// reason that retrying cannot fix, or the retry time runs out. fn gets the
// session id the attempt runs under. A mutation gets one request id for
// all its attempts, so the server applies it once.
func (c *Conn) invoke(ctx context.Context, op string, mutation bool, id *meta.Identity, o callOpts,
	fn func(ctx context.Context, cc *grpc.ClientConn, sess uint64) error) error {
	var req uint64
	if mutation {
		req = c.reqSeq.Add(1)
	}
	if o.wait {
		if err := c.waitReleases(ctx, 0); err != nil {
			return err
		}
	}
	if id == nil {
		id = &c.opts.Identity
	}
	limit := c.opts.RetryTimeout
	if o.retry > 0 {
		limit = o.retry
	}
	deadline := time.Now().Add(limit)
	pause := 20 * time.Millisecond
	resumes := 0
	var last error
	for {
		i, cc, err := c.current()
		if err != nil {
			return err
		}
		sess := uint64(0)
		if !o.noSession {
			sess = c.session.Load()
		}
		var hdr metadata.MD
		err = fn(withHeaderSink(c.outgoing(ctx, id, sess, req), &hdr), cc, sess)
		if err == nil {
			c.answered.Store(true)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		st := status.Convert(err)
		d := detailOf(st)
		if d != nil || st.Code() != codes.Unavailable {
			c.answered.Store(true)
		}
		switch {
		case d != nil && d.UnknownSession && !o.noSession && resumes < maxResumes:
			resumes++
			if err := c.recoverSession(ctx, sess); err != nil {
				return err
			}
			continue
		case d == nil && st.Code() == codes.Unavailable:
			last = err
			c.log.Debug("rpc: server unavailable", "addr", c.addrs[i], "op", op, "err", err)
			if !c.answered.Load() {
				if err := c.unreachable(); err != nil {
					return fserr.E(op, fserr.IO, err)
				}
			}
			if time.Now().After(deadline) {
				return fserr.E(op, fserr.IO, fmt.Errorf("rpc: no server of %v answered within %v: %w", c.addrs, limit, last))
			}
			if c.failover(i) || len(c.addrs) == 1 {
				// Every address failed once: wait before the next round.
				t := time.NewTimer(pause)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
				pause = min(2*pause, time.Second)
			}
			continue
		case d == nil && st.Code() == codes.Canceled && c.closed.Load():
			return fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
		}
		return withRequestID(fromStatus(op, st), hdr)
	}
}

func (c *Conn) outgoing(ctx context.Context, id *meta.Identity, sess, req uint64) context.Context {
	kv := make([]string, 0, 14)
	kv = append(kv, mdFS, c.opts.FSName,
		mdUID, strconv.FormatUint(uint64(id.Uid), 10),
		mdGID, strconv.FormatUint(uint64(id.Gid), 10))
	if len(id.Gids) > 0 {
		kv = append(kv, mdGIDs, formatGids(id.Gids))
	}
	if sess != 0 {
		kv = append(kv, mdSession, strconv.FormatUint(sess, 10))
	}
	if req != 0 {
		kv = append(kv, mdRequest, strconv.FormatUint(req, 10))
	}
	if c.opts.Token != "" {
		kv = append(kv, mdAuth, "Bearer "+c.opts.Token)
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

func (c *Conn) createSession(ctx context.Context) (*pb.SessionReply, error) {
	host, _ := os.Hostname()
	var reply *pb.SessionReply
	err := c.invoke(ctx, "rpc.Session", false, nil, callOpts{noSession: true},
		func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
			var err error
			reply, err = pb.NewSessionClient(cc).Create(ctx, &pb.CreateSessionRequest{
				Host: host, Pid: int64(os.Getpid()), Client: c.opts.Client, Ttl: int64(c.opts.SessionTTL)})
			return err
		})
	if err != nil {
		return nil, err
	}
	c.session.Store(reply.Id)
	c.setBlockURLs(reply.BlockUrls)
	return reply, nil
}

// recoverSession re-attaches session failed (which a server disowned)
// with the handles this client holds, or replaces it with a new session
// when it expired meanwhile.
func (c *Conn) recoverSession(ctx context.Context, failed uint64) error {
	c.resume.Lock()
	defer c.resume.Unlock()
	if c.session.Load() != failed {
		return nil // another call already recovered it
	}
	open := c.openList()
	var reply *pb.SessionReply
	err := c.invoke(ctx, "rpc.Session", false, nil, callOpts{noSession: true},
		func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
			var err error
			reply, err = pb.NewSessionClient(cc).Resume(ctx, &pb.ResumeSessionRequest{Id: failed, Open: open})
			return err
		})
	if err == nil {
		c.setBlockURLs(reply.BlockUrls)
		c.log.Debug("rpc: session resumed", "session", failed, "open", len(open))
		return nil
	}
	if !fserr.Is(fserr.NotExist, err) && !fserr.Is(fserr.NotFound, err) {
		return err
	}
	// The session expired: its handles were released and its slice ids
	// may be swept, so none of them may be used again.
	if _, err := c.createSession(ctx); err != nil {
		return err
	}
	// The id batch is dropped by newSliceID, which sees the session change.
	c.opens.Lock()
	lost := len(c.opens.m)
	c.opens.m = make(map[meta.Ino]int)
	c.opens.Unlock()
	c.log.Warn("rpc: session expired while the servers were unreachable; started a new one",
		"old", failed, "new", c.session.Load(), "open_files_lost", lost)
	return nil
}

func (c *Conn) openList() []uint64 {
	c.opens.Lock()
	defer c.opens.Unlock()
	var out []uint64
	for ino, n := range c.opens.m {
		for range n {
			out = append(out, uint64(ino))
		}
	}
	return out
}

func (c *Conn) opened(ino meta.Ino) {
	c.opens.Lock()
	c.opens.m[ino]++
	c.opens.Unlock()
}

func (c *Conn) released(ino meta.Ino) {
	c.opens.Lock()
	if n := c.opens.m[ino]; n > 1 {
		c.opens.m[ino] = n - 1
	} else {
		delete(c.opens.m, ino)
	}
	c.opens.Unlock()
}

func (c *Conn) heartbeat(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.hbEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := c.invoke(ctx, "rpc.Heartbeat", false, nil, callOpts{},
			func(ctx context.Context, cc *grpc.ClientConn, sess uint64) error {
				_, err := pb.NewSessionClient(cc).Heartbeat(ctx, &pb.SessionID{Id: sess})
				return err
			})
		if err != nil && ctx.Err() == nil {
			c.log.Warn("rpc: heartbeat failed", "session", c.session.Load(), "err", err)
		}
	}
}

// newSliceID serves ids from a batch reserved under the current session.
func (c *Conn) newSliceID(ctx context.Context) (uint64, error) {
	c.ids.Lock()
	defer c.ids.Unlock()
	// A batch older than half MaxWriteGrantAge is dropped: its write
	// grant would soon be past renewal, and a block written under it
	// must still be synced under it.
	if c.ids.next < c.ids.end && c.ids.sess == c.session.Load() && time.Since(c.ids.got) < MaxWriteGrantAge/2 {
		id := c.ids.next
		c.ids.next++
		return id, nil
	}
	var r *pb.Range
	var under uint64
	var hdr metadata.MD
	err := c.invoke(ctx, "rpc.NewSliceID", false, nil, callOpts{},
		func(ctx context.Context, cc *grpc.ClientConn, sess uint64) error {
			var err error
			under = sess
			r, err = pb.NewSessionClient(cc).AllocSliceIDs(ctx, &pb.AllocRequest{Id: sess, N: sliceIDBatch}, grpc.Header(&hdr))
			return err
		})
	if err != nil {
		return 0, err
	}
	c.grants.add(hdr)
	if r.Hi <= r.Lo {
		return 0, fserr.Errorf("rpc.NewSliceID", fserr.IO, "rpc: server allocated an empty id range [%d, %d)", r.Lo, r.Hi)
	}
	c.ids.sess, c.ids.next, c.ids.end, c.ids.got = under, r.Lo+1, r.Hi, time.Now()
	return r.Lo, nil
}
