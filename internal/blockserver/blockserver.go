// Package blockserver serves objstore.Stores over HTTP so that remote
// clients (internal/objstore/remote) can read and write blocks. One Server
// serves every filesystem of a process: the URL names the filesystem and
// Options.Store maps the name to its store.
//
// Wire protocol (HTTP/1.1; the client is objstore/remote):
//
//	GET    /v1/fs/<fs>/blocks/<key>      object bytes; "Range: bytes=a-b" -> 206
//	HEAD   /v1/fs/<fs>/blocks/<key>      Content-Length, Last-Modified, Shoal-Mod-Time
//	PUT    /v1/fs/<fs>/blocks/<key>      body = the object; Content-Length required
//	DELETE /v1/fs/<fs>/blocks/<key>      204, also for a missing key
//	GET    /v1/fs/<fs>/blocks/?prefix=&after=&limit=   {"objects":[{"key","size","mtime"}]}
//	POST   /v1/fs/<fs>/sync              {"keys":[...]} -> Sync on stores that have it
//
// "/v1/blocks/..." and "/v1/sync" address the default store given to New.
// <fs> and every '/'-separated segment of <key> are path-escaped.
//
// Access: Options.Authorize authenticates; Options.Trusted says whether
// the caller may reach every block (a super token). Any other caller may
// not list, and reaches a block only under a grant in the Shoal-Grant
// header that meta signed for the block's slice (grant.go): GET and HEAD
// under a read or write grant, PUT, DELETE and sync under a write grant.
// A refusal is 403; one due only to expiry also carries
// "Shoal-Grant-Error: expired" so the client renews and retries. Grants
// are capabilities checked here without asking meta, because the block
// server need not run in meta's process (see docs/security.md).
//
// Invariants:
//   - Range follows the objstore.Store contract rather than failing: a
//     range past the end is truncated to the object, and a range that
//     starts at or past the end is 416 with "Content-Range: bytes */size",
//     which the client reads as an empty result (the object exists).
//   - Every error is a JSON body {"kind","op","message"} whose kind is the
//     fserr.Kind number, so the client rebuilds an *fserr.Error of the same
//     Kind; the HTTP status is derived from the kind for humans and proxies.
//   - Stores that keep each object in a local file (FileOpener) are read
//     with sendfile: the bytes go from the page cache to the socket without
//     passing through user space. Other stores are read with Store.Get.
//   - The server never closes the stores it serves.
//   - An untrusted request that is refused touches no store.
package blockserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
)

// DefaultMaxObjectSize bounds a PUT body when Options.MaxObjectSize is 0:
// blocks are at most 4 MiB, so twice that leaves room without letting a
// client make the server buffer arbitrary amounts.
const DefaultMaxObjectSize = 8 << 20

// ModTimeHeader carries an object's modification time with nanoseconds
// (RFC 3339), which Last-Modified cannot.
const ModTimeHeader = "Shoal-Mod-Time"

// FileOpener is implemented by stores that keep each object in a local
// file. OpenFile returns the object's file opened read-only; the caller
// closes it. A missing key is an *fserr.Error of kind NotExist wrapping
// objstore.ErrNotFound, an invalid key is kind Invalid. Because objects are
// replaced by rename, never rewritten, an open file keeps the object as it
// was when opened.
type FileOpener interface {
	OpenFile(ctx context.Context, key string) (*os.File, error)
}

// Options configures a Server. The zero value serves only the default
// store, to every caller.
type Options struct {
	// Authorize, when set, is called first for every request; an error
	// rejects it (401, or 403 when its kind is Permission or NotPermitted).
	Authorize func(r *http.Request) error
	// Trusted, when set, tells whether an authorized request may reach
	// every block (a super token). An untrusted request may not list, and
	// may reach a block only under a grant it carries (GrantHeader, see
	// grant.go): GET and HEAD under any grant that covers the block's
	// slice, PUT, DELETE and sync under a write grant. Nil trusts every
	// authorized request (a server without tokens).
	Trusted func(r *http.Request) bool
	// Grants verifies grants. Nil: untrusted requests reach no block.
	Grants *GrantKey
	// SliceOf returns the slice id a block key names; keys it rejects are
	// for trusted requests only. Nil: untrusted requests reach no block.
	SliceOf func(key string) (uint64, bool)
	// FSID returns the id of the filesystem a /v1/fs/<name>/ route names
	// (meta's id, never 0); a grant carrying another id is refused, so a
	// grant outlives neither its filesystem's deletion nor a new
	// filesystem of the same name. Nil: grants are checked by name only.
	FSID func(fsName string) (uint64, error)
	// Now is the clock grants expire by (nil: time.Now).
	Now func() time.Time
	// Store maps a filesystem name from /v1/fs/<name>/... to its store.
	// It is called for every request, so it should return an already open
	// store. Nil means only the default store is served.
	Store func(fsName string) (objstore.Store, error)
	// MaxObjectSize bounds PUT bodies (413 beyond it). 0 means
	// DefaultMaxObjectSize.
	MaxObjectSize int64
	// Logger receives server-side failures (5xx). Nil discards.
	Logger *slog.Logger
}

