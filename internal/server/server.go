// Package server assembles a Shoal server process: the meta role (the
// gRPC API of internal/rpc over the namespaces of internal/meta, on the
// engine internal/storage opens: the embedded Badger engine of a data
// directory by default, etcd or PostgreSQL by URL) and the worker role
// (the block HTTP server of internal/blockserver over one block store per
// filesystem: a local directory by default, S3 by URL), in one process or
// apart.
//
// Data directory layout: see internal/datadir (DIR/LOCK, DIR/meta,
// DIR/blocks/<fs-id>), the same as shoal.OpenLocal, so a directory
// written through the SDK can be served and the other way around (one
// process at a time: the server holds DIR/LOCK).
//
// Durability: the engine runs without SyncWrites, so a commit survives
// the death of the server process at once and power loss after the next
// engine sync. Clients call File.Sync to make a file durable: the blocks
// are synced through the worker (POST .../sync with the block keys), the
// slices committed over gRPC, and then the engine synced (Meta.Sync).
//
// Garbage: the server, not its clients, collects garbage. A background
// loop expires dead sessions (their unlinked-open files become
// reclaimable, their uncommitted slice ids sweepable) and runs a
// data.Layer's GC per filesystem over the filesystem's own meta.FS and
// block store: reclaim of deleted inodes, deletion of the blocks of freed
// slices, sweep of dead sessions' uncommitted blocks. Reusing data.Layer
// keeps one implementation of the order that makes GC safe (blocks go
// before their records are forgotten).
//
// Security: with no tokens, the client-sent identity is trusted, so a
// listener beyond loopback is refused unless tokens are configured.
// Tokens authenticate both the gRPC API and the block server. On the
// block server only a super token lists, or reaches any block; another
// token reaches only the blocks meta granted it (grants.go, and
// internal/blockserver's grant.go), so POSIX permissions checked at open
// hold for the bytes too.
//
// Invariants: a filesystem is served by exactly one meta.FS in the
// process (opened on first use; Exclusive only on an engine no other
// process shares); sessions are never closed by a shutdown (clients resume them
// after a restart), only expired.
package server

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kvtable"
	"github.com/shoalfs/shoal/internal/load"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/rpc"
	"github.com/shoalfs/shoal/internal/storage"
)

// Role is a set of roles a process runs.
type Role uint8

const (
	// RoleMeta serves the gRPC API: namespaces, sessions, admin.
	RoleMeta Role = 1 << iota
	// RoleWorker serves blocks over HTTP.
	RoleWorker
	// RoleAll is `shoal server`: every role in one process.
	RoleAll = RoleMeta | RoleWorker
)

