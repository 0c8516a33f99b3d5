package blockserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
)

// Grants. Blocks are named by slice id, and the meta role alone knows
// which slices make up a file and whether a caller may read or write it.
// Rather than asking meta on every block request (the block server may
// run in another process than meta), meta signs what it decided: a grant
// names a filesystem, a set of slice ids, a mode and an expiry, under an
// HMAC-SHA256 key that both sides hold (GrantKey). The block server
// checks the MAC, the filesystem, the mode, that the key's slice id is in
// the set and that the grant has not expired, and asks nobody.
//
// Token format (one header value, no commas):
//
//	g2.<base64url payload>.<base64url HMAC-SHA256(key, "shoal block grant v2\n" || payload)>
//	payload: mode byte, then uvarints: expiry (Unix ns), first issue
//	         (Unix ns), session, inode, len(fs), fs bytes, filesystem id,
//	         number of ranges, then per range lo, hi-lo.
//
// The filesystem id (meta's id in the engine, never 0) tells a
// filesystem from one deleted and created again under the same name,
// whose slice ids start over: the block server checks it against the
// store's (Options.FSID), so a grant of the old one reaches none of the
// new one's blocks.
//
// The first issue time is carried unchanged through renewals, so meta can
// refuse to renew a grant past a maximum age. Version 1 tokens (prefix
// g1., context "shoal block grant v1\n", no first issue time) still
// verify, with a zero Issued and FSID, until they expire (the block server
// checks them by name only); Sign writes version 2.
//
// Session and inode are not checked here: they let meta renew a grant
// (the holder shows the expired grant; meta renews it while the session
// still holds the inode open, or any inode open for writing).

// GrantHeader is the request header carrying grants (repeated, or one
// value with comma-separated tokens).
const GrantHeader = "Shoal-Grant"

// GrantErrorHeader is set on a 403 whose only cause was an expired grant,
// so the client renews it and retries.
const GrantErrorHeader = "Shoal-Grant-Error"

// GrantMode is what a grant allows.
type GrantMode uint8

const (
	// GrantRead allows GET and HEAD.
	GrantRead GrantMode = 1
	// GrantWrite allows GET, HEAD, PUT, DELETE and sync: it is issued only
	// for slice ids allocated to the holder's session, whose blocks nobody
	// else references before the session commits them.
	GrantWrite GrantMode = 2
)

func (m GrantMode) String() string {
	switch m {
	case GrantRead:
		return "read"
	case GrantWrite:
		return "write"
	}
	return "GrantMode(" + strconv.Itoa(int(m)) + ")"
}

// Grant is the content of a grant token.
type Grant struct {
	FS      string
	Session uint64
	Ino     uint64 // read grants: the inode whose chunk listed the slices
	Mode    GrantMode
	// IDs are half-open ranges [lo, hi) of slice ids.
	IDs     [][2]uint64
	Expires time.Time
	// Issued is when meta first issued the grant, kept through renewals
	// (zero in a version 1 token).
	Issued time.Time
	// FSID is the filesystem's id (0 in a version 1 token).
	FSID uint64
}

// Covers reports whether slice id is in the grant's set.
func (g *Grant) Covers(id uint64) bool {
	for _, r := range g.IDs {
		if id >= r[0] && id < r[1] {
			return true
		}
	}
	return false
}

// Allows reports whether the grant's mode allows method.
func (g *Grant) Allows(method string) bool {
	switch method {
	case "GET", "HEAD":
		return g.Mode == GrantRead || g.Mode == GrantWrite
	case "PUT", "DELETE", "POST":
		return g.Mode == GrantWrite
	}
	return false
}

// Limits keep a hostile token from costing much to parse.
const (
	maxGrantToken  = 64 << 10
	maxGrantRanges = 1 << 14
	grantMACLen    = sha256.Size
	grantPrefix    = "g2."
	grantContext   = "shoal block grant v2\n"
	grantPrefixV1  = "g1."
	grantContextV1 = "shoal block grant v1\n"
	// MinGrantKeyLen is the shortest secret NewGrantKey accepts.
	MinGrantKeyLen = 32
)

// GrantKey signs and verifies grants. It is safe for concurrent use.
type GrantKey struct{ secret []byte }

// NewGrantKey returns a key over secret (at least MinGrantKeyLen bytes).
func NewGrantKey(secret []byte) (*GrantKey, error) {
	if len(secret) < MinGrantKeyLen {
		return nil, fserr.Errorf("blockserver.NewGrantKey", fserr.Invalid,
			"blockserver: grant key of %d bytes, want at least %d", len(secret), MinGrantKeyLen)
	}
	return &GrantKey{secret: append([]byte(nil), secret...)}, nil
}

