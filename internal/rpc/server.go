package rpc

import (
	"context"
	"crypto/subtle"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/meta"
)

// Backend is what the server process provides: the meta.FS of each named
// filesystem (opened once and kept), the engine for the filesystem
// registry, and what Status reports about the process.
type Backend interface {
	FS(ctx context.Context, name string) (*meta.FS, error)
	Engine() kv.Engine
	Status(ctx context.Context) (StatusInfo, error)
}

// StatusInfo is the process-level part of Admin.Status; the server adds
// every filesystem's usage and sessions.
type StatusInfo struct {
	Version   string
	Started   time.Time
	Listen    []string // the API addresses
	BlockURLs []string // worker HTTP base URLs announced to clients
	// EngineURL and StoreURL are the metadata engine and block store the
	// process opened, without secrets ("" when it opened none).
	EngineURL, StoreURL string
}

// Token is the identity a bearer token stands for. Super lets its holder
// act as any identity (hf3fs's as_super), root included.
type Token struct {
	Uid, Gid uint32
	Gids     []uint32
	Super    bool
}

// ServerOptions configures a Server. The zero value serves without
// authentication (loopback only; internal/server enforces that).
type ServerOptions struct {
	// Tokens maps bearer tokens to identities; when non-empty every call
	// must carry one of them.
	Tokens map[string]Token
	// Logger receives Debug for every call. Nil discards.
	Logger *slog.Logger
	// SessionTTL is the lifetime of a session whose client asks for none
	// (default 30s).
	SessionTTL time.Duration
	// Grants signs the block grants issued to non-super tokens (see
	// server_grants.go); nil issues none, so such tokens reach no block.
	Grants *blockserver.GrantKey
	// GrantTTL is the lifetime of a block grant (0: DefaultGrantTTL).
	GrantTTL time.Duration
}

const defaultSessionTTL = 30 * time.Second

// nobody is the identity of a call that names none on a server without
// tokens.
var nobody = meta.Identity{Uid: 65534, Gid: 65534}

// Server serves the Meta, Session and Admin services.
type Server struct {
	b    Backend
	opts ServerOptions
	log  *slog.Logger

	mu struct {
		sync.Mutex
		sessions map[sessKey]*meta.Session
		grants   map[sessKey]*sessGrants // see server_grants.go
	}
}

type sessKey struct {
	fs string
	id uint64
}

// NewServer returns a server over b.
func NewServer(b Backend, opts ServerOptions) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = defaultSessionTTL
	}
	s := &Server{b: b, opts: opts, log: opts.Logger}
	s.mu.sessions = make(map[sessKey]*meta.Session)
	s.mu.grants = make(map[sessKey]*sessGrants)
	return s
}

// GRPCOptions are the grpc.ServerOptions the services expect: the
// interceptors that authenticate and resolve each call, message size
// limits and a keepalive policy that lets clients ping every 10s. Pass
// them to grpc.NewServer (more interceptors may follow), then Register.
func (s *Server) GRPCOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unary),
		grpc.ChainStreamInterceptor(s.stream),
		grpc.MaxRecvMsgSize(maxMsg),
		grpc.MaxSendMsgSize(maxMsg),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
}

// Register adds the Meta, Session, Admin, Cluster, Locks and Load services to g.
func (s *Server) Register(g *grpc.Server) {
	pb.RegisterMetaServer(g, &metaServer{s: s})
	pb.RegisterSessionServer(g, &sessionServer{s: s})
	pb.RegisterAdminServer(g, &adminServer{s: s})
	pb.RegisterClusterServer(g, &clusterServer{s: s})
	pb.RegisterLocksServer(g, &locksServer{s: s})
	pb.RegisterLoadServer(g, &loadServer{s: s})
}

// call is what the interceptors derive from a call's metadata.
type call struct {
	id     meta.Identity
	super  bool // may act as any identity and administer
	fsName string
	fs     *meta.FS
	// svc serves Meta calls: the session named by shoal-session, or the
	// FS itself for calls outside any session (tools, admin).
	svc     meta.Service
	sess    *meta.Session
	sessID  uint64
	request uint64
}

type callKey struct{}

