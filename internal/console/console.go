// Package console serves Shoal's web console: static pages embedded in
// the binary (static/, plain HTML, CSS and JavaScript, no build step) and
// a small JSON API under /api/ that they call.
//
// The console is a client of the server it fronts, never a side door: it
// dials the server's own gRPC API through the public Go SDK (shoal.Dial)
// with the logged-in user's token, so every file and table operation is
// checked exactly as the same call from the SDK would be (POSIX
// permissions of the token's uid and gids; a super token acts as root).
// Status comes from the same API's Admin service.
//
// Invariants:
//   - Authentication is the server's: with tokens, a request carries one
//     (a login cookie naming a console session, or an Authorization:
//     Bearer header); without tokens the console acts as root, like an SDK
//     client given no identity, and, like the API, only for loopback
//     clients (the listener must be loopback, and the Host header must
//     name a loopback address, which defeats DNS rebinding).
//   - Cross-site requests cannot act: the login cookie is HttpOnly and
//     SameSite=Strict, every API call must carry the X-Shoal-Console
//     header (which a cross-origin page cannot send without a CORS
//     preflight, and none is ever granted), and a request whose Origin or
//     Sec-Fetch-Site names another site is refused.
//   - Nothing from the filesystem reaches the page as markup: the API
//     answers JSON, the pages insert it as text (never innerHTML), files
//     download as attachments with nosniff, and a strict
//     Content-Security-Policy forbids inline script.
//   - Each console session owns its SDK clients (one per filesystem, dialled
//     on first use) and closes them on logout, on idle expiry or on Close.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/rpc"
)

//go:embed static
var static embed.FS

// DefaultListen is the console's address under `shoal server`.
const DefaultListen = "127.0.0.1:7702"

// DefaultIdle is how long a console login lives without a request.
const DefaultIdle = 30 * time.Minute

// cookieName holds a console session id (never the token itself: logging
// out or expiring a session makes the cookie worthless).
const cookieName = "shoal_console"

// headerName must be on every API request (see the package invariants).
const headerName = "X-Shoal-Console"

// Options configure a Console. Addr is required.
type Options struct {
	// Addr is the gRPC API address of the server the console fronts.
	Addr string
	// TLS, when set, is used to dial Addr and the workers.
	TLS *tls.Config
	// Tokens are the server's tokens (empty: no login; loopback only).
	Tokens map[string]rpc.Token
	// Info describes the process for the overview page.
	Info Info
	// Idle is the lifetime of an unused login (0: DefaultIdle).
	Idle time.Duration
	// Logger receives Warn for failures closing clients. Nil discards.
	Logger *slog.Logger
}

// Info is what the overview shows of the server process beyond what its
// Admin.Status reports.
type Info struct {
	Roles   string // "server", "meta"
	DataDir string
	Engine  string // the metadata engine, e.g. "badger at DIR/meta"
	Store   string // the block store, e.g. "local files at DIR/blocks"
	S3      string // the S3 gateway's address, "" when off
	Metrics []string
}

// Console is the console's http.Handler. Close it when done.
type Console struct {
	opts   Options
	log    *slog.Logger
	files  http.Handler
	mux    *http.ServeMux
	closed chan struct{}
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		sessions map[string]*session // by cookie id, or "bearer:"+sha256(token)
		isClosed bool
	}
}

// New returns a Console over the server at o.Addr. It dials nothing until
// a page asks.
func New(o Options) (*Console, error) {
	if o.Addr == "" {
		return nil, fserr.Errorf("console.New", fserr.Invalid, "console: no API address")
	}
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{opts: o, log: o.Logger, files: http.FileServerFS(sub), closed: make(chan struct{})}
	c.mu.sessions = map[string]*session{}
	c.mux = http.NewServeMux()
	c.routes()
	c.wg.Go(c.expireLoop)
	return c, nil
}

// Close ends every session and closes their clients.
func (c *Console) Close() error {
	c.mu.Lock()
	if c.mu.isClosed {
		c.mu.Unlock()
		return nil
	}
	c.mu.isClosed = true
	all := c.mu.sessions
	c.mu.sessions = map[string]*session{}
	c.mu.Unlock()
	close(c.closed)
	c.wg.Wait()
	var errs []error
	for _, s := range all {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}

func (c *Console) expireLoop() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case now := <-t.C:
			c.expire(now)
		}
	}
}

// expire closes the sessions unused for longer than Options.Idle.
func (c *Console) expire(now time.Time) {
	var old []*session
	c.mu.Lock()
	for id, s := range c.mu.sessions {
		if now.Sub(s.lastUsed()) > c.opts.Idle {
			old = append(old, s)
			delete(c.mu.sessions, id)
		}
	}
	c.mu.Unlock()
	for _, s := range old {
		if err := s.close(); err != nil {
			c.log.Warn("console: closing an expired session", "err", err)
		}
	}
}

// ServeHTTP serves the pages and the API.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if len(c.opts.Tokens) == 0 && !loopbackHost(r.Host) {
		// Without tokens the console trusts whoever reaches it; a page
		// naming another host (DNS rebinding) must not.
		http.Error(w, "console: without tokens the console answers only to a loopback host name (127.0.0.1, ::1, localhost)", http.StatusMisdirectedRequest)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if err := sameOrigin(r); err != nil {
			writeError(w, http.StatusForbidden, err)
			return
		}
		c.mux.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	c.files.ServeHTTP(w, r)
}

