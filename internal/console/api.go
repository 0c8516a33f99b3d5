package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
)

// The JSON API the pages call (docs/console.md lists it). Paths and names
// travel in query parameters or JSON bodies, never in the URL path, so
// any byte a name may hold survives the trip.

const (
	defaultPage = 200
	maxPage     = 1000
	s3Staging   = ".shoal-s3" // the gateway's staging directory, not a bucket
)

func (c *Console) routes() {
	m := c.mux
	m.HandleFunc("GET /api/whoami", c.whoami)
	m.HandleFunc("POST /api/login", c.postLogin)
	m.HandleFunc("POST /api/logout", c.postLogout)
	m.HandleFunc("GET /api/overview", c.authed(c.overview))
	m.HandleFunc("GET /api/filesystems", c.authed(c.filesystems))
	m.HandleFunc("GET /api/fs/list", c.authed(c.fsList))
	m.HandleFunc("GET /api/fs/stat", c.authed(c.fsStat))
	m.HandleFunc("GET /api/fs/download", c.authed(c.fsDownload))
	m.HandleFunc("PUT /api/fs/upload", c.authed(c.fsUpload))
	m.HandleFunc("POST /api/fs/mkdir", c.authed(c.fsMkdir))
	m.HandleFunc("POST /api/fs/delete", c.authed(c.fsDelete))
	m.HandleFunc("GET /api/kv/tables", c.authed(c.kvTables))
	m.HandleFunc("GET /api/kv/scan", c.authed(c.kvScan))
	m.HandleFunc("GET /api/kv/get", c.authed(c.kvGet))
	m.HandleFunc("GET /api/s3/buckets", c.authed(c.s3Buckets))
	m.HandleFunc("GET /api/s3/keys", c.authed(c.s3Keys))
	m.HandleFunc("GET /api/workers", c.authed(c.workers))
	m.HandleFunc("GET /api/loads", c.authed(c.loads))
	m.HandleFunc("POST /api/loads/submit", c.authed(c.loadSubmit))
	m.HandleFunc("POST /api/loads/stop", c.authed(c.loadStop))
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fserr.Errorf("console", fserr.NotFound, "console: no API %s %s", r.Method, r.URL.Path))
	})
}

type handler func(w http.ResponseWriter, r *http.Request, s *session) error

// authed resolves the session and turns a handler's error into JSON.
func (c *Console) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.session(r)
		if err != nil {
			writeError(w, http.StatusUnauthorized, err)
			return
		}
		if err := h(w, r, s); err != nil {
			writeError(w, statusOf(err), err)
		}
	}
}

// statusOf maps an error's kind to an HTTP status.
func statusOf(err error) int {
	switch fserr.KindOf(err) {
	case fserr.NotExist, fserr.NotFound:
		return http.StatusNotFound
	case fserr.Permission, fserr.NotPermitted:
		return http.StatusForbidden
	case fserr.Exist, fserr.NotEmpty, fserr.IsDir, fserr.NotDir, fserr.Busy, fserr.TextBusy:
		return http.StatusConflict
	case fserr.Invalid, fserr.NameTooLong, fserr.ArgTooBig, fserr.Loop:
		return http.StatusBadRequest
	case fserr.TooBig, fserr.NoSpace:
		return http.StatusRequestEntityTooLarge
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

type apiError struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error(), Kind: fserr.KindOf(err).String()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// readBody decodes a small JSON body into v.
func readBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fserr.Errorf("console", fserr.Invalid, "console: bad request body: %v", err)
	}
	return nil
}

// --- identity ---------------------------------------------------------

type whoami struct {
	Auth     string   `json:"auth"` // "token", "none" (no tokens: loopback, root)
	LoggedIn bool     `json:"loggedIn"`
	Uid      uint32   `json:"uid"`
	Gid      uint32   `json:"gid"`
	Gids     []uint32 `json:"gids"`
	Super    bool     `json:"super"`
}