const (
	metaPrefix    = "/shoal.v1.Meta/"
	sessionPrefix = "/shoal.v1.Session/"
	inlinePrefix  = "/shoal.v1.Inline/"
	clonePrefix   = "/shoal.v1.Clone/"
	locksPrefix   = "/shoal.v1.Locks/"
	loadPrefix    = "/shoal.v1.Load/"
	ufsPrefix     = "/shoal.v1.Ufs/"
	// healthPrefix is grpc.health.v1, which a server may register next
	// to the services (internal/health): probes carry no token, and the
	// answer discloses nothing but whether the server is ready.
	healthPrefix = "/grpc.health.v1.Health/"
)

func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ctx, c, err := s.begin(ctx, info.FullMethod)
	var resp any
	if err == nil {
		resp, err = h(ctx, req)
		err = s.checkGone(ctx, c, info.FullMethod, err)
	}
	s.logCall(info.FullMethod, c, start, err)
	return resp, err
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c *ctxStream) Context() context.Context { return c.ctx }

func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	ctx, c, err := s.begin(ss.Context(), info.FullMethod)
	if err == nil {
		err = h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
	s.logCall(info.FullMethod, c, start, err)
	return err
}

func (s *Server) logCall(method string, c *call, start time.Time, err error) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	attrs := []any{"method", method, "dur", time.Since(start), "code", status.Code(err)}
	if c != nil {
		attrs = append(attrs, "fs", c.fsName, "session", c.sessID, "uid", c.id.Uid)
	}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	s.log.Debug("rpc: call", attrs...)
}

// begin authenticates the call and finds its filesystem (Meta, Session,
// Inline and Clone calls) and session and request id (Meta, Inline and
// Clone.Publish calls, which act in the caller's session).
func (s *Server) begin(ctx context.Context, method string) (context.Context, *call, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c := &call{}
	if strings.HasPrefix(method, healthPrefix) {
		return ctx, c, nil
	}
	if err := s.identify(md, c); err != nil {
		return ctx, c, err
	}
	// Clone.Publish too: its request id makes a retry apply once.
	inSession := strings.HasPrefix(method, metaPrefix) || strings.HasPrefix(method, inlinePrefix) ||
		strings.HasPrefix(method, locksPrefix) || method == pb.Clone_Publish_FullMethodName
	if inSession || strings.HasPrefix(method, sessionPrefix) || strings.HasPrefix(method, clonePrefix) ||
		strings.HasPrefix(method, loadPrefix) || strings.HasPrefix(method, ufsPrefix) {
		c.fsName = first(md, mdFS)
		if c.fsName == "" {
			c.fsName = DefaultFS
		}
		fs, err := s.b.FS(ctx, c.fsName)
		if err != nil {
			return ctx, c, toStatus(err)
		}
		c.fs, c.svc = fs, fs
	}
	if inSession {
		if v := first(md, mdSession); v != "" {
			id, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return ctx, c, status.Errorf(codes.InvalidArgument, "rpc: bad %s %q", mdSession, v)
			}
			sess, err := s.session(c.fsName, id)
			if err != nil {
				return ctx, c, err
			}
			// The session's handles are its owner's capabilities (the
			// data-path calls and the block grants rest on them): naming
			// another user's session must not borrow them.
			if !s.holdsSession(c, id) {
				return ctx, c, status.Errorf(codes.PermissionDenied, "rpc: session %d belongs to another user", id)
			}
			c.sess, c.sessID, c.svc = sess, id, sess
		}
		if v := first(md, mdRequest); v != "" && c.sess != nil {
			r, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return ctx, c, status.Errorf(codes.InvalidArgument, "rpc: bad %s %q", mdRequest, v)
			}
			c.request = r
			ctx = meta.WithRequest(ctx, c.sessID, r)
		}
	}
	return context.WithValue(ctx, callKey{}, c), c, nil
}