// Server is an http.Handler serving block stores.
type Server struct {
	store objstore.Store
	opts  Options
	log   *slog.Logger
}

var _ http.Handler = (*Server)(nil)

// New returns a server whose /v1/blocks/ routes serve store (which may be
// nil when only named filesystems are served).
func New(store objstore.Store, opts Options) *Server {
	if opts.MaxObjectSize <= 0 {
		opts.MaxObjectSize = DefaultMaxObjectSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{store: store, opts: opts, log: log}
}

// route is a parsed request path.
type route struct {
	fs     string // "" for the default store
	sync   bool   // the sync endpoint; otherwise blocks
	key    string // "" lists
	prefix string // the path up to the key, for error messages
}

// parsePath splits the escaped path of a request. It works on the escaped
// form so that an escaped '/' in a filesystem name cannot move the
// boundaries between parts.
func parsePath(escaped string) (route, error) {
	const op = "blockserver"
	rest, ok := strings.CutPrefix(escaped, "/v1/")
	if !ok {
		return route{}, fserr.Errorf(op, fserr.NotExist, "blockserver: no route for %q", escaped)
	}
	var rt route
	if r, ok := strings.CutPrefix(rest, "fs/"); ok {
		name, r, ok := strings.Cut(r, "/")
		if !ok || name == "" {
			return route{}, fserr.Errorf(op, fserr.NotExist, "blockserver: no route for %q", escaped)
		}
		fs, err := url.PathUnescape(name)
		if err != nil {
			return route{}, fserr.Errorf(op, fserr.Invalid, "blockserver: bad filesystem name %q", name)
		}
		rt.fs, rest = fs, r
	}
	if rest == "sync" {
		rt.sync = true
		return rt, nil
	}
	k, ok := strings.CutPrefix(rest, "blocks/")
	if !ok {
		return route{}, fserr.Errorf(op, fserr.NotExist, "blockserver: no route for %q", escaped)
	}
	key, err := url.PathUnescape(k)
	if err != nil {
		return route{}, fserr.Errorf(op, fserr.Invalid, "blockserver: bad key %q", k)
	}
	rt.key = key
	return rt, nil
}

func (s *Server) storeFor(fs string) (objstore.Store, error) {
	const op = "blockserver.Store"
	if fs == "" {
		if s.store == nil {
			return nil, fserr.Errorf(op, fserr.NotExist, "blockserver: no default store")
		}
		return s.store, nil
	}
	if s.opts.Store == nil {
		return nil, fserr.Errorf(op, fserr.NotExist, "blockserver: no filesystem %q", fs)
	}
	st, err := s.opts.Store(fs)
	if err != nil {
		return nil, fserr.E(op, fs, err)
	}
	if st == nil {
		return nil, fserr.Errorf(op, fserr.NotExist, "blockserver: no filesystem %q", fs)
	}
	return st, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Authorize != nil {
		if err := s.opts.Authorize(r); err != nil {
			k := fserr.KindOf(err)
			status := http.StatusForbidden
			if k != fserr.Permission && k != fserr.NotPermitted {
				k, status = fserr.Permission, http.StatusUnauthorized
				w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
			}
			s.writeError(w, r, status, fserr.E("blockserver.Authorize", k, err))
			return
		}
	}
	rt, err := parsePath(r.URL.EscapedPath())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.storeFor(rt.fs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	trusted := s.opts.Trusted == nil || s.opts.Trusted(r)
	if !trusted && !rt.sync {
		if rt.key == "" {
			if r.Method == http.MethodGet {
				s.writeError(w, r, http.StatusForbidden, fserr.Errorf("blockserver.List", fserr.Permission,
					"blockserver: listing blocks needs a super token"))
				return
			}
		} else if ref := s.checkGrants(r, rt.fs, r.Method, []string{rt.key}); ref != nil {
			s.refuse(w, r, ref)
			return
		}
	}
	switch {
	case rt.sync && r.Method == http.MethodPost:
		s.sync(w, r, st, trusted, rt.fs)
	case rt.sync:
		s.methodNotAllowed(w, r, "POST")
	case rt.key == "" && r.Method == http.MethodGet:
		s.list(w, r, st)
	case rt.key == "":
		s.methodNotAllowed(w, r, "GET")
	case r.Method == http.MethodGet:
		s.get(w, r, st, rt.key)
	case r.Method == http.MethodHead:
		s.head(w, r, st, rt.key)
	case r.Method == http.MethodPut:
		s.put(w, r, st, rt.key)
	case r.Method == http.MethodDelete:
		s.delete(w, r, st, rt.key)
	default:
		s.methodNotAllowed(w, r, "GET, HEAD, PUT, DELETE")
	}
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	s.writeError(w, r, http.StatusMethodNotAllowed,
		fserr.Errorf("blockserver", fserr.NotSupported, "blockserver: method %s not allowed", r.Method))
}

// get serves an object or a range of it.
func (s *Server) get(w http.ResponseWriter, r *http.Request, st objstore.Store, key string) {
	const op = "blockserver.Get"
	rng, err := parseRange(r.Header.Get("Range"))
	if err != nil {
		s.fail(w, r, fserr.E(op, key, err))
		return
	}
	if fo, ok := st.(FileOpener); ok {
		f, err := fo.OpenFile(r.Context(), key)
		if err == nil {
			s.getFile(w, r, f, key, rng)
			return
		}
		// A store may keep some objects outside files (the tiered store's
		// small tier answers NotExist here): Get below decides, and
		// answers 404 itself when the object is really missing.
		if !fserr.Is(fserr.NotExist, err) {
			s.fail(w, r, err)
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Accept-Ranges", "bytes")
	if !rng.set {
		data, err := st.Get(r.Context(), key, 0, -1)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data)
		return
	}
	size := int64(-1) // unknown: a store without files has no cheap size
	off, n := rng.start, rng.length()
	if rng.suffix {
		info, err := st.Head(r.Context(), key)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		size = info.Size
		off, n, _ = rng.resolve(size)
	}
	data, err := st.Get(r.Context(), key, off, n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	total := "*"
	if size >= 0 {
		total = strconv.FormatInt(size, 10)
	}
	if len(data) == 0 && n != 0 {
		h.Set("Content-Range", "bytes */"+total)
		h.Del("Content-Type")
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%s", off, off+int64(len(data))-1, total))
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusPartialContent)
	w.Write(data)
}

// getFile serves from a local file. io.CopyN from an *os.File to the
// http.ResponseWriter reaches net.TCPConn.ReadFrom, which uses sendfile.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request, f *os.File, key string, rng byteRange) {
	const op = "blockserver.Get"
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		s.fail(w, r, fserr.E(op, key, fserr.IO, err))
		return
	}
	size := fi.Size()
	h := w.Header()
	h.Set("Accept-Ranges", "bytes")
	h.Set("Last-Modified", fi.ModTime().UTC().Format(http.TimeFormat))
	off, n, status := int64(0), size, http.StatusOK
	if rng.set {
		var ok bool
		off, n, ok = rng.resolve(size)
		if !ok {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size))
	}
	// Set so that the server does not sniff the first bytes (a read
	// outside sendfile).
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if n == 0 {
		return
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			s.log.Error("blockserver: seek", "key", key, "err", err)
			return
		}
	}
	if _, err := io.CopyN(w, f, n); err != nil && r.Context().Err() == nil {
		// The status is sent; the client sees a short body.
		s.log.Warn("blockserver: send", "key", key, "err", err)
	}
}