func (k *GrantKey) mac(version int, payload []byte) []byte {
	h := hmac.New(sha256.New, k.secret)
	if version == 1 {
		h.Write([]byte(grantContextV1))
	} else {
		h.Write([]byte(grantContext))
	}
	h.Write(payload)
	return h.Sum(nil)
}

// Sign returns the token of g.
func (k *GrantKey) Sign(g Grant) string {
	p := encodeGrant(g)
	enc := base64.RawURLEncoding
	return grantPrefix + enc.EncodeToString(p) + "." + enc.EncodeToString(k.mac(2, p))
}

// Verify checks the MAC of token and returns its grant. Expiry, mode,
// filesystem and slice ids are the caller's to check.
func (k *GrantKey) Verify(token string) (Grant, error) {
	const op = "blockserver.Verify"
	v, p, mac, err := splitGrant(token)
	if err != nil {
		return Grant{}, err
	}
	if !hmac.Equal(mac, k.mac(v, p)) {
		return Grant{}, fserr.Errorf(op, fserr.Permission, "blockserver: grant signature does not match")
	}
	g, ok := decodeGrant(v, p)
	if !ok {
		return Grant{}, fserr.Errorf(op, fserr.Permission, "blockserver: malformed grant")
	}
	return g, nil
}

// ParseGrant decodes token without verifying it, for the holder, which
// needs to know what a grant covers but not the key.
func ParseGrant(token string) (Grant, error) {
	v, p, _, err := splitGrant(token)
	if err != nil {
		return Grant{}, err
	}
	g, ok := decodeGrant(v, p)
	if !ok {
		return Grant{}, fserr.Errorf("blockserver.ParseGrant", fserr.Invalid, "blockserver: malformed grant")
	}
	return g, nil
}

func splitGrant(token string) (version int, payload, mac []byte, err error) {
	const op = "blockserver.Verify"
	bad := fserr.Errorf(op, fserr.Permission, "blockserver: malformed grant")
	if len(token) > maxGrantToken {
		return 0, nil, nil, bad
	}
	version = 2
	rest, ok := strings.CutPrefix(token, grantPrefix)
	if !ok {
		if rest, ok = strings.CutPrefix(token, grantPrefixV1); !ok {
			return 0, nil, nil, bad
		}
		version = 1
	}
	ps, ms, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, nil, nil, bad
	}
	enc := base64.RawURLEncoding
	if payload, err = enc.DecodeString(ps); err != nil {
		return 0, nil, nil, bad
	}
	if mac, err = enc.DecodeString(ms); err != nil || len(mac) != grantMACLen {
		return 0, nil, nil, bad
	}
	return version, payload, mac, nil
}

func encodeGrant(g Grant) []byte {
	b := make([]byte, 0, 32+len(g.FS)+len(g.IDs)*6)
	b = append(b, byte(g.Mode))
	b = binary.AppendUvarint(b, uint64(g.Expires.UnixNano()))
	var issued uint64
	if !g.Issued.IsZero() {
		issued = uint64(g.Issued.UnixNano())
	}
	b = binary.AppendUvarint(b, issued)
	b = binary.AppendUvarint(b, g.Session)
	b = binary.AppendUvarint(b, g.Ino)
	b = binary.AppendUvarint(b, uint64(len(g.FS)))
	b = append(b, g.FS...)
	b = binary.AppendUvarint(b, g.FSID)
	b = binary.AppendUvarint(b, uint64(len(g.IDs)))
	for _, r := range g.IDs {
		b = binary.AppendUvarint(b, r[0])
		b = binary.AppendUvarint(b, r[1]-r[0])
	}
	return b
}

func decodeGrant(version int, b []byte) (Grant, bool) {
	var g Grant
	if len(b) < 1 {
		return g, false
	}
	g.Mode, b = GrantMode(b[0]), b[1:]
	if g.Mode != GrantRead && g.Mode != GrantWrite {
		return g, false
	}
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	exp, ok1 := next()
	if version >= 2 {
		issued, ok := next()
		if !ok {
			return g, false
		}
		if issued != 0 {
			g.Issued = time.Unix(0, int64(issued))
		}
	}
	sess, ok2 := next()
	ino, ok3 := next()
	fsLen, ok4 := next()
	if !ok1 || !ok2 || !ok3 || !ok4 || fsLen > uint64(len(b)) {
		return g, false
	}
	g.Expires, g.Session, g.Ino = time.Unix(0, int64(exp)), sess, ino
	g.FS, b = string(b[:fsLen]), b[fsLen:]
	if version >= 2 {
		id, ok := next()
		if !ok {
			return g, false
		}
		g.FSID = id
	}
	n, ok := next()
	if !ok || n > maxGrantRanges {
		return g, false
	}
	g.IDs = make([][2]uint64, 0, n)
	for range n {
		lo, ok1 := next()
		span, ok2 := next()
		if !ok1 || !ok2 || lo+span < lo {
			return g, false
		}
		g.IDs = append(g.IDs, [2]uint64{lo, lo + span})
	}
	return g, len(b) == 0
}