func (c *Console) whoami(w http.ResponseWriter, r *http.Request) {
	out := whoami{Auth: "token"}
	if len(c.opts.Tokens) == 0 {
		out.Auth = "none"
	}
	if s, err := c.session(r); err == nil {
		out.LoggedIn = true
		out.Uid, out.Gid, out.Gids, out.Super = s.id.Uid, s.id.Gid, s.id.Gids, s.id.Super || !s.authed
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *Console) postLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	if err := readBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if len(c.opts.Tokens) == 0 {
		writeError(w, http.StatusBadRequest, fserr.Errorf("console.login", fserr.Invalid, "console: this server has no tokens: no login needed"))
		return
	}
	sid, s, err := c.login(strings.TrimSpace(body.Token))
	if err != nil {
		writeError(w, http.StatusUnauthorized, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: sid, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	writeJSON(w, http.StatusOK, whoami{Auth: "token", LoggedIn: true, Uid: s.id.Uid, Gid: s.id.Gid, Gids: s.id.Gids, Super: s.id.Super})
}

func (c *Console) postLogout(w http.ResponseWriter, r *http.Request) {
	if err := c.logout(r); err != nil {
		c.log.Warn("console: closing a session's clients", "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, struct{}{})
}

// --- overview and filesystems ----------------------------------------

type process struct {
	Kind string `json:"kind"` // "server", "worker", "client session"
	Name string `json:"name"`
	Addr string `json:"addr"`
	Info string `json:"info"`
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) error {
	conn, err := s.admin(r.Context())
	if err != nil {
		return err
	}
	st, err := conn.Admin().Status(r.Context())
	if err != nil {
		return err
	}
	in := c.opts.Info
	procs := []process{{Kind: in.Roles, Name: "this server (pid " + strconv.Itoa(os.Getpid()) + ")",
		Addr: strings.Join(st.Listen, ", "), Info: "shoal " + st.Version}}
	for _, u := range st.BlockURLs {
		procs = append(procs, process{Kind: "worker", Name: "block server", Addr: u})
	}
	sessions := 0
	for _, f := range st.FS {
		for _, se := range f.Sessions {
			sessions++
			procs = append(procs, process{Kind: "client", Name: se.Client + " on " + se.Host + " (pid " + strconv.Itoa(se.PID) + ")",
				Addr: se.Addr, Info: "filesystem " + f.Name + ", session " + strconv.FormatUint(se.ID, 10)})
		}
	}
	return writeOK(w, map[string]any{
		"version":   st.Version,
		"roles":     in.Roles,
		"started":   st.Started,
		"uptime":    st.Uptime.Round(time.Second).String(),
		"dataDir":   in.DataDir,
		"engine":    in.Engine,
		"store":     in.Store,
		"s3":        in.S3,
		"metrics":   in.Metrics,
		"go":        runtime.Version(),
		"api":       st.Listen,
		"workers":   st.BlockURLs,
		"fsCount":   len(st.FS),
		"sessions":  sessions,
		"processes": procs,
	})
}

func writeOK(w http.ResponseWriter, v any) error {
	writeJSON(w, http.StatusOK, v)
	return nil
}

type sessionOut struct {
	ID        uint64    `json:"id"`
	Client    string    `json:"client"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Addr      string    `json:"addr"`
	Open      int       `json:"open"`
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
}

func (c *Console) filesystems(w http.ResponseWriter, r *http.Request, s *session) error {
	conn, err := s.admin(r.Context())
	if err != nil {
		return err
	}
	st, err := conn.Admin().Status(r.Context())
	if err != nil {
		return err
	}
	type fsOut struct {
		Name        string       `json:"name"`
		ID          uint32       `json:"id"`
		Created     time.Time    `json:"created"`
		UsedBytes   uint64       `json:"usedBytes"`
		TotalBytes  uint64       `json:"totalBytes"`
		UsedInodes  uint64       `json:"usedInodes"`
		TotalInodes uint64       `json:"totalInodes"`
		Sessions    []sessionOut `json:"sessions"`
	}
	out := []fsOut{}
	for _, f := range st.FS {
		o := fsOut{Name: f.Name, ID: f.ID, Created: f.Created, UsedBytes: f.Usage.UsedBytes, TotalBytes: f.Usage.TotalBytes,
			UsedInodes: f.Usage.UsedInodes, TotalInodes: f.Usage.TotalInodes, Sessions: []sessionOut{}}
		for _, se := range f.Sessions {
			o.Sessions = append(o.Sessions, sessionOut{ID: se.ID, Client: se.Client, Host: se.Host, PID: se.PID, Addr: se.Addr,
				Open: se.Open, Started: se.Started, Heartbeat: se.Heartbeat})
		}
		out = append(out, o)
	}
	return writeOK(w, out)
}

// --- files -------------------------------------------------------------

type entry struct {
	Name   string    `json:"name"`
	Type   string    `json:"type"` // "file", "dir", "symlink", "other"
	Mode   string    `json:"mode"` // ls -l style
	Size   int64     `json:"size"`
	Uid    uint32    `json:"uid"`
	Gid    uint32    `json:"gid"`
	Nlink  uint32    `json:"nlink"`
	Ino    uint64    `json:"ino"`
	Mtime  time.Time `json:"mtime"`
	Ctime  time.Time `json:"ctime"`
	Target string    `json:"target,omitempty"` // a symlink's
}

func entryOf(name string, a shoal.Attr) entry {
	t := "other"
	switch {
	case a.Mode.IsDir():
		t = "dir"
	case a.Mode.IsRegular():
		t = "file"
	case a.Mode&fs.ModeSymlink != 0:
		t = "symlink"
	}
	return entry{Name: name, Type: t, Mode: a.Mode.String(), Size: a.Size, Uid: a.Uid, Gid: a.Gid, Nlink: a.Nlink,
		Ino: a.Ino, Mtime: a.Mtime, Ctime: a.Ctime}
}

// fsClient is the session's client on the request's filesystem.
func fsClient(r *http.Request, s *session, name string) (*shoal.Client, error) {
	if name == "" {
		name = "default"
	}
	return s.client(r.Context(), name)
}

// cleanPath turns what a user typed into an SDK name ("" and "/" are the
// root); the SDK rejects what is still invalid.
func cleanPath(p string) string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// page reads the limit parameter.
func page(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > maxPage {
		return 0, fserr.Errorf("console", fserr.Invalid, "console: limit %q: want 1 to %d", v, maxPage)
	}
	return n, nil
}

type listing struct {
	Path    string  `json:"path"`
	Entries []entry `json:"entries"`
	// Next is the "after" of the next page, "" on the last page.
	Next string `json:"next"`
}

// list pages through dir in name order, limit entries after after.
func list(cl *shoal.Client, dir, after string, limit int, keep func(shoal.NameEntry) bool) (listing, error) {
	out := listing{Path: dir, Entries: []entry{}}
	for {
		ents, err := cl.ListNames(dir, after, limit+1, "")
		if err != nil {
			return out, err
		}
		more := len(ents) > limit
		if more {
			ents = ents[:limit]
		}
		for _, e := range ents {
			after = e.Name
			if keep != nil && !keep(e) {
				continue
			}
			out.Entries = append(out.Entries, entryOf(e.Name, e.Attr))
		}
		if !more {
			return out, nil
		}
		if len(out.Entries) >= limit {
			out.Next = after
			return out, nil
		}
	}
}

func (c *Console) fsList(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	cl, err := fsClient(r, s, q.Get("fs"))
	if err != nil {
		return err
	}
	limit, err := page(r)
	if err != nil {
		return err
	}
	out, err := list(cl, cleanPath(q.Get("path")), q.Get("after"), limit, nil)
	if err != nil {
		return err
	}
	return writeOK(w, out)
}

func (c *Console) fsStat(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	cl, err := fsClient(r, s, q.Get("fs"))
	if err != nil {
		return err
	}
	p := cleanPath(q.Get("path"))
	fi, err := cl.Lstat(p)
	if err != nil {
		return err
	}
	e := entryOf(path.Base(p), *fi.Sys().(*shoal.Attr))
	if e.Type == "symlink" {
		if e.Target, err = cl.Readlink(p); err != nil {
			return err
		}
	}
	return writeOK(w, e)
}

func (c *Console) fsDownload(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	cl, err := fsClient(r, s, q.Get("fs"))
	if err != nil {
		return err
	}
	p := cleanPath(q.Get("path"))
	f, err := cl.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fserr.E("console.download", p, fserr.IsDir)
	}
	// Never rendered by the browser: an uploaded page must not run as
	// the console's origin.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment; filename*=UTF-8''"+urlEscape(path.Base(p)))
	http.ServeContent(w, r, "", fi.ModTime(), f)
	return nil
}

// urlEscape is RFC 5987's percent-encoding of a file name.
func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("!#$&+-.^_`|~", ch) >= 0 {
			b.WriteByte(ch)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{ch})))
		}
	}
	return b.String()
}

