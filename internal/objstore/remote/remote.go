// Package remote is an objstore.Store that reaches a block server
// (internal/blockserver) over HTTP, so that a client runs the data path
// itself and moves blocks to and from the server's store.
//
// Invariants:
//   - Errors are *fserr.Error with the Kind the server reported; a missing
//     object also matches objstore.ErrNotFound, as with the local stores.
//   - Every request is idempotent (objects are immutable, so a repeated PUT
//     writes the same bytes), so a request that fails to reach a server, or
//     whose connection breaks, is retried: first on the next base URL, then,
//     after every URL failed, again from the first with jittered backoff.
//     Answers from a server (404, 400, ...) are never retried.
//   - Get reads the body straight into one buffer of the announced length.
//   - The store never keeps or returns its callers' buffers.
//   - With Options.Grants, every request that names keys carries the
//     grants for them (header Shoal-Grant), and a request refused because
//     a grant expired (header Shoal-Grant-Error: expired) is retried once
//     after Granter.Renew. A non-super token reaches blocks only that way
//     (internal/blockserver); a super token needs no grant.
//   - With Options.Placer, a request about a block goes first to the
//     workers the placer lists for its key (the ring's walk: the holder,
//     then the next members), then to the configured URLs; every worker
//     serves every block of the shared store, so placement only decides
//     whose cache holds it, never whether it can be read.
package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
)

// Options configures a Store. The zero value works: no token, one URL,
// DefaultRetries retries.
type Options struct {
	// Token is sent as "Authorization: Bearer <token>" when set.
	Token string
	// FailoverURLs are more base URLs of servers holding the same stores,
	// tried in order after the base URL when it cannot be reached.
	FailoverURLs []string
	// Retries is how many more rounds over all URLs to try after the first
	// fails to connect. 0 means DefaultRetries; negative means none.
	Retries int
	// Backoff is the pause before the first retry round; it doubles each
	// round up to MaxBackoff. 0 means DefaultBackoff.
	Backoff time.Duration
	// MaxBackoff caps the pause between rounds. 0 means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// MaxConnsPerHost bounds idle connections kept per server. 0 means
	// DefaultMaxConnsPerHost.
	MaxConnsPerHost int
	// Transport replaces the tuned transport (for tests).
	Transport http.RoundTripper
	// Grants supplies the block grants a non-super token presents; nil
	// sends none.
	Grants Granter
	// Placer picks the workers for each block key (internal/rpc's
	// placement over the ring of live workers); nil sends every request
	// to the base URL first.
	Placer Placer
}

// Placer lists, for a block key, the base URLs of the workers to try in
// order. An empty list leaves the request to the configured URLs.
type Placer interface {
	Place(key string) []string
}

// Granter supplies block grants (see internal/blockserver): the meta
// service issues them with the slice records of open files, and renews
// them. internal/rpc implements it for a session.
type Granter interface {
	// Grant returns the grant token covering key, or "" when it has none.
	Grant(key string) string
	// Renew replaces the grants covering keys, which the block server
	// refused as expired on a request sent at since. It returns nil when
	// retrying may succeed.
	Renew(ctx context.Context, keys []string, since time.Time) error
}

// Header names of the grant protocol (blockserver.GrantHeader and
// GrantErrorHeader; this package sits below blockserver).
const (
	grantHeader      = "Shoal-Grant"
	grantErrorHeader = "Shoal-Grant-Error"
)

// Defaults for Options.
const (
	DefaultRetries         = 3
	DefaultBackoff         = 20 * time.Millisecond
	DefaultMaxBackoff      = 2 * time.Second
	DefaultMaxConnsPerHost = 64
)

// bufferSize is the socket-side buffer of each connection: large enough
// that a block moves in few syscalls. Reads of a whole body bypass it.
const bufferSize = 256 << 10

// maxBody bounds a body of unknown length (a list or an error), which
// keeps a broken server from exhausting memory.
const maxBody = 64 << 20

// Store is an objstore.Store backed by a block server.
type Store struct {
	suffix string   // the filesystem's path ("/v1/fs/x/")
	bases  []string // base URLs, each ending in suffix
	opts   Options
	client *http.Client
	cur    atomic.Int32 // index into bases of the server last reached
	closed atomic.Bool
}

var (
	_ objstore.Store  = (*Store)(nil)
	_ objstore.Syncer = (*Store)(nil)
)