// IDRanges turns slice ids into the ranges of a grant, merging runs of
// consecutive ids. Id 0 (a hole) is left out.
func IDRanges(ids []uint64) [][2]uint64 {
	var out [][2]uint64
	for _, id := range ids {
		if id == 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1][1] == id {
			out[n-1][1]++
			continue
		}
		out = append(out, [2]uint64{id, id + 1})
	}
	return out
}

// grantTokens splits the values of GrantHeader.
func grantTokens(values []string) []string {
	var out []string
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// maxGrantsPerRequest bounds the tokens one request may carry (a sync of
// blocks from many id batches carries one per batch).
const maxGrantsPerRequest = 256

// grantRefusal is why a request was refused; expired when a renewed grant
// would lift it.
type grantRefusal struct {
	err     error
	expired bool
}

// checkGrants decides whether an untrusted request with method may reach
// keys of filesystem fs: each key must name a slice that a valid,
// unexpired grant for fs, whose mode allows method, covers.
func (s *Server) checkGrants(r *http.Request, fs, method string, keys []string) *grantRefusal {
	const op = "blockserver.Grant"
	deny := func(format string, args ...any) *grantRefusal {
		return &grantRefusal{err: fserr.Errorf(op, fserr.Permission, "blockserver: "+format, args...)}
	}
	if s.opts.Grants == nil || s.opts.SliceOf == nil {
		return deny("%s needs a super token here (this server verifies no grants)", method)
	}
	tokens := grantTokens(r.Header.Values(GrantHeader))
	if len(tokens) > maxGrantsPerRequest {
		return deny("%d grants in one request, at most %d", len(tokens), maxGrantsPerRequest)
	}
	now := time.Now()
	if s.opts.Now != nil {
		now = s.opts.Now()
	}
	var fsID uint64
	if s.opts.FSID != nil {
		id, err := s.opts.FSID(fs)
		if err != nil {
			return &grantRefusal{err: fserr.E(op, fs, fserr.Permission, err)}
		}
		fsID = id
	}
	var grants []Grant
	var bad error
	for _, t := range tokens {
		g, err := s.opts.Grants.Verify(t)
		if err != nil {
			bad = err
			continue
		}
		if g.FS != fs || !g.Allows(method) {
			continue
		}
		if g.FSID != 0 && g.FSID != fsID {
			// A grant of a filesystem since deleted and created again
			// under this name (version 1 grants carry no id and pass
			// on the name until they expire).
			if bad == nil {
				bad = fserr.Errorf(op, fserr.Permission, "blockserver: grant of filesystem %q id %d, which is now id %d", fs, g.FSID, fsID)
			}
			continue
		}
		grants = append(grants, g)
	}
	for _, key := range keys {
		id, ok := s.opts.SliceOf(key)
		if !ok {
			return deny("%s %q: not a block key; only a super token reaches it", method, key)
		}
		expired := false
		found := false
		for i := range grants {
			if grants[i].Covers(id) {
				if now.Before(grants[i].Expires) {
					found = true
					break
				}
				expired = true
			}
		}
		if found {
			continue
		}
		if expired {
			ref := deny("%s %q: the grant for slice %d expired", method, key, id)
			ref.expired = true
			return ref
		}
		if bad != nil {
			return &grantRefusal{err: fserr.E(op, key, fserr.Permission, bad)}
		}
		return deny("%s %q: no %s grant covers slice %d (blocks are reached through files opened with the API; only a super token reaches others)",
			method, key, map[bool]string{true: "write", false: "read"}[method != "GET" && method != "HEAD"], id)
	}
	return nil
}

// refuse answers a grant refusal with 403.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ref *grantRefusal) {
	if ref.expired {
		w.Header().Set(GrantErrorHeader, "expired")
	}
	s.writeError(w, r, http.StatusForbidden, ref.err)
}