func (r Role) String() string {
	switch r {
	case RoleMeta:
		return "meta"
	case RoleWorker:
		return "worker"
	case RoleAll:
		return "server"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// Defaults.
const (
	DefaultListen          = "127.0.0.1:7700"
	DefaultWorkerListen    = "127.0.0.1:7701"
	DefaultGCInterval      = 10 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
)

// Config configures a Server. The zero value runs every role on the
// default loopback addresses; DataDir is required.
type Config struct {
	// DataDir holds the data (see internal/datadir): the process lock,
	// and the engine and blocks unless MetaURL and StoreURL put them
	// elsewhere.
	DataDir string
	// MetaURL is the engine (internal/storage: badger:///DIR,
	// etcd://..., postgres://...); "" is Badger in DataDir. Used by the
	// meta role.
	MetaURL string
	// StoreURL is the block store (file:///DIR, s3://...); "" is
	// DataDir/blocks. Used by the worker role.
	StoreURL string
	// Roles run by this process (0: RoleAll).
	Roles Role
	// Listen is the gRPC address of the meta role (default DefaultListen;
	// port 0 picks one, see Addr).
	Listen string
	// WorkerListen is the block HTTP address of the worker role (default
	// DefaultWorkerListen).
	WorkerListen string
	// WorkerURLs are the block server base URLs announced to clients. By
	// default the worker role's own address. A meta role run alone must
	// be given them (`shoal meta --worker-url http://host:7701`).
	WorkerURLs []string
	// WorkerAdvertise, when set, is the block base URL this worker
	// announces (its lease and the session's block URLs) instead of its
	// listener's address: for a worker reached through a proxy or NAT.
	WorkerAdvertise string
	// MetaAddrs are the meta servers a worker role run alone asks for the
	// filesystem registry (name to id).
	MetaAddrs []string
	// PeerToken is the token one role presents to the other when they run
	// apart (the worker asking meta for the registry, meta's GC deleting
	// blocks at the worker).
	PeerToken string
	// Tokens maps bearer tokens to identities. Empty: no authentication,
	// allowed on loopback listeners only.
	Tokens map[string]rpc.Token
	// TLSCert and TLSKey, when set, serve both listeners over TLS.
	TLSCert, TLSKey string
	// S3 configures the S3 gateway (s3.go), run with both roles only.
	S3 S3Config
	// SessionTTL is how long a client session lives after its last
	// heartbeat (0: meta's default, 30s).
	SessionTTL time.Duration
	// GrantTTL is the lifetime of the block grants issued to non-super
	// tokens (0: rpc.DefaultGrantTTL); clients renew them.
	GrantTTL time.Duration
	// WorkerID is the worker role's id in the worker registry, its place
	// on the ring: keep it across restarts (default: its advertised
	// block address, host:port).
	WorkerID string
	// WorkerCapacity is the bytes the worker offers, recorded in its
	// lease (informational).
	WorkerCapacity uint64
	// LeaseTTL is the worker lease's lifetime without a heartbeat (0:
	// DefaultLeaseTTL; at most meta.MaxWorkerTTL).
	LeaseTTL time.Duration
	// Capacity is a byte quota on every filesystem served (0: none; df
	// then shows the room on the data directory's disk).
	Capacity uint64
	// GCInterval is the period of session expiry and garbage collection
	// (0: DefaultGCInterval; negative disables the loop).
	GCInterval time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to
	// finish once Run's context is cancelled (0: DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
	// Version is reported by Status.
	Version string
	// Logger receives Info for start/stop, Warn for failed background
	// work, and the request log (internal/metrics). Nil discards.
	Logger *slog.Logger
	// MetricsListen is an extra address serving /metrics, /healthz and
	// /readyz ("" : only the block HTTP port serves them; observe.go).
	MetricsListen string
	// SlowRequest is the duration past which a request is logged at Warn
	// (0: metrics.DefaultSlowRequest; negative: never).
	SlowRequest time.Duration
	// WebListen is the web console's address (web.go; "" : no console).
	// It runs with the meta role; without tokens it must be loopback.
	WebListen string
	// WebOptional makes a WebListen address already in use disable the
	// console with a warning instead of failing the server.
	WebOptional bool
	// LoadClient opens the client the worker role's load jobs read
	// through (load.go); nil runs none. The CLI gives shoal.Dial.
	LoadClient LoadClient
	// LoadCache answers the worker's load jobs' --skip-cached (nil:
	// nothing is cached; the dataset cache provides one).
	LoadCache load.CacheChecker
	// LoadPoll is how often the worker reads the running load jobs (0:
	// load.DefaultPoll); a stop takes effect within it.
	LoadPoll time.Duration
	// Console builds the web console served on WebListen (web.go); nil
	// serves none. The CLI sets it to internal/console's constructor.
	Console func(ConsoleConfig) (Console, error)
}

// EnsureDefaults fills unset fields.
func (c *Config) EnsureDefaults() {
	if c.Roles == 0 {
		c.Roles = RoleAll
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.WorkerListen == "" {
		c.WorkerListen = DefaultWorkerListen
	}
	if c.GCInterval == 0 {
		c.GCInterval = DefaultGCInterval
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Version == "" {
		c.Version = "(devel)"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a configuration that cannot or must not run.
func (c *Config) Validate() error {
	const op = "server.Config"
	if c.DataDir == "" {
		return fserr.Errorf(op, fserr.Invalid, "server: no data directory (--data DIR)")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fserr.Errorf(op, fserr.Invalid, "server: --tls-cert and --tls-key go together")
	}
	if c.Roles == RoleWorker && len(c.MetaAddrs) == 0 {
		return fserr.Errorf(op, fserr.Invalid, "server: a worker run alone needs the meta server's address (--meta HOST:PORT)")
	}
	if len(c.Tokens) == 0 {
		for _, l := range c.listens() {
			if !IsLoopback(l) {
				return fserr.Errorf(op, fserr.Permission,
					"server: refusing to listen on %s without tokens: without them anyone who can connect acts as any user.\n"+
						"Listen on 127.0.0.1, or create a tokens file and pass --tokens FILE, with %s\n"+
						"for example:  echo \"$(openssl rand -hex 16) 1000 1000\" > tokens && chmod 600 tokens",
					l, TokenFileFormat)
			}
		}
	}
	if c.LeaseTTL > meta.MaxWorkerTTL {
		return fserr.Errorf(op, fserr.Invalid, "server: lease ttl %v is over %v", c.LeaseTTL, meta.MaxWorkerTTL)
	}
	if c.WorkerAdvertise != "" {
		u, err := url.Parse(c.WorkerAdvertise)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return fserr.Errorf(op, fserr.Invalid, "server: --worker-advertise %q: want the block URL clients reach this worker at, http://HOST:PORT or https://HOST:PORT", c.WorkerAdvertise)
		}
		c.WorkerAdvertise = u.Scheme + "://" + u.Host
	}
	return nil
}

func (c *Config) listens() []string {
	var out []string
	if c.Roles&RoleMeta != 0 {
		out = append(out, c.Listen)
	}
	if c.Roles&RoleWorker != 0 {
		out = append(out, c.WorkerListen)
	}
	if c.Roles&RoleMeta != 0 && c.WebListen != "" {
		out = append(out, c.WebListen)
	}
	return out
}

// IsLoopback reports whether the listen address addr binds loopback
// only. An empty host or a name other than localhost counts as beyond.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is a running server process. New binds the listeners; Run serves.
type Server struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	tlsCfg  *tls.Config

	storage *storage.Storage // the data directory's lock, the engine, the block stores
	eng     kv.Engine        // storage's engine; nil for a worker alone
	shared  bool             // eng has other users (etcd, PostgreSQL)
	reg     *registry
	tables  *kvtable.Store // the KV tables in eng (meta role)

	grpcLn, httpLn net.Listener
	grpc           *grpc.Server
	http           *http.Server
	blockURLs      []string
	workerID       string // the worker role's lease (lease.go)
	workerURL      string
	gcOwner        string // this process's name in the collector's claims
	peerMu         sync.Mutex
	peer           *rpc.Conn // worker alone: the meta server, dialled on first use
	s3             *s3Role   // nil unless S3 is on
	obs            *observer // metrics, health (observe.go)
	web            *webRole  // the console (web.go); nil when off
	loadMu         sync.Mutex
	loads          loadRunners // the worker role's load jobs (load.go)

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, takes the data directory's lock, opens the engine
// and binds the listeners. The caller must Run or Close the server.
func New(cfg Config) (_ *Server, err error) {
	const op = "server.New"
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, started: time.Now(), gcOwner: gcOwner()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.obs, err = newObserver(s); err != nil {
		return nil, err
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fserr.E(op, cfg.TLSCert, fserr.Invalid, err)
		}
		s.tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if s.storage, err = storage.Open(context.Background(), storage.Config{
		DataDir:  cfg.DataDir,
		Meta:     cfg.MetaURL,
		Store:    cfg.StoreURL,
		NoEngine: cfg.Roles&RoleMeta == 0,
		NoBlocks: cfg.Roles&RoleWorker == 0,
		Logger:   cfg.Logger,
	}); err != nil {
		return nil, err
	}
	if e := s.storage.Engine; e != nil {
		s.eng, s.shared = e.KV, e.Shared
	}
	if cfg.Roles&RoleWorker != 0 {
		if s.httpLn, err = net.Listen("tcp", cfg.WorkerListen); err != nil {
			return nil, fserr.E(op, cfg.WorkerListen, fserr.IO, err)
		}
		scheme := "http://"
		if s.tlsCfg != nil {
			scheme = "https://"
		}
		s.workerURL = scheme + advertised(s.httpLn.Addr())
		if cfg.WorkerAdvertise != "" {
			s.workerURL = cfg.WorkerAdvertise
		}
		s.blockURLs = append(s.blockURLs, s.workerURL)
		s.workerID = cfg.WorkerID
		if s.workerID == "" {
			s.workerID = advertised(s.httpLn.Addr())
		}
	}
	if len(cfg.WorkerURLs) > 0 {
		s.blockURLs = append([]string(nil), cfg.WorkerURLs...)
	}
	s.reg = newRegistry(s)
	grants, err := s.grantKey(context.Background())
	if err != nil {
		return nil, err
	}
	if cfg.Roles&RoleMeta != 0 {
		if err := s.reg.openAll(context.Background()); err != nil {
			return nil, err
		}
		if s.grpcLn, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fserr.E(op, cfg.Listen, fserr.IO, err)
		}
		rs := rpc.NewServer(backend{s}, rpc.ServerOptions{Tokens: cfg.Tokens, Logger: cfg.Logger, SessionTTL: cfg.SessionTTL,
			Grants: grants, GrantTTL: cfg.GrantTTL})
		gopts := append(s.obs.grpcOptions(), rs.GRPCOptions()...)
		if s.tlsCfg != nil {
			gopts = append(gopts, grpc.Creds(credentials.NewTLS(s.tlsCfg)))
		}
		s.grpc = grpc.NewServer(gopts...)
		rs.Register(s.grpc)
		rs.RegisterClone(s.grpc)
		rs.RegisterInline(s.grpc)
		rs.RegisterUfs(s.grpc)
		if s.tables, err = kvtable.Open(s.eng, tableOptions(cfg)); err != nil {
			return nil, err
		}
		rs.RegisterKV(s.grpc, s.tables)
		s.obs.registerGRPC(s.grpc)
	}
	if cfg.Roles&RoleWorker != 0 {
		bs := blockserver.New(nil, blockserver.Options{
			Authorize: s.authorize,
			Trusted:   s.trusted,
			Grants:    grants,
			SliceOf:   blockfmt.SliceOfKey,
			Store:     s.reg.blockStore,
			FSID:      s.reg.blockFSID,
			Logger:    cfg.Logger,
		})
		s.http = &http.Server{
			Handler:           s.obs.blockHandler(bs),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			TLSConfig:         s.tlsCfg,
			ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		}
	}
	if s.s3, err = newS3Role(s); err != nil {
		return nil, err
	}
	if s.web, err = newWebRole(s); err != nil {
		return nil, err
	}
	s.obs.addChecks()
	return s, nil
}

// advertised is the address clients should dial for a listener: a
// wildcard host is replaced by the machine's name.
func advertised(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}

// Addr is the gRPC address ("" without the meta role).
func (s *Server) Addr() string {
	if s.grpcLn == nil {
		return ""
	}
	return advertised(s.grpcLn.Addr())
}

// WorkerAddr is the block HTTP address ("" without the worker role).
func (s *Server) WorkerAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return advertised(s.httpLn.Addr())
}

// BlockURLs are the block server URLs announced to clients.
func (s *Server) BlockURLs() []string { return append([]string(nil), s.blockURLs...) }

// authorize checks the bearer token of a block request.
func (s *Server) authorize(r *http.Request) error {
	if len(s.cfg.Tokens) == 0 {
		return nil
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return fserr.Errorf("server.authorize", fserr.Permission, "server: missing bearer token")
	}
	if _, found := lookupToken(s.cfg.Tokens, tok); !found {
		return fserr.Errorf("server.authorize", fserr.Permission, "server: unknown token")
	}
	return nil
}

// lookupToken finds tok in constant time, like the gRPC side, so timing
// reveals nothing of a guess.
func lookupToken(tokens map[string]rpc.Token, tok string) (rpc.Token, bool) {
	var found rpc.Token
	ok := false
	for k, t := range tokens {
		if subtle.ConstantTimeCompare([]byte(k), []byte(tok)) == 1 {
			found, ok = t, true
		}
	}
	return found, ok
}

// Banner writes where the server listens and how to connect.
func (s *Server) Banner(w io.Writer) {
	fmt.Fprintf(w, "shoal %s %s\n", s.cfg.Roles, s.cfg.Version)
	fmt.Fprintf(w, "  data dir:  %s\n", s.cfg.DataDir)
	if e := s.storage.Engine; e != nil {
		fmt.Fprintf(w, "  engine:    %s\n", e.URL)
	}
	if b := s.storage.Blocks; b != nil {
		fmt.Fprintf(w, "  store:     %s\n", b.URL)
	}
	if a := s.Addr(); a != "" {
		fmt.Fprintf(w, "  api:       %s (gRPC%s)\n", a, map[bool]string{true: ", TLS"}[s.tlsCfg != nil])
	}
	if a := s.WorkerAddr(); a != "" {
		fmt.Fprintf(w, "  blocks:    %s (HTTP%s)\n", a, map[bool]string{true: ", TLS"}[s.tlsCfg != nil])
	}
	s.s3.banner(w)
	s.web.banner(w)
	s.obs.banner(w)
	if s.cfg.Roles&RoleMeta != 0 {
		fmt.Fprintf(w, "  workers:   %s\n", strings.Join(s.blockURLs, ", "))
		var names []string
		for _, info := range s.reg.list(context.Background()) {
			names = append(names, info.Name)
		}
		fmt.Fprintf(w, "  fs:        %s\n", strings.Join(names, ", "))
	} else {
		fmt.Fprintf(w, "  meta:      %s\n", strings.Join(s.cfg.MetaAddrs, ", "))
	}
	auth := "none (loopback only)"
	if len(s.cfg.Tokens) > 0 {
		auth = fmt.Sprintf("%d tokens", len(s.cfg.Tokens))
	}
	fmt.Fprintf(w, "  auth:      %s\n", auth)
	if a := s.Addr(); a != "" {
		tok := ""
		if len(s.cfg.Tokens) > 0 {
			tok = " --token TOKEN"
		}
		fmt.Fprintf(w, "Connect:\n")
		fmt.Fprintf(w, "  shoal fs --addr %s%s ls /\n", a, tok)
		fmt.Fprintf(w, "  shoal status --addr %s%s\n", a, tok)
		fmt.Fprintf(w, "  Go:     shoal.Dial(ctx, %q)\n", a)
		fmt.Fprintf(w, "  Python: shoal.Client.build(mds_addrs=%q)\n", a)
	}
}

// Run serves until ctx is cancelled, then stops gracefully: listeners
// close, in-flight requests get Config.ShutdownTimeout to finish, the
// engine is closed and the lock released. It returns nil after a clean
// stop.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 4)
	serving := s.s3.serve(errc) + s.obs.serve(errc) + s.web.serve(errc)
	if s.grpc != nil {
		serving++
		go func() { errc <- s.grpc.Serve(s.grpcLn) }()
	}
	if s.http != nil {
		serving++
		go func() {
			var err error
			if s.tlsCfg != nil {
				err = s.http.ServeTLS(s.httpLn, "", "")
			} else {
				err = s.http.Serve(s.httpLn)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	gctx, stopGC := context.WithCancel(context.Background())
	var gcDone sync.WaitGroup
	if s.eng != nil && s.cfg.GCInterval > 0 {
		gcDone.Go(func() { s.reg.gcLoop(gctx, s.cfg.GCInterval) })
	}
	if s.http != nil {
		gcDone.Go(func() { s.leaseLoop(gctx) })
		gcDone.Go(func() { s.loadLoop(gctx) })
	}
	s.log.Info("server: started", "roles", s.cfg.Roles.String(), "api", s.Addr(), "blocks", s.WorkerAddr(), "data", s.cfg.DataDir)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		serving--
		s.log.Error("server: listener failed", "err", runErr)
	}
	stopGC()
	gcDone.Wait()
	s.shutdown()
	for ; serving > 0; serving-- {
		if err := <-errc; err != nil && runErr == nil && !errors.Is(err, grpc.ErrServerStopped) {
			runErr = err
		}
	}
	if err := s.Close(); runErr == nil {
		runErr = err
	}
	s.log.Info("server: stopped", "err", runErr)
	return runErr
}

// shutdown stops both listeners, letting in-flight requests finish within
// the shutdown timeout.
func (s *Server) shutdown() {
	s.obs.drain()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	// The console first: its clients end their sessions over the gRPC
	// API, which must still be up.
	s.web.shutdown(ctx)
	if err := s.web.close(); err != nil {
		s.log.Warn("server: closing the console", "err", err)
	}
	var wg sync.WaitGroup
	if s.grpc != nil {
		wg.Go(func() {
			done := make(chan struct{})
			go func() { s.grpc.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				s.log.Warn("server: in-flight gRPC calls outlived the shutdown timeout; cutting them")
				s.grpc.Stop()
				<-done
			}
		})
	}
	wg.Go(func() { s.s3.shutdown(ctx) })
	wg.Go(func() { s.obs.shutdown(ctx) })
	if s.http != nil {
		wg.Go(func() {
			if err := s.http.Shutdown(ctx); err != nil {
				s.log.Warn("server: block server shutdown", "err", err)
				s.http.Close()
			}
		})
	}
	wg.Wait()
}

// Close releases everything without waiting for requests: filesystems,
// stores, the engine, then the lock. Run calls it; call it only for a
// Server that never ran.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		errs = append(errs, s.web.close())
		if s.grpc != nil {
			s.grpc.Stop()
		} else if s.grpcLn != nil {
			s.grpcLn.Close()
		}
		if s.http != nil {
			s.http.Close()
		} else if s.httpLn != nil {
			s.httpLn.Close()
		}
		errs = append(errs, s.s3.close())
		s.obs.close()
		if s.reg != nil {
			errs = append(errs, s.reg.close())
		}
		if s.peer != nil {
			errs = append(errs, s.peer.Close())
		}
		if s.tables != nil {
			errs = append(errs, s.tables.Close())
		}
		if s.storage != nil {
			errs = append(errs, s.storage.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// backend is what internal/rpc serves.
type backend struct{ s *Server }

var _ rpc.Backend = backend{}

func (b backend) FS(ctx context.Context, name string) (*meta.FS, error) {
	st, err := b.s.reg.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return st.fs, nil
}

func (b backend) Engine() kv.Engine { return b.s.eng }

func (b backend) Status(ctx context.Context) (rpc.StatusInfo, error) {
	// Status is also when a deletion through Admin becomes visible to
	// this process without waiting for the next GC pass.
	b.s.reg.list(ctx)
	info := rpc.StatusInfo{
		Version:   b.s.cfg.Version,
		Started:   b.s.started,
		BlockURLs: b.s.announcedURLs(ctx),
	}
	if a := b.s.Addr(); a != "" {
		info.Listen = append(info.Listen, a)
	}
	// The URLs as the banner prints them: internal/storage removed every
	// secret when it opened them.
	if e := b.s.storage.Engine; e != nil {
		info.EngineURL = e.URL
	}
	if bl := b.s.storage.Blocks; bl != nil {
		info.StoreURL = bl.URL
	}
	return info, nil
}

// tableOptions configure the KV tables: expired records are reclaimed
// once a minute while the GC loop is on (a pass reads every table, so
// less often than the filesystem GC; visibility never depends on it).
func tableOptions(cfg Config) kvtable.Options {
	o := kvtable.Options{Logger: cfg.Logger}
	if cfg.GCInterval > 0 {
		o.ReclaimInterval = time.Minute
	}
	return o
}