// checkGone turns the NotExist that meta returns for a call bound to a
// session that expired (or another server cleaned) into the
// unknown-session error, so the client replaces its session and retries;
// the call was not applied. Only calls that check their session can fail
// that way, and a heartbeat tells the two NotExists apart.
func (s *Server) checkGone(ctx context.Context, c *call, method string, err error) error {
	if err == nil || c.sess == nil {
		return err
	}
	switch method {
	case pb.Meta_Open_FullMethodName, pb.Meta_Create_FullMethodName, pb.Meta_Release_FullMethodName,
		pb.Locks_SetLock_FullMethodName, pb.Locks_GetLock_FullMethodName:
	default:
		if c.request == 0 {
			return err
		}
	}
	if d := detailOf(status.Convert(err)); d == nil || fserr.Kind(d.Kind) != fserr.NotExist {
		return err
	}
	if herr := c.sess.Heartbeat(ctx); fserr.Is(fserr.NotExist, herr) {
		s.dropSession(c.fsName, c.sessID)
		return errUnknownSession(c.sessID)
	}
	return err
}

// identify derives the caller's identity (see the package doc).
func (s *Server) identify(md metadata.MD, c *call) error {
	sent, hasSent, err := sentIdentity(md)
	if err != nil {
		return err
	}
	if len(s.opts.Tokens) == 0 {
		c.super = true
		c.id = nobody
		if hasSent {
			c.id = sent
		}
		return nil
	}
	auth := first(md, mdAuth)
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return status.Error(codes.Unauthenticated, "rpc: this server needs a token (authorization: Bearer TOKEN)")
	}
	t, found := s.lookupToken(tok)
	if !found {
		return status.Error(codes.Unauthenticated, "rpc: unknown token")
	}
	c.super = t.Super
	c.id = meta.Identity{Uid: t.Uid, Gid: t.Gid, Gids: t.Gids}
	if t.Super && hasSent {
		c.id = sent
	}
	return nil
}

// lookupToken compares in constant time so response timing does not
// reveal how much of a guess matched.
func (s *Server) lookupToken(tok string) (Token, bool) {
	var found Token
	ok := false
	for k, t := range s.opts.Tokens {
		if subtle.ConstantTimeCompare([]byte(k), []byte(tok)) == 1 {
			found, ok = t, true
		}
	}
	return found, ok
}

func sentIdentity(md metadata.MD) (meta.Identity, bool, error) {
	var id meta.Identity
	u := first(md, mdUID)
	if u == "" {
		return id, false, nil
	}
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return id, false, status.Errorf(codes.InvalidArgument, "rpc: bad %s %q", mdUID, u)
	}
	gid, err := strconv.ParseUint(first(md, mdGID), 10, 32)
	if err != nil {
		return id, false, status.Errorf(codes.InvalidArgument, "rpc: bad %s %q", mdGID, first(md, mdGID))
	}
	gids, err := parseGids(first(md, mdGIDs))
	if err != nil {
		return id, false, status.Errorf(codes.InvalidArgument, "rpc: bad %s %q", mdGIDs, first(md, mdGIDs))
	}
	return meta.Identity{Uid: uint32(uid), Gid: uint32(gid), Gids: gids}, true, nil
}

func first(md metadata.MD, k string) string {
	if v := md.Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}

// state returns the call's state. Without the interceptors (a grpc.Server
// built without GRPCOptions) it derives it here.
func (s *Server) state(ctx context.Context, method string) (context.Context, *call, error) {
	if c, ok := ctx.Value(callKey{}).(*call); ok {
		return ctx, c, nil
	}
	return s.begin(ctx, method)
}

// session returns the session id of filesystem fsName that this server
// holds, or the unknown-session error that makes the client resume it.
func (s *Server) session(fsName string, id uint64) (*meta.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.mu.sessions[sessKey{fsName, id}]; ok {
		return sess, nil
	}
	return nil, errUnknownSession(id)
}

func (s *Server) putSession(fsName string, sess *meta.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.sessions[sessKey{fsName, sess.ID()}] = sess
}

func (s *Server) dropSession(fsName string, id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.sessions, sessKey{fsName, id})
	delete(s.mu.grants, sessKey{fsName, id})
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

func uitoa(v uint64) string { return strconv.FormatUint(v, 10) }

// errNoSession rejects calls that hold state in a session without naming one.
func errNoSession(op string) error {
	return toStatus(fserr.Errorf(op, fserr.Invalid, "rpc: %s needs a session (%s)", op, mdSession))
}