// fsUpload writes the request body to path. The bytes go to a hidden name
// in the same directory first and are renamed over path only once all of
// them are written and closed, so a cut upload leaves nothing behind and
// never a half-written path.
func (c *Console) fsUpload(w http.ResponseWriter, r *http.Request, s *session) error {
	const op = "console.upload"
	q := r.URL.Query()
	cl, err := fsClient(r, s, q.Get("fs"))
	if err != nil {
		return err
	}
	p := cleanPath(q.Get("path"))
	if p == "." {
		return fserr.E(op, "/", fserr.IsDir)
	}
	if fi, err := cl.Stat(p); err == nil && fi.IsDir() {
		return fserr.E(op, p, fserr.IsDir)
	}
	rnd := make([]byte, 6)
	rand.Read(rnd)
	tmp := path.Join(path.Dir(p), ".upload-"+hex.EncodeToString(rnd)+".partial")
	f, err := cl.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = cl.Rename(tmp, p)
	}
	if err != nil {
		if rerr := cl.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			c.log.Warn("console: removing a failed upload", "path", tmp, "err", rerr)
		}
		return err
	}
	fi, err := cl.Lstat(p)
	if err != nil {
		return err
	}
	return writeOK(w, entryOf(path.Base(p), *fi.Sys().(*shoal.Attr)))
}

