package shoal

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/datadir"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore/remote"
	"github.com/shoalfs/shoal/internal/rpc"
)

// WithToken sets the bearer token Dial presents to the server (needed
// when the server is configured with tokens; the token decides the
// identity unless it carries the super right). Default $SHOAL_TOKEN.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithTLS makes Dial use TLS with cfg for both the API and the block
// transfers (servers started with --tls-cert/--tls-key).
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// Dial connects to the Shoal server(s) at addrs, a comma-separated list
// of host:port API addresses of servers serving the same data: calls go
// to the first that answers and fail over to the next. The Client is the
// same as OpenLocal's; it runs the data path itself, moving blocks
// straight to and from the workers the server announces. WithFS picks
// the filesystem, WithToken authenticates, WithIdentity says who the
// client acts as (honoured as given only without tokens, or with a super
// token). Background GC is left to the server unless WithGCInterval is
// given.
func Dial(ctx context.Context, addrs string, opts ...Option) (*Client, error) {
	const op = "dial"
	o := defaultOptions()
	o.token = os.Getenv("SHOAL_TOKEN")
	for _, opt := range opts {
		opt(&o)
	}
	if !o.gcSet {
		o.gcInterval = 0
	}
	o.ensureDefaults()
	var list []string
	for _, a := range strings.Split(addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			list = append(list, a)
		}
	}
	if len(list) == 0 {
		return nil, fserr.Errorf(op, fserr.Invalid, "shoal: dial: no server address (want host:port[,host:port...])")
	}
	fsName := o.fsName
	if fsName == "" {
		fsName = datadir.DefaultFS
	}
	conn, err := rpc.Dial(ctx, list, rpc.ClientOptions{
		FSName:   fsName,
		Token:    o.token,
		Identity: o.id,
		Client:   clientName(),
		TLS:      o.tls,
		Logger:   o.logger,
	})
	if err != nil {
		// No address answered as the API: the addresses' own story
		// (refused, unknown host, HTTP there: which port is the API) is
		// the whole message.
		var ae rpc.AddrsError
		var one *rpc.AddrError
		switch {
		case errors.As(err, &ae):
			return nil, fserr.E(op, fserr.IO, ae)
		case errors.As(err, &one):
			return nil, fserr.E(op, fserr.Invalid, one)
		}
		return nil, wrap(op, addrs, err)
	}
	urls := conn.BlockURLs()
	if len(urls) == 0 {
		conn.Close()
		return nil, fserr.Errorf(op, fserr.IO, "shoal: dial %s: the server announced no block server", addrs)
	}
	// Block transfers ride out a server restart as long as metadata calls
	// do (rpc's RetryTimeout, 30 s): 20 rounds with pauses growing to 2 s.
	// With the default 3 rounds a File.Sync during a restart failed after
	// ~140 ms while its metadata calls would have waited.
	// With a non-super token the block server wants, for each block, the
	// grant the server issued with the file's slice records (or slice
	// ids): the Conn keeps them and renews them when they expire.
	// Each block goes to its holder on the ring of live workers that meta
	// lists (refreshed in the background), then to the next members.
	placement, err := rpc.NewPlacement(ctx, conn, 0, o.logger)
	if err != nil {
		conn.Close()
		return nil, wrap(op, addrs, err)
	}
	ropts := remote.Options{Token: o.token, FailoverURLs: urls[1:], Retries: 20, Grants: conn.Grants(), Placer: placement}
	if o.tls != nil {
		ropts.Transport = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     o.tls,
			ForceAttemptHTTP2:   false,
			MaxIdleConnsPerHost: remote.DefaultMaxConnsPerHost,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	store := remote.New(urls[0], fsName, ropts)
	m := conn.Meta()
	dcfg := o.dataConfig()
	// Small closes commit their blocks inside the commit (the Inline
	// service), which stores them where the workers serve them from.
	dcfg.Inline = true
	d, err := data.New(m, store, dcfg)
	if err != nil {
		store.Close()
		placement.Close()
		conn.Close()
		return nil, wrap(op, addrs, err)
	}
	// The remote meta syncs the server's engine (Meta.Sync), which
	// File.Sync needs after committing its slices.
	syncer, _ := m.(meta.Syncer)
	c := newClient(m, store, d, syncer, o, store.Close, placement.Close, conn.Close)
	c.core.tables = remoteTables{conn.KV()}
	return c, nil
}

// clientName identifies this program in the server's session table.
func clientName() string {
	name := "shoal-go"
	if len(os.Args) > 0 {
		name = os.Args[0]
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
	}
	return name
}
