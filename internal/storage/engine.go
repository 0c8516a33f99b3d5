package storage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/kv/etcd"
	"github.com/shoalfs/shoal/internal/kv/postgres"
)

// Engine is an open metadata engine.
type Engine struct {
	// KV is the engine.
	KV kv.Engine
	// URL names it without secrets, for banners and status.
	URL string
	// Scheme is "badger", "etcd" or "postgres".
	Scheme string
	// Shared reports whether other processes may use the engine at the
	// same time (etcd, PostgreSQL). A shared engine's users must keep
	// nothing that is only true while they are its only user (open
	// counts in memory, the lookup cache) and must not take another
	// process's sessions for dead ones.
	Shared bool
}

// Syncer returns the engine's Sync, or nil when commits are durable
// without one.
func (e *Engine) Syncer() kv.Syncer {
	s, _ := e.KV.(kv.Syncer)
	return s
}

// Close closes the engine.
func (e *Engine) Close() error { return e.KV.Close() }

// EngineOptions are the settings of an engine not carried by its URL.
type EngineOptions struct {
	// SyncWrites makes Badger fsync every commit.
	SyncWrites bool
	Logger     *slog.Logger
}

// Environment variables holding engine secrets kept out of URLs.
const (
	// EnvEtcdPassword is the etcd password when the URL names a user
	// without one.
	EnvEtcdPassword = "SHOAL_ETCD_PASSWORD"
)

// OpenEngine opens the engine named by rawURL:
//
//	badger:///abs/dir  badger://rel/dir       [?sync=true]
//	etcd://[user[:pass]@]h1:2379[,h2:2379...][/prefix][?tls=true&ca=F&cert=F&key=F&timeout=5s&commit_timeout=2s]
//	postgres://user[:pass]@host:port/db[?sslmode=...&table=NAME&pool_max_conns=N]
//
// etcd's prefix defaults to "shoal/" (several users share a cluster), and
// its password to $SHOAL_ETCD_PASSWORD. PostgreSQL's password may also
// come from PGPASSWORD or ~/.pgpass, as with libpq.
func OpenEngine(ctx context.Context, rawURL string, o EngineOptions) (*Engine, error) {
	const op = "storage.OpenEngine"
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fserr.Errorf(op, fserr.Invalid, "storage: engine %q: want a URL (badger:///DIR, etcd://HOST:2379/PREFIX or postgres://USER@HOST/DB)", rawURL)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch scheme {
	case "badger":
		return openBadger(rawURL, rest, o)
	case "etcd":
		return bounded(ctx, redactAny(rawURL), func(ctx context.Context) (*Engine, error) { return openEtcd(ctx, rest) })
	case "postgres", "postgresql":
		return bounded(ctx, redactAny(rawURL), func(ctx context.Context) (*Engine, error) { return openPostgres(ctx, rawURL) })
	}
	return nil, fserr.Errorf(op, fserr.Invalid, "storage: engine %q: unknown scheme %q (want badger, etcd or postgres)", redactAny(rawURL), scheme)
}

func openBadger(rawURL, rest string, o EngineOptions) (*Engine, error) {
	const op = "storage.OpenEngine"
	path, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil || path == "" {
		return nil, fserr.Errorf(op, fserr.Invalid, "storage: engine %q: want badger:///DIR[?sync=true]", rawURL)
	}
	if err := onlyParams(op, rawURL, q, "sync"); err != nil {
		return nil, err
	}
	sync := o.SyncWrites
	if v := q.Get("sync"); v != "" {
		if sync, err = strconv.ParseBool(v); err != nil {
			return nil, fserr.Errorf(op, fserr.Invalid, "storage: engine %q: sync=%q is not a boolean", rawURL, v)
		}
	}
	path = absPath(path)
	eng, err := badger.Open(path, badger.Options{SyncWrites: sync, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	return &Engine{KV: eng, URL: "badger://" + path, Scheme: "badger"}, nil
}

func openEtcd(ctx context.Context, rest string) (*Engine, error) {
	const op = "storage.OpenEngine"
	rest, query, _ := strings.Cut(rest, "?")
	authority, prefix, _ := strings.Cut(rest, "/")
	var user, pass string
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		info := authority[:i]
		authority = authority[i+1:]
		u, p, hasPass := strings.Cut(info, ":")
		var err1, err2 error
		user, err1 = url.PathUnescape(u)
		pass, err2 = url.PathUnescape(p)
		if err1 != nil || err2 != nil {
			return nil, fserr.Errorf(op, fserr.Invalid, "storage: etcd URL: bad user or password escaping")
		}
		if !hasPass {
			pass = os.Getenv(EnvEtcdPassword)
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fserr.Errorf(op, fserr.Invalid, "storage: etcd URL: %v", err)
	}
	if err := onlyParams(op, "etcd://"+authority, q, "tls", "ca", "cert", "key", "timeout", "commit_timeout"); err != nil {
		return nil, err
	}
	var hosts []string
	for _, h := range strings.Split(authority, ",") {
		if h = strings.TrimSpace(h); h != "" {
			if !strings.Contains(h, ":") {
				h += ":2379"
			}
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil, fserr.Errorf(op, fserr.Invalid, "storage: etcd URL names no host: want etcd://HOST:2379[,HOST:2379...]/PREFIX")
	}
	if prefix == "" {
		prefix = "shoal/"
	} else if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	var opts []etcd.Option
	tlsOn := q.Get("ca") != "" || q.Get("cert") != ""
	if v := q.Get("tls"); v != "" {
		if tlsOn, err = strconv.ParseBool(v); err != nil {
			return nil, fserr.Errorf(op, fserr.Invalid, "storage: etcd URL: tls=%q is not a boolean", v)
		}
	}
	scheme := "http://"
	if tlsOn {
		tc, err := clientTLS(q.Get("ca"), q.Get("cert"), q.Get("key"))
		if err != nil {
			return nil, fserr.E(op, fserr.Invalid, err)
		}
		opts = append(opts, etcd.WithTLS(tc))
		scheme = "https://"
	}
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fserr.Errorf(op, fserr.Invalid, "storage: etcd URL: timeout=%q: %v", v, err)
		}
		opts = append(opts, etcd.WithDialTimeout(d))
	}
	if v := q.Get("commit_timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fserr.Errorf(op, fserr.Invalid, "storage: etcd URL: commit_timeout=%q: want a duration such as 2s", v)
		}
		opts = append(opts, etcd.WithCommitTimeout(d))
	}
	if user != "" {
		opts = append(opts, etcd.WithAuth(user, pass))
	}
	endpoints := make([]string, len(hosts))
	for i, h := range hosts {
		endpoints[i] = scheme + h
	}
	eng, err := etcd.Open(ctx, endpoints, prefix, opts...)
	if err != nil {
		return nil, err
	}
	shown := "etcd://"
	if user != "" {
		shown += url.PathEscape(user) + "@"
	}
	shown += strings.Join(hosts, ",") + "/" + prefix
	if tlsOn {
		shown += "?tls=true"
	}
	return &Engine{KV: eng, URL: shown, Scheme: "etcd", Shared: true}, nil
}