func (s *Server) head(w http.ResponseWriter, r *http.Request, st objstore.Store, key string) {
	info, err := st.Head(r.Context(), key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	h.Set("Last-Modified", info.ModTime.UTC().Format(http.TimeFormat))
	h.Set(ModTimeHeader, info.ModTime.UTC().Format(time.RFC3339Nano))
	w.WriteHeader(http.StatusOK)
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, st objstore.Store, key string) {
	const op = "blockserver.Put"
	switch {
	case r.ContentLength < 0:
		s.writeError(w, r, http.StatusLengthRequired,
			fserr.Errorf(op, fserr.Invalid, "blockserver: put %q: Content-Length required", key))
		return
	case r.ContentLength > s.opts.MaxObjectSize:
		// Closing tells the client not to send the body it may be
		// streaming already.
		w.Header().Set("Connection", "close")
		s.fail(w, r, fserr.Errorf(op, fserr.TooBig, "blockserver: put %q: %d bytes exceeds the %d-byte limit",
			key, r.ContentLength, s.opts.MaxObjectSize))
		return
	}
	data := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, data); err != nil {
		s.fail(w, r, fserr.Errorf(op, fserr.Invalid, "blockserver: put %q: short body: %v", key, err))
		return
	}
	if err := st.Put(r.Context(), key, data); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, st objstore.Store, key string) {
	if err := st.Delete(r.Context(), key); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ListEntry is one object in a list response.
type ListEntry struct {
	Key   string    `json:"key"`
	Size  int64     `json:"size"`
	MTime time.Time `json:"mtime"`
}

// ListResponse is the body of a list response.
type ListResponse struct {
	Objects []ListEntry `json:"objects"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, st objstore.Store) {
	const op = "blockserver.List"
	q := r.URL.Query()
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			s.fail(w, r, fserr.Errorf(op, fserr.Invalid, "blockserver: bad limit %q", l))
			return
		}
		limit = n
	}
	infos, err := st.List(r.Context(), q.Get("prefix"), q.Get("after"), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := ListResponse{Objects: make([]ListEntry, len(infos))}
	for i, in := range infos {
		resp.Objects[i] = ListEntry{Key: in.Key, Size: in.Size, MTime: in.ModTime}
	}
	s.writeJSON(w, http.StatusOK, resp)
}

// SyncRequest is the body of a sync request.
type SyncRequest struct {
	Keys []string `json:"keys"`
}

// maxSyncBody bounds a sync request: a few hundred thousand keys.
const maxSyncBody = 32 << 20

func (s *Server) sync(w http.ResponseWriter, r *http.Request, st objstore.Store, trusted bool, fs string) {
	const op = "blockserver.Sync"
	var req SyncRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxSyncBody)).Decode(&req); err != nil {
		s.fail(w, r, fserr.Errorf(op, fserr.Invalid, "blockserver: sync: bad body: %v", err))
		return
	}
	if !trusted && len(req.Keys) > 0 {
		if ref := s.checkGrants(r, fs, r.Method, req.Keys); ref != nil {
			s.refuse(w, r, ref)
			return
		}
	}
	// A store without Sync makes every Put durable before it returns.
	if sy, ok := st.(objstore.Syncer); ok && len(req.Keys) > 0 {
		if err := sy.Sync(r.Context(), req.Keys); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Kind    fserr.Kind `json:"kind"`
	Op      string     `json:"op,omitempty"`
	Key     string     `json:"key,omitempty"`
	Message string     `json:"message"`
}

// Status is the HTTP status for an error of kind k.
func Status(k fserr.Kind) int {
	switch k {
	case fserr.NotExist, fserr.NotFound:
		return http.StatusNotFound
	case fserr.Invalid, fserr.NameTooLong:
		return http.StatusBadRequest
	case fserr.TooBig, fserr.ArgTooBig:
		return http.StatusRequestEntityTooLarge
	case fserr.Permission, fserr.NotPermitted, fserr.ReadOnly:
		return http.StatusForbidden
	case fserr.Exist, fserr.NotDir, fserr.IsDir, fserr.NotEmpty, fserr.Conflict:
		return http.StatusConflict
	case fserr.NoSpace:
		return http.StatusInsufficientStorage
	case fserr.NotSupported:
		return http.StatusNotImplemented
	case fserr.Busy, fserr.Closed:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := Status(fserr.KindOf(err))
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// Almost always the client went away; nobody reads this.
		status = http.StatusServiceUnavailable
	}
	s.writeError(w, r, status, err)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, err error) {
	body := ErrorBody{Kind: fserr.KindOf(err), Message: err.Error()}
	var fe *fserr.Error
	if errors.As(err, &fe) {
		body.Op, body.Key = fe.Op, fe.Path
	}
	if status >= 500 {
		s.log.Error("blockserver: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	h := w.Header()
	h.Del("Content-Range")
	h.Del("Last-Modified")
	s.writeJSON(w, status, body)
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("blockserver: encode", "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"kind":0,"message":"blockserver: encode failed"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