type pathBody struct {
	FS   string `json:"fs"`
	Path string `json:"path"`
}

func (c *Console) fsMkdir(w http.ResponseWriter, r *http.Request, s *session) error {
	var b pathBody
	if err := readBody(r, &b); err != nil {
		return err
	}
	cl, err := fsClient(r, s, b.FS)
	if err != nil {
		return err
	}
	if err := cl.Mkdir(cleanPath(b.Path), 0o755); err != nil {
		return err
	}
	return writeOK(w, struct{}{})
}

// fsDelete removes one file or empty directory (never a tree: a console
// click should not be able to erase one).
func (c *Console) fsDelete(w http.ResponseWriter, r *http.Request, s *session) error {
	var b pathBody
	if err := readBody(r, &b); err != nil {
		return err
	}
	cl, err := fsClient(r, s, b.FS)
	if err != nil {
		return err
	}
	p := cleanPath(b.Path)
	if p == "." {
		return fserr.E("console.delete", "/", fserr.Invalid)
	}
	if err := cl.Remove(p); err != nil {
		return err
	}
	return writeOK(w, struct{}{})
}

// --- KV tables --------------------------------------------------------

// bytesOut shows a key or value: as text when it is UTF-8, and always in
// hex.
type bytesOut struct {
	Text *string `json:"text"`
	Hex  string  `json:"hex"`
	Len  int     `json:"len"`
}

func bytesOf(b []byte) bytesOut {
	o := bytesOut{Hex: hex.EncodeToString(b), Len: len(b)}
	if utf8.Valid(b) {
		s := string(b)
		o.Text = &s
	}
	return o
}

// keyParam reads a key typed as text, or as hex with a "0x" prefix.
func keyParam(r *http.Request, name string) ([]byte, error) {
	v := r.URL.Query().Get(name)
	if h, ok := strings.CutPrefix(v, "0x"); ok {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fserr.Errorf("console", fserr.Invalid, "console: %s %q: bad hex after 0x", name, v)
		}
		return b, nil
	}
	return []byte(v), nil
}

func (c *Console) kvTables(w http.ResponseWriter, r *http.Request, s *session) error {
	cl, err := fsClient(r, s, "")
	if err != nil {
		return err
	}
	tabs, err := cl.ListTables()
	if err != nil {
		return err
	}
	type tableOut struct {
		Name       string    `json:"name"`
		ID         uint32    `json:"id"`
		DefaultTTL int       `json:"defaultTTL"`
		Created    time.Time `json:"created"`
	}
	out := []tableOut{}
	for _, t := range tabs {
		out = append(out, tableOut{Name: t.Name, ID: t.ID, DefaultTTL: t.DefaultTTL, Created: t.Created})
	}
	return writeOK(w, out)
}