// clientTLS builds a client TLS configuration from PEM files (all
// optional: no ca means the system roots).
func clientTLS(ca, cert, key string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("storage: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("storage: CA file %s holds no PEM certificate", ca)
		}
		tc.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, fmt.Errorf("storage: cert and key go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("storage: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

func openPostgres(ctx context.Context, rawURL string) (*Engine, error) {
	const op = "storage.OpenEngine"
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fserr.Errorf(op, fserr.Invalid, "storage: postgres URL: %v", redactErr(err, rawURL))
	}
	q := u.Query()
	table := q.Get("table")
	q.Del("table") // ours, not the server's
	u.RawQuery = q.Encode()
	eng, err := postgres.Open(ctx, u.String(), postgres.Options{Table: table})
	if err != nil {
		return nil, err
	}
	// Only the settings that say where the data is; sslmode tells
	// whether the connection is protected.
	shown := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.User != nil {
		shown.User = url.User(u.User.Username())
	}
	sq := url.Values{}
	if v := q.Get("sslmode"); v != "" {
		sq.Set("sslmode", v)
	}
	if table != "" {
		sq.Set("table", table)
	}
	shown.RawQuery = readableQuery(sq)
	return &Engine{KV: eng, URL: shown.String(), Scheme: "postgres", Shared: true}, nil
}

// OpenTimeout bounds reaching a networked engine or store at open when
// the caller's context has no deadline of its own: a server that does not
// answer is an error at start, not a hang.
const OpenTimeout = 15 * time.Second

// bounded runs open under OpenTimeout unless ctx has a deadline, and says
// which server did not answer when the bound is what ended it.
func bounded[T any](ctx context.Context, what string, open func(context.Context) (T, error)) (T, error) {
	if _, ok := ctx.Deadline(); ok {
		return open(ctx)
	}
	tctx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	v, err := open(tctx)
	if err != nil && tctx.Err() != nil && ctx.Err() == nil {
		return v, fserr.Errorf("storage.Open", fserr.IO, "storage: %s did not answer within %s", what, OpenTimeout)
	}
	return v, err
}

// onlyParams rejects query parameters the scheme does not know: a typo
// must not be silently ignored.
func onlyParams(op, what string, q url.Values, known ...string) error {
	for k := range q {
		ok := false
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok {
			return fserr.Errorf(op, fserr.Invalid, "storage: %s: unknown parameter %q (known: %s)", redactAny(what), k, strings.Join(known, ", "))
		}
	}
	return nil
}

// absPath makes a path absolute so printed URLs say where the data is.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// redactAny hides the password in a URL-like string for a message.
func redactAny(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	authority, tail, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		user, _, hasPass := strings.Cut(authority[:i], ":")
		if hasPass {
			user += ":xxxxx"
		}
		authority = user + authority[i:]
	}
	if tail != "" || strings.Contains(rest, "/") {
		return scheme + "://" + authority + "/" + tail
	}
	return scheme + "://" + authority
}

// redactErr keeps a URL parse error from echoing the password.
func redactErr(err error, raw string) error {
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), raw, redactAny(raw)))
}
