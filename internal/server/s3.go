package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoalfs/shoal/internal/datadir"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
)

// The S3 role: the gateway of internal/s3 over the default filesystem,
// in-process (over the server's own meta.FS and block store, so requests
// cost no RPC). It runs with `shoal server` (both roles in one process)
// when S3Config.Listen and S3Config.Handler are set. The gateway sits
// above this package (it is a client of the filesystem), so the caller
// supplies the constructor (internal/cli: inproc.NewClient and
// shoalfs.NewGateway); this package listens, serves, keeps the keys.
//
// Keys: the root key pair (acting as uid 0) comes from the config; when
// none is given, one is generated on first start and kept in
// DIR/s3-root-key (mode 0600, "ACCESS SECRET"), so it survives restarts.

// DefaultS3Listen is the S3 address `shoal server` uses by default.
const DefaultS3Listen = "127.0.0.1:9000"

// S3Config configures the S3 role. The zero value disables it.
type S3Config struct {
	// Listen is the S3 HTTP address; "" disables S3.
	Listen string
	// AccessKey and SecretKey are the root key pair; both empty means the
	// one kept under the data directory (generated if absent).
	AccessKey, SecretKey string
	// Handler builds the gateway; nil disables S3.
	Handler S3Handler
	// Domain (virtual-hosted-style requests, BUCKET.Domain) and UploadTTL
	// (how long an abandoned multipart upload is kept; 0: 7 days) are for
	// the Handler the caller builds.
	Domain    string
	UploadTTL time.Duration
	// KeysFile names more key pairs, each acting as a Shoal identity so
	// POSIX permissions apply to its requests (lines "ACCESS SECRET UID
	// GID[,GID...]"; see cli's s3 keys parser), for the Handler too.
	KeysFile string
	// Optional makes a Listen address already in use disable S3 with a
	// warning instead of failing the server: the default address of a
	// command line that did not ask for S3 explicitly.
	Optional bool
}

// S3Handler builds the S3 gateway over one filesystem this process holds:
// m (whose Close does nothing: the server keeps it) and its block store,
// with the root key pair acting as root. The Closer releases the gateway.
type S3Handler func(ctx context.Context, m meta.Service, store objstore.Store, accessKey, secretKey string) (http.Handler, io.Closer, error)

// s3Role is the running S3 role; nil when disabled (its methods accept nil).
type s3Role struct {
	httpListener
	closer    io.Closer
	accessKey string
	secretKey string
	generated string // the file holding a generated key pair, if any
}

// borrowedFS lends the registry's meta.FS to the S3 client: the client
// must not close it.
type borrowedFS struct{ *meta.FS }

func (borrowedFS) Close() error { return nil }

// It is the registry's FS but for Close, with every capability the FS has.
var (
	_ meta.Service     = borrowedFS{}
	_ meta.NameLister  = borrowedFS{}
	_ meta.Cloner      = borrowedFS{}
	_ meta.Publisher   = borrowedFS{}
	_ meta.Checker     = borrowedFS{}
	_ meta.Syncer      = borrowedFS{}
	_ meta.PathCreator = borrowedFS{}
	_ meta.OpenReader  = borrowedFS{}
)

func newS3Role(s *Server) (_ *s3Role, err error) {
	const op = "server.S3"
	cfg := s.cfg.S3
	if cfg.Listen == "" || cfg.Handler == nil || s.cfg.Roles != RoleAll {
		return nil, nil
	}
	r := &s3Role{accessKey: cfg.AccessKey, secretKey: cfg.SecretKey, httpListener: httpListener{tls: s.tlsCfg != nil}}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if (r.accessKey == "") != (r.secretKey == "") {
		return nil, fserr.Errorf(op, fserr.Invalid, "server: --s3-access-key and --s3-secret-key go together")
	}
	if r.accessKey == "" {
		if r.accessKey, r.secretKey, r.generated, err = rootKey(s.cfg.DataDir); err != nil {
			return nil, fserr.E(op, s.cfg.DataDir, err)
		}
	}
	if r.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		if cfg.Optional {
			s.log.Warn("server: S3 disabled: cannot listen", "addr", cfg.Listen, "err", err)
			return nil, nil
		}
		return nil, fserr.E(op, cfg.Listen, fserr.IO, err)
	}
	ctx := context.Background()
	st, err := s.reg.get(ctx, datadir.DefaultFS)
	if err != nil {
		return nil, err
	}
	gw, closer, err := cfg.Handler(ctx, borrowedFS{st.fs}, st.store, r.accessKey, r.secretKey)
	if err != nil {
		return nil, err
	}
	r.closer = closer
	r.http = &http.Server{
		Handler:           s.obs.s3Handler(gw),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		TLSConfig:         s.tlsCfg.Clone(), // ServeTLS writes its HTTP/2 settings into the config it is given
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return r, nil
}

// rootKey reads the key pair kept in dir, generating it on first use.
func rootKey(dir string) (ak, sk, file string, err error) {
	file = filepath.Join(dir, "s3-root-key")
	if b, err := os.ReadFile(file); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			return f[0], f[1], file, nil
		}
		return "", "", "", fmt.Errorf("server: %s: want \"ACCESS SECRET\"", file)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", "", err
	}
	a, s := make([]byte, 10), make([]byte, 20)
	rand.Read(a)
	rand.Read(s)
	ak, sk = "SHOAL"+strings.ToUpper(hex.EncodeToString(a))[:15], hex.EncodeToString(s)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", "", err
	}
	if _, err := fmt.Fprintf(f, "%s %s\n", ak, sk); err != nil {
		f.Close()
		return "", "", "", err
	}
	return ak, sk, file, f.Close()
}

// Addr is the S3 address ("" when disabled).
func (r *s3Role) Addr() string {
	if r == nil || r.ln == nil {
		return ""
	}
	return advertised(r.ln.Addr())
}

// S3Addr is the S3 address ("" when the S3 role is off).
func (s *Server) S3Addr() string { return s.s3.Addr() }

// S3Keys returns the root S3 key pair ("" when the S3 role is off).
func (s *Server) S3Keys() (access, secret string) {
	if s.s3 == nil {
		return "", ""
	}
	return s.s3.accessKey, s.s3.secretKey
}

// serve starts serving into errc and returns how many servers it started.
func (r *s3Role) serve(errc chan<- error) int {
	if r == nil {
		return 0
	}
	r.httpListener.serve(errc)
	return 1
}

func (r *s3Role) shutdown(ctx context.Context) {
	if r == nil {
		return
	}
	r.httpListener.shutdown(ctx)
}

// close releases the role (after shutdown, or instead of it).
func (r *s3Role) close() error {
	if r == nil {
		return nil
	}
	r.httpListener.close()
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

func (r *s3Role) banner(w io.Writer) {
	if r == nil {
		return
	}
	scheme := r.scheme()
	fmt.Fprintf(w, "  s3:        %s://%s (access key %s)\n", scheme, r.Addr(), r.accessKey)
	if r.generated != "" {
		fmt.Fprintf(w, "  s3 keys:   AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s (kept in %s)\n", r.accessKey, r.secretKey, r.generated)
	}
}