type record struct {
	Hash  bytesOut `json:"hash"`
	Sort  bytesOut `json:"sort"`
	Value bytesOut `json:"value"`
}

// kvScan scans one hash key's sort keys in [start, stop) (stop empty: to
// the end), or, with no hash key, the table from its beginning.
func (c *Console) kvScan(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	cl, err := fsClient(r, s, "")
	if err != nil {
		return err
	}
	limit, err := page(r)
	if err != nil {
		return err
	}
	hash, err := keyParam(r, "hash")
	if err != nil {
		return err
	}
	start, err := keyParam(r, "start")
	if err != nil {
		return err
	}
	stop, err := keyParam(r, "stop")
	if err != nil {
		return err
	}
	t := cl.Table(q.Get("table"))
	opts := shoal.DefaultScanOptions()
	opts.BatchSize = limit + 1
	var sc *shoal.Scanner
	if len(hash) > 0 {
		if q.Has("after") {
			if start, err = keyParam(r, "after"); err != nil {
				return err
			}
			opts.StartInclusive = false
		}
		sc, err = t.GetScanner(hash, start, stop, opts)
	} else {
		var scs []*shoal.Scanner
		scs, err = t.GetUnorderedScanners(1, opts)
		if err == nil && len(scs) > 0 {
			sc = scs[0]
			for _, o := range scs[1:] {
				o.Close()
			}
		}
	}
	if err != nil {
		return err
	}
	out := struct {
		Records []record `json:"records"`
		More    bool     `json:"more"`
		Next    *string  `json:"next"` // "after" of the next page (hash scans)
	}{Records: []record{}}
	if sc == nil {
		return writeOK(w, out)
	}
	defer sc.Close()
	for {
		h, k, v, ok, err := sc.Next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if len(out.Records) == limit {
			out.More = true
			if len(hash) > 0 {
				last := out.Records[limit-1].Sort.Hex
				next := "0x" + last
				out.Next = &next
			}
			break
		}
		out.Records = append(out.Records, record{Hash: bytesOf(h), Sort: bytesOf(k), Value: bytesOf(v)})
	}
	return writeOK(w, out)
}

func (c *Console) kvGet(w http.ResponseWriter, r *http.Request, s *session) error {
	cl, err := fsClient(r, s, "")
	if err != nil {
		return err
	}
	hash, err := keyParam(r, "hash")
	if err != nil {
		return err
	}
	sort, err := keyParam(r, "sort")
	if err != nil {
		return err
	}
	t := cl.Table(r.URL.Query().Get("table"))
	v, found, err := t.Get(hash, sort)
	if err != nil {
		return err
	}
	out := struct {
		Found bool      `json:"found"`
		Value *bytesOut `json:"value"`
		TTL   int       `json:"ttl"`
	}{Found: found}
	if found {
		b := bytesOf(v)
		out.Value = &b
		if ttl, ok, err := t.TTL(hash, sort); err == nil && ok {
			out.TTL = ttl
		}
	}
	return writeOK(w, out)
}

// --- S3 ---------------------------------------------------------------

// The S3 gateway serves the default filesystem: a bucket is a top-level
// directory, a key its path below. The console lists them through the
// namespace (as the logged-in identity), the gateway's staging directory
// excepted.

func (c *Console) s3Buckets(w http.ResponseWriter, r *http.Request, s *session) error {
	cl, err := fsClient(r, s, "")
	if err != nil {
		return err
	}
	out, err := list(cl, ".", "", maxPage, func(e shoal.NameEntry) bool {
		return e.Attr.Mode.IsDir() && e.Name != s3Staging
	})
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"gateway": c.opts.Info.S3, "buckets": out.Entries})
}