// New returns a store reaching filesystem fsName ("" for the server's
// default store) at baseURL (for example "http://10.0.0.5:9410") and the
// failover URLs. It does not connect.
func New(baseURL, fsName string, opts Options) *Store {
	if opts.Retries == 0 {
		opts.Retries = DefaultRetries
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.MaxConnsPerHost <= 0 {
		opts.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	suffix := "/v1/"
	if fsName != "" {
		suffix = "/v1/fs/" + url.PathEscape(fsName) + "/"
	}
	s := &Store{opts: opts, suffix: suffix}
	for _, u := range append([]string{baseURL}, opts.FailoverURLs...) {
		if u != "" { // none at all: only the Placer's URLs are tried
			s.bases = append(s.bases, strings.TrimSuffix(u, "/")+suffix)
		}
	}
	rt := opts.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy: nil,
			DialContext: (&net.Dialer{
				Timeout:   5 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			MaxIdleConns:        4 * opts.MaxConnsPerHost,
			MaxIdleConnsPerHost: opts.MaxConnsPerHost,
			IdleConnTimeout:     90 * time.Second,
			// Blocks are compressed (or not) by the data path; gzip here
			// would only cost CPU and defeat Content-Length.
			DisableCompression: true,
			WriteBufferSize:    bufferSize,
			ReadBufferSize:     bufferSize,
		}
	}
	s.client = &http.Client{
		Transport: rt,
		// A redirect means a proxy or mux rewrote the key; following it
		// would touch another object.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

// request is one logical call, replayable on every attempt.
type request struct {
	op, key string
	place   string // the block key that picks the workers ("" for any)
	method  string
	path    string // after the base: "blocks/" + escaped key, or "sync"
	query   url.Values
	header  http.Header
	keys    []string // the keys whose grants the request carries
	body    []byte
	// handle reads a 2xx response (and 416 for Get). An error it returns
	// that is a *retryable is retried like a connection failure.
	handle func(resp *http.Response) error
}

// retryable marks a failure that happened on the wire, not in the server.
type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// grantExpired marks a refusal that a renewed grant may lift.
type grantExpired struct{ err error }

func (g *grantExpired) Error() string { return g.err.Error() }
func (g *grantExpired) Unwrap() error { return g.err }

func (s *Store) do(ctx context.Context, rq *request) error {
	if s.closed.Load() {
		return fserr.E(rq.op, rq.key, fserr.Closed)
	}
	sent := time.Now()
	err := s.doRounds(ctx, rq)
	var ge *grantExpired
	if !errors.As(err, &ge) {
		return err
	}
	if s.opts.Grants == nil {
		return ge.err
	}
	if rerr := s.opts.Grants.Renew(ctx, rq.keys, sent); rerr != nil {
		return ge.err
	}
	err = s.doRounds(ctx, rq)
	if errors.As(err, &ge) {
		return ge.err
	}
	return err
}

func (s *Store) doRounds(ctx context.Context, rq *request) error {
	var last error
	for round := 0; round <= s.opts.Retries; round++ {
		if round > 0 {
			d := s.opts.Backoff << min(round-1, 20)
			if d > s.opts.MaxBackoff || d <= 0 {
				d = s.opts.MaxBackoff
			}
			d = d/2 + rand.N(d/2+1)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		placed := s.placed(rq)
		if len(placed) == 0 && len(s.bases) == 0 {
			break // nobody to ask: waiting would not change it within this call
		}
		for _, base := range placed {
			err := s.attempt(ctx, base, rq)
			var re *retryable
			if !errors.As(err, &re) {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			last = re.err
		}
		start := int(s.cur.Load())
		for i := range s.bases {
			idx := (start + i) % len(s.bases)
			err := s.attempt(ctx, s.bases[idx], rq)
			var re *retryable
			if !errors.As(err, &re) {
				if ctx.Err() == nil {
					s.cur.Store(int32(idx)) // it answered: start there next time
				}
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			last = re.err
		}
	}
	if last == nil {
		return fserr.E(rq.op, rq.key, fserr.IO, errors.New("objstore/remote: no block server to ask: no worker holds a lease and no block URL is configured"))
	}
	var fe *fserr.Error
	if errors.As(last, &fe) {
		return last
	}
	return fserr.E(rq.op, rq.key, fserr.IO, last)
}

// placed returns the base URLs the placer picks for rq, in order.
func (s *Store) placed(rq *request) []string {
	if s.opts.Placer == nil || rq.place == "" {
		return nil
	}
	urls := s.opts.Placer.Place(rq.place)
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = strings.TrimSuffix(u, "/") + s.suffix
	}
	return out
}

func (s *Store) attempt(ctx context.Context, base string, rq *request) error {
	u := base + rq.path
	if len(rq.query) > 0 {
		u += "?" + rq.query.Encode()
	}
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, u, body)
	if err != nil {
		return fserr.E(rq.op, rq.key, fserr.Invalid, err)
	}
	if rq.body != nil {
		req.ContentLength = int64(len(rq.body))
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	if s.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.opts.Token)
	}
	if s.opts.Grants != nil {
		seen := map[string]bool{}
		for _, k := range rq.keys {
			if t := s.opts.Grants.Grant(k); t != "" && !seen[t] {
				seen[t] = true
				req.Header.Add(grantHeader, t)
			}
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &retryable{err}
	}
	defer func() {
		// Drain a little so the connection can be reused, not more: a
		// large unread body is cheaper to drop with its connection.
		io.CopyN(io.Discard, resp.Body, 64<<10)
		resp.Body.Close()
	}()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300,
		resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && rq.method == http.MethodGet:
		if rq.handle == nil {
			return nil
		}
		err := rq.handle(resp)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable ||
		resp.StatusCode == http.StatusGatewayTimeout:
		// A proxy in front of a dead server, or a server that is busy or
		// closing its store: another server, or a later try, may do.
		return &retryable{s.decodeError(rq, resp)}
	case resp.StatusCode == http.StatusForbidden && resp.Header.Get(grantErrorHeader) == "expired":
		return &grantExpired{s.decodeError(rq, resp)}
	}
	return s.decodeError(rq, resp)
}

// wireError is the server's error message; for kind NotExist it also
// matches objstore.ErrNotFound.
type wireError struct {
	msg      string
	notFound bool
}

func (e *wireError) Error() string { return e.msg }

func (e *wireError) Unwrap() error {
	if e.notFound {
		return objstore.ErrNotFound
	}
	return nil
}

// errorBody mirrors blockserver.ErrorBody.
type errorBody struct {
	Kind    fserr.Kind `json:"kind"`
	Message string     `json:"message"`
}

// decodeError rebuilds the server's error. A body that is not the
// server's JSON (a proxy's page, a HEAD response) is classified by status.
func (s *Store) decodeError(rq *request, resp *http.Response) error {
	var eb errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err := json.Unmarshal(b, &eb); err != nil || eb.Message == "" {
		eb = errorBody{Kind: kindOfStatus(resp.StatusCode), Message: "objstore/remote: server answered " + resp.Status}
	}
	notFound := eb.Kind == fserr.NotExist || eb.Kind == fserr.NotFound
	return fserr.E(rq.op, rq.key, eb.Kind, &wireError{msg: eb.Message, notFound: notFound})
}

func kindOfStatus(status int) fserr.Kind {
	switch status {
	case http.StatusNotFound:
		return fserr.NotExist
	case http.StatusBadRequest, http.StatusLengthRequired:
		return fserr.Invalid
	case http.StatusRequestEntityTooLarge:
		return fserr.TooBig
	case http.StatusUnauthorized, http.StatusForbidden:
		return fserr.Permission
	case http.StatusConflict:
		return fserr.Exist
	case http.StatusInsufficientStorage:
		return fserr.NoSpace
	case http.StatusNotImplemented, http.StatusMethodNotAllowed:
		return fserr.NotSupported
	case http.StatusServiceUnavailable:
		return fserr.Busy
	}
	if status >= 300 && status < 400 {
		return fserr.Invalid // a redirect: the key was not taken as sent
	}
	return fserr.IO
}

// escapeKey escapes each segment so the server splits the key where the
// caller did and sees '?' or '%' as part of it.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// checkKey rejects the empty key, which would name the listing; the
// server's store judges every other key.
func checkKey(op, key string) error {
	if key == "" {
		return fserr.Errorf(op, fserr.Invalid, "objstore/remote: empty key")
	}
	return nil
}

// Get implements objstore.Store.
func (s *Store) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	const op = "objstore/remote.Get"
	if err := checkKey(op, key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fserr.Errorf(op, fserr.Invalid, "objstore/remote: negative offset %d", off)
	}
	if length == 0 {
		// No Range says "zero bytes"; the object must still exist.
		if _, err := s.head(ctx, op, key); err != nil {
			return nil, err
		}
		return []byte{}, nil
	}
	rq := &request{op: op, key: key, place: key, keys: []string{key}, method: http.MethodGet, path: "blocks/" + escapeKey(key)}
	if off > 0 || length > 0 {
		r := "bytes=" + strconv.FormatInt(off, 10) + "-"
		if length > 0 && off <= (1<<63-1)-length {
			r += strconv.FormatInt(off+length-1, 10)
		}
		rq.header = http.Header{"Range": {r}}
	}
	var out []byte
	rq.handle = func(resp *http.Response) error {
		switch resp.StatusCode {
		case http.StatusRequestedRangeNotSatisfiable:
			out = []byte{}
			return nil
		case http.StatusOK, http.StatusPartialContent:
		default:
			return fserr.Errorf(op, fserr.IO, "objstore/remote: get %q: unexpected %s", key, resp.Status)
		}
		b, err := readBody(resp)
		if err != nil {
			return &retryable{fserr.E(op, key, fserr.IO, err)}
		}
		if resp.StatusCode == http.StatusOK && off > 0 {
			// The server ignored Range (a proxy may): cut it here.
			b = b[min(off, int64(len(b))):]
		}
		if length >= 0 && int64(len(b)) > length {
			b = b[:length]
		}
		out = b
		return nil
	}
	if err := s.do(ctx, rq); err != nil {
		return nil, err
	}
	return out, nil
}

// readBody reads a body of announced length into one buffer of that size;
// io.ReadFull on a buffer larger than the connection's reader goes
// straight from the socket into it.
func readBody(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n < 0 {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		if err == nil && len(b) > maxBody {
			err = fmt.Errorf("objstore/remote: body over %d bytes", maxBody)
		}
		return b, err
	}
	if n > maxBody {
		return nil, fmt.Errorf("objstore/remote: body of %d bytes over %d", n, maxBody)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(resp.Body, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Put implements objstore.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	const op = "objstore/remote.Put"
	if err := checkKey(op, key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if data == nil {
		data = []byte{} // a nil body would be sent without Content-Length
	}
	return s.do(ctx, &request{op: op, key: key, place: key, keys: []string{key}, method: http.MethodPut, path: "blocks/" + escapeKey(key),
		header: http.Header{"Content-Type": {"application/octet-stream"}}, body: data})
}

// Delete implements objstore.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	const op = "objstore/remote.Delete"
	if err := checkKey(op, key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.do(ctx, &request{op: op, key: key, place: key, keys: []string{key}, method: http.MethodDelete, path: "blocks/" + escapeKey(key)})
}

// Head implements objstore.Store.
func (s *Store) Head(ctx context.Context, key string) (objstore.Info, error) {
	const op = "objstore/remote.Head"
	if err := checkKey(op, key); err != nil {
		return objstore.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return objstore.Info{}, err
	}
	return s.head(ctx, op, key)
}

func (s *Store) head(ctx context.Context, op, key string) (objstore.Info, error) {
	info := objstore.Info{Key: key}
	err := s.do(ctx, &request{op: op, key: key, place: key, keys: []string{key}, method: http.MethodHead, path: "blocks/" + escapeKey(key),
		handle: func(resp *http.Response) error {
			info.Size = resp.ContentLength
			if t, err := time.Parse(time.RFC3339Nano, resp.Header.Get("Shoal-Mod-Time")); err == nil {
				info.ModTime = t
			} else if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
				info.ModTime = t
			}
			return nil
		}})
	return info, err
}

// listResponse mirrors blockserver.ListResponse.
type listResponse struct {
	Objects []struct {
		Key   string    `json:"key"`
		Size  int64     `json:"size"`
		MTime time.Time `json:"mtime"`
	} `json:"objects"`
}

// List implements objstore.Store.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]objstore.Info, error) {
	const op = "objstore/remote.List"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []objstore.Info
	err := s.do(ctx, &request{op: op, key: prefix, method: http.MethodGet, path: "blocks/", query: q,
		handle: func(resp *http.Response) error {
			b, err := readBody(resp)
			if err != nil {
				return &retryable{fserr.E(op, prefix, fserr.IO, err)}
			}
			var lr listResponse
			if err := json.Unmarshal(b, &lr); err != nil {
				return fserr.E(op, prefix, fserr.IO, err)
			}
			out = make([]objstore.Info, 0, len(lr.Objects))
			for _, o := range lr.Objects {
				out = append(out, objstore.Info{Key: o.Key, Size: o.Size, ModTime: o.MTime})
			}
			return nil
		}})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Sync implements objstore.Syncer: the server syncs its store (nothing to
// do for a store without Sync, whose every Put is durable).
func (s *Store) Sync(ctx context.Context, keys []string) error {
	const op = "objstore/remote.Sync"
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	body, err := json.Marshal(struct {
		Keys []string `json:"keys"`
	}{keys})
	if err != nil {
		return fserr.E(op, fserr.Invalid, err)
	}
	// Workers share one store, so any of them syncs every key: the first
	// key's holder is as good as another.
	return s.do(ctx, &request{op: op, place: keys[0], keys: keys, method: http.MethodPost, path: "sync",
		header: http.Header{"Content-Type": {"application/json"}}, body: body})
}

// Close implements objstore.Store: later calls fail with kind Closed.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.client.CloseIdleConnections()
	return nil
}
