package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/rpc"
)

// The web console (internal/console, docs/console.md) on
// Config.WebListen, with the meta role. It is a client of this process's
// own gRPC API, dialled with each logged-in user's token, so it sees and
// may do exactly what that user's SDK client may.

// Console is the web console as the server runs it. The server cannot
// build it itself: internal/console is a client of the public SDK, and the
// SDK's own tests start this server, so importing it here would be a cycle.
// The CLI sets Config.Console to internal/console's constructor.
type Console interface {
	http.Handler
	Close() error
}

// ConsoleConfig is what the server tells the console about itself.
type ConsoleConfig struct {
	Addr    string      // this process's gRPC API, as the console dials it
	TLS     *tls.Config // pinned to this server's certificate; nil without TLS
	Tokens  map[string]rpc.Token
	Logger  *slog.Logger
	Roles   string
	DataDir string
	Engine  string // the metadata engine's URL, without secrets
	Store   string // the block store's URL, without secrets, or "on the workers"
	S3      string // the S3 gateway's address, "" when off
	Metrics []string
}

// webRole is the running console; nil when off (its methods accept nil).
type webRole struct {
	httpListener
	console Console
}

func newWebRole(s *Server) (_ *webRole, err error) {
	const op = "server.Web"
	if s.cfg.WebListen == "" || s.grpcLn == nil {
		return nil, nil
	}
	if s.cfg.Console == nil {
		s.log.Warn("server: web console disabled: this program was built without one", "addr", s.cfg.WebListen)
		return nil, nil
	}
	r := &webRole{httpListener: httpListener{tls: s.tlsCfg != nil}}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.ln, err = net.Listen("tcp", s.cfg.WebListen); err != nil {
		if s.cfg.WebOptional {
			s.log.Warn("server: web console disabled: cannot listen", "addr", s.cfg.WebListen, "err", err)
			return nil, nil
		}
		return nil, fserr.E(op, s.cfg.WebListen, fserr.IO, err)
	}
	opts := ConsoleConfig{
		Addr:    selfAddr(s.grpcLn.Addr()),
		Tokens:  s.cfg.Tokens,
		Logger:  s.log,
		Roles:   s.cfg.Roles.String(),
		DataDir: s.cfg.DataDir,
		S3:      s.S3Addr(),
	}
	if e := s.storage.Engine; e != nil {
		opts.Engine = e.URL
	}
	if b := s.storage.Blocks; b != nil && s.cfg.Roles&RoleWorker != 0 {
		opts.Store = b.URL
	} else {
		opts.Store = "on the workers"
	}
	for _, a := range []string{s.WorkerAddr(), s.MetricsAddr()} {
		if a != "" {
			opts.Metrics = append(opts.Metrics, a+"/metrics")
		}
	}
	if s.tlsCfg != nil {
		opts.TLS = pinnedTLS(s.tlsCfg)
	}
	if r.console, err = s.cfg.Console(opts); err != nil {
		return nil, err
	}
	r.http = &http.Server{
		Handler:           r.console,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// A copy: ServeTLS writes its HTTP/2 settings into the config, and
		// the block server serves the same one.
		TLSConfig: s.tlsCfg.Clone(),
		ErrorLog:  slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return r, nil
}

// selfAddr is the address this process dials to reach its own listener:
// loopback when it listens on every interface.
func selfAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}

// pinnedTLS is the client side of the process's own TLS: it accepts
// exactly the server's certificate (whatever names it carries, since the
// console dials loopback) and nothing else.
func pinnedTLS(server *tls.Config) *tls.Config {
	var want [][]byte
	for _, c := range server.Certificates {
		want = append(want, c.Certificate...)
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("server: console: no certificate")
			}
			for _, w := range want {
				if bytes.Equal(raw[0], w) {
					return nil
				}
			}
			return errors.New("server: console: not this server's certificate")
		},
	}
}

// WebAddr is the console's address ("" when off).
func (s *Server) WebAddr() string {
	if s.web == nil {
		return ""
	}
	return advertised(s.web.ln.Addr())
}

func (r *webRole) serve(errc chan<- error) int {
	if r == nil {
		return 0
	}
	r.httpListener.serve(errc)
	return 1
}

func (r *webRole) shutdown(ctx context.Context) {
	if r == nil {
		return
	}
	r.httpListener.shutdown(ctx)
}

// close stops the listener and the console's clients (before the gRPC
// server goes, so their sessions end cleanly).
func (r *webRole) close() error {
	if r == nil {
		return nil
	}
	r.httpListener.close()
	if r.console != nil {
		return r.console.Close()
	}
	return nil
}

func (r *webRole) banner(w io.Writer) {
	if r == nil {
		return
	}
	scheme := r.scheme()
	fmt.Fprintf(w, "  console:   %s://%s/\n", scheme, advertised(r.ln.Addr()))
}