// s3Keys lists one level of a bucket below prefix (a "folder" ending in
// /), as S3 consoles show a listing with delimiter "/".
func (c *Console) s3Keys(w http.ResponseWriter, r *http.Request, s *session) error {
	const op = "console.s3keys"
	q := r.URL.Query()
	bucket, prefix := q.Get("bucket"), q.Get("prefix")
	if bucket == "" || strings.Contains(bucket, "/") || bucket == s3Staging {
		return fserr.E(op, bucket, fserr.Invalid)
	}
	if prefix != "" && (!strings.HasSuffix(prefix, "/") || !fs.ValidPath(strings.TrimSuffix(prefix, "/")) || prefix == "./") {
		return fserr.Errorf(op, fserr.Invalid, "console: prefix %q: want a folder prefix, names ending in / (no . or .. or empty names)", prefix)
	}
	cl, err := fsClient(r, s, "")
	if err != nil {
		return err
	}
	limit, err := page(r)
	if err != nil {
		return err
	}
	dir := path.Join(bucket, strings.TrimSuffix(prefix, "/"))
	out, err := list(cl, dir, q.Get("after"), limit, func(e shoal.NameEntry) bool {
		return e.Attr.Mode.IsDir() || e.Attr.Mode.IsRegular()
	})
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"bucket": bucket, "prefix": prefix, "entries": out.Entries, "next": out.Next})
}

// --- workers ----------------------------------------------------------

func (c *Console) workers(w http.ResponseWriter, r *http.Request, s *session) error {
	conn, err := s.admin(r.Context())
	if err != nil {
		return err
	}
	st, err := conn.Admin().Status(r.Context())
	if err != nil {
		return err
	}
	type workerOut struct {
		URL   string `json:"url"`
		Ready string `json:"ready"` // what its /readyz answered
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	if c.opts.TLS != nil {
		hc.Transport = &http.Transport{TLSClientConfig: c.opts.TLS}
	}
	out := []workerOut{}
	for _, u := range st.BlockURLs {
		wo := workerOut{URL: u, Ready: "unreachable"}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, strings.TrimSuffix(u, "/")+"/readyz", nil)
		if err == nil {
			if resp, err := hc.Do(req); err == nil {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				resp.Body.Close()
				wo.Ready = strings.TrimSpace(resp.Status + ": " + strings.TrimSpace(string(body)))
			} else {
				wo.Ready = "unreachable: " + err.Error()
			}
		}
		out = append(out, wo)
	}
	return writeOK(w, map[string]any{"workers": out})
}

// loads lists the filesystem's load jobs with their progress; the page
// polls it for live progress.
func (c *Console) loads(w http.ResponseWriter, r *http.Request, s *session) error {
	cl, err := fsClient(r, s, r.URL.Query().Get("fs"))
	if err != nil {
		return err
	}
	js, err := cl.ListLoads(false)
	if err != nil {
		return err
	}
	if js == nil {
		js = []shoal.LoadJob{}
	}
	return writeOK(w, js)
}

type loadBody struct {
	FS         string `json:"fs"`
	Path       string `json:"path"`
	ID         string `json:"id"`
	Bandwidth  int64  `json:"bandwidth"`
	Verify     bool   `json:"verify"`
	SkipCached bool   `json:"skip_cached"`
}

// loadSubmit starts a job as the session's token: the server lets only
// a super token submit.
func (c *Console) loadSubmit(w http.ResponseWriter, r *http.Request, s *session) error {
	var b loadBody
	if err := readBody(r, &b); err != nil {
		return err
	}
	cl, err := fsClient(r, s, b.FS)
	if err != nil {
		return err
	}
	j, err := cl.SubmitLoad(b.Path, shoal.LoadOptions{Bandwidth: b.Bandwidth, Verify: b.Verify, SkipCached: b.SkipCached})
	if err != nil {
		return err
	}
	return writeOK(w, j)
}

// loadStop stops job id (or the job of path), super token only.
func (c *Console) loadStop(w http.ResponseWriter, r *http.Request, s *session) error {
	var b loadBody
	if err := readBody(r, &b); err != nil {
		return err
	}
	cl, err := fsClient(r, s, b.FS)
	if err != nil {
		return err
	}
	ref := b.ID
	if ref == "" {
		ref = b.Path
	}
	j, err := cl.StopLoad(ref)
	if err != nil {
		return err
	}
	return writeOK(w, j)
}