// sameOrigin refuses what a page of another site could send.
func sameOrigin(r *http.Request) error {
	const op = "console"
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return fserr.Errorf(op, fserr.Permission, "console: cross-site request refused")
	}
	if o := r.Header.Get("Origin"); o != "" {
		scheme := "http://"
		if r.TLS != nil {
			scheme = "https://"
		}
		if o != scheme+r.Host {
			return fserr.Errorf(op, fserr.Permission, "console: request from origin %q refused", o)
		}
	}
	// Downloads are plain links (a browser navigation sends no custom
	// header); they only read, and with tokens the cookie is SameSite=Strict.
	if r.Header.Get(headerName) == "" && !(r.Method == http.MethodGet && r.URL.Path == "/api/fs/download") {
		return fserr.Errorf(op, fserr.Permission, "console: missing the %s header", headerName)
	}
	return nil
}

// loopbackHost reports whether a Host header names a loopback address.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// lookupToken finds tok in constant time, as the server does.
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

// errNoLogin is the cause of requests without a valid login.
var errNoLogin = errors.New("console: not logged in (or the session expired)")

// session finds the caller's session: the no-token one, the cookie's, or
// one for a bearer token.
func (c *Console) session(r *http.Request) (*session, error) {
	const op = "console"
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.isClosed {
		return nil, fserr.E(op, fserr.Closed)
	}
	if len(c.opts.Tokens) == 0 {
		s := c.mu.sessions[""]
		if s == nil {
			s = c.newSessionLocked("", rpc.Token{}, false)
			c.mu.sessions[""] = s
		}
		s.touch()
		return s, nil
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		id, found := lookupToken(c.opts.Tokens, tok)
		if !found {
			return nil, fserr.E(op, fserr.Permission, errors.New("console: unknown token"))
		}
		sum := sha256.Sum256([]byte(tok))
		key := "bearer:" + hex.EncodeToString(sum[:])
		s := c.mu.sessions[key]
		if s == nil {
			s = c.newSessionLocked(tok, id, true)
			c.mu.sessions[key] = s
		}
		s.touch()
		return s, nil
	}
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil, fserr.E(op, fserr.Permission, errNoLogin)
	}
	s := c.mu.sessions["c:"+ck.Value]
	if s == nil {
		return nil, fserr.E(op, fserr.Permission, errNoLogin)
	}
	s.touch()
	return s, nil
}

// login checks tok and starts a session for it, returning the cookie id.
func (c *Console) login(tok string) (string, *session, error) {
	const op = "console.login"
	id, found := lookupToken(c.opts.Tokens, tok)
	if !found {
		return "", nil, fserr.E(op, fserr.Permission, errors.New("console: unknown token"))
	}
	b := make([]byte, 24)
	rand.Read(b)
	sid := hex.EncodeToString(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.isClosed {
		return "", nil, fserr.E(op, fserr.Closed)
	}
	s := c.newSessionLocked(tok, id, true)
	s.touch()
	c.mu.sessions["c:"+sid] = s
	return sid, s, nil
}

// logout ends the cookie's session.
func (c *Console) logout(r *http.Request) error {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	s := c.mu.sessions["c:"+ck.Value]
	delete(c.mu.sessions, "c:"+ck.Value)
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.close()
}

func (c *Console) newSessionLocked(tok string, id rpc.Token, authed bool) *session {
	s := &session{c: c, token: tok, id: id, authed: authed}
	s.mu.clients = map[string]*shoal.Client{}
	return s
}

// session is one login: its identity and the clients acting as it.
type session struct {
	c      *Console
	token  string
	id     rpc.Token
	authed bool // false: the no-token console, acting as root

	mu struct {
		sync.Mutex
		used    time.Time
		clients map[string]*shoal.Client // by filesystem name
		admin   *rpc.Conn
		closed  bool
	}
}

func (s *session) touch() {
	s.mu.Lock()
	s.mu.used = time.Now()
	s.mu.Unlock()
}

func (s *session) lastUsed() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.used
}

// client returns the session's SDK client on filesystem fsName, dialling
// it on first use. Without tokens it acts as root (the SDK's default).
func (s *session) client(ctx context.Context, fsName string) (*shoal.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, fserr.E("console", fserr.Closed)
	}
	if cl := s.mu.clients[fsName]; cl != nil {
		return cl.WithContext(ctx), nil
	}
	// Every login holds its own clients, so each gets a small memory
	// budget: no block cache (a console streams files once) and a write
	// buffer of 32 MiB, not the SDK's 256 MiB each.
	opts := []shoal.Option{shoal.WithFS(fsName), shoal.WithToken(s.token), shoal.WithLogger(s.c.log),
		shoal.WithBlockCache(-1), shoal.WithWriteBuffer(32 << 20)}
	if s.c.opts.TLS != nil {
		opts = append(opts, shoal.WithTLS(s.c.opts.TLS))
	}
	// Dial outlives the request that caused it: the client is kept.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	cl, err := shoal.Dial(dctx, s.c.opts.Addr, opts...)
	if err != nil {
		return nil, err
	}
	s.mu.clients[fsName] = cl
	return cl.WithContext(ctx), nil
}

// admin returns the session's connection for Admin calls.
func (s *session) admin(ctx context.Context) (*rpc.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, fserr.E("console", fserr.Closed)
	}
	if s.mu.admin != nil {
		return s.mu.admin, nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	conn, err := rpc.Dial(dctx, []string{s.c.opts.Addr}, rpc.ClientOptions{
		Token: s.token, TLS: s.c.opts.TLS, Client: "shoal-console", Logger: s.c.log,
	})
	if err != nil {
		return nil, err
	}
	s.mu.admin = conn
	return conn, nil
}

func (s *session) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil
	}
	s.mu.closed = true
	var errs []error
	for _, cl := range s.mu.clients {
		errs = append(errs, cl.Close())
	}
	if s.mu.admin != nil {
		errs = append(errs, s.mu.admin.Close())
	}
	return errors.Join(errs...)
}
