// Package sigv4 verifies AWS signatures on S3 requests. Version 4: the
// Authorization header, presigned URLs (query parameters, with expiry),
// UNSIGNED-PAYLOAD, signed payload hashes, and the aws-chunked streaming
// bodies (STREAMING-AWS4-HMAC-SHA256-PAYLOAD with chained chunk
// signatures, and the -TRAILER variants, signed and unsigned, carrying an
// x-amz-checksum-* trailer). Version 2 (sigv2.go): the Authorization
// header and presigned query strings.
//
// Invariants:
//   - Verification fails closed: a request that carries any SigV4 or SigV2 material
//     is either fully verified or rejected; only a request with no
//     authentication at all is reported as anonymous.
//   - Signatures are compared in constant time (hmac.Equal).
//   - The body handed back (Auth.Body) yields only bytes that belong to the
//     verified payload, and its final Read returns io.EOF only once every
//     integrity check has passed (payload hash, chunk and trailer
//     signatures, decoded length, x-amz-checksum-* value). Any failure is
//     returned by Read instead of io.EOF, so a consumer that commits only on
//     io.EOF never stores unverified data.
//
// The canonical request follows AWS's specification: the URI path is
// decoded per segment and re-encoded with RFC 3986 unreserved characters
// kept, query parameters are encoded and then sorted (by name, then
// value), header values are trimmed with inner runs of spaces collapsed
// and repeated headers joined with commas.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/s3/checksum"
)

// Payload hash markers (x-amz-content-sha256 values that are not hashes).
const (
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingPayload         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	EmptySHA256              = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

	algorithm     = "AWS4-HMAC-SHA256"
	timeFormat    = "20060102T150405Z"
	dateFormat    = "20060102"
	maxPresignAge = 7 * 24 * time.Hour
)

// DefaultMaxSkew is how far a request's date may be from the server's
// clock (AWS uses 15 minutes).
const DefaultMaxSkew = 15 * time.Minute

// Errors, classified by errors.Is. The S3 layer maps each to its error code.
var (
	ErrSignatureDoesNotMatch = errors.New("sigv4: signature does not match")
	ErrInvalidAccessKeyID    = errors.New("sigv4: unknown access key")
	ErrMalformedAuth         = errors.New("sigv4: malformed authorization header")
	ErrMalformedPresign      = errors.New("sigv4: malformed presigned query parameters")
	ErrUnsupportedAuth       = errors.New("sigv4: unsupported authorization mechanism, use AWS4-HMAC-SHA256")
	ErrTimeSkewed            = errors.New("sigv4: request time too skewed")
	ErrExpired               = errors.New("sigv4: request has expired")
	ErrNotYetValid           = errors.New("sigv4: request is not valid yet")
	ErrMissingContentSHA256  = errors.New("sigv4: missing x-amz-content-sha256")
	ErrInvalidContentSHA256  = errors.New("sigv4: invalid x-amz-content-sha256")
	ErrContentSHA256Mismatch = errors.New("sigv4: payload does not match x-amz-content-sha256")
	ErrUnsignedHeaders       = errors.New("sigv4: x-amz-* headers present that are not signed")
	ErrIncompleteBody        = errors.New("sigv4: body shorter or longer than declared")
	ErrMalformedChunk        = errors.New("sigv4: malformed aws-chunked body")
	ErrChunkSignature        = errors.New("sigv4: chunk signature does not match")
	ErrMissingDecodedLength  = errors.New("sigv4: missing x-amz-decoded-content-length")
	ErrInvalidChecksum       = errors.New("sigv4: malformed checksum value")
	ErrMultipleChecksums     = errors.New("sigv4: more than one x-amz-checksum-* header")
	ErrMissingDate           = errors.New("sigv4: no valid Date or x-amz-date header")
	ErrExpiresRange          = errors.New("sigv4: X-Amz-Expires must be between 1 second and 7 days")
	ErrBadChecksum           = errors.New("sigv4: checksum does not match the body")
)

func authErr(cause error) error    { return fserr.E("sigv4.Verify", fserr.Permission, cause) }
func inputErr(cause error) error   { return fserr.E("sigv4.Verify", fserr.Invalid, cause) }
func bodyErr(cause error) error    { return fserr.E("sigv4.Body", fserr.Invalid, cause) }
func corruptErr(cause error) error { return fserr.E("sigv4.Body", fserr.Corrupt, cause) }

// Verifier checks requests against the secrets it can look up. The zero
// value rejects every signed request (no secrets) and accepts none as
// signed: fail closed.
type Verifier struct {
	// Secret returns the secret key of an access key.
	Secret func(accessKey string) (secret string, ok bool)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxSkew bounds |request time - now| for header auth; 0 means DefaultMaxSkew.
	MaxSkew time.Duration
	// Service is the credential scope's service; "" means "s3".
	Service string
}

// Auth is a verified request.
type Auth struct {
	AccessKey string // "" for an anonymous request
	Presigned bool
	Region    string // the credential scope's region
	// Body replaces the request body: decoded from aws-chunked when needed,
	// and failing on its last Read unless every check passed.
	Body io.Reader
	// Length is the number of payload bytes Body yields, or -1 if unknown.
	Length int64

	sum *sumState
}

// Anonymous reports whether the request carried no authentication.
func (a *Auth) Anonymous() bool { return a.AccessKey == "" }

// Checksum returns the request's x-amz-checksum-* algorithm and value
// (from a header or a trailer) once Body has returned io.EOF; it is
// verified against the bytes. Empty when the request carried none.
func (a *Auth) Checksum() (checksum.Algorithm, string) {
	if a.sum == nil || !a.sum.done {
		return "", ""
	}
	return a.sum.alg, a.sum.value
}

// credential is the parsed Credential= value.
type credential struct {
	accessKey, date, region, service string
}

func (c credential) scope() string {
	return c.date + "/" + c.region + "/" + c.service + "/aws4_request"
}

func parseCredential(s string, service string) (credential, bool) {
	// The access key may itself contain '/', so split from the right.
	parts := strings.Split(s, "/")
	if len(parts) < 5 {
		return credential{}, false
	}
	n := len(parts)
	c := credential{
		accessKey: strings.Join(parts[:n-4], "/"),
		date:      parts[n-4],
		region:    parts[n-3],
		service:   parts[n-2],
	}
	if parts[n-1] != "aws4_request" || c.service != service || c.accessKey == "" || c.region == "" {
		return credential{}, false
	}
	if _, err := time.Parse(dateFormat, c.date); err != nil {
		return credential{}, false
	}
	return c, true
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now().UTC()
	}
	return time.Now().UTC()
}

func (v *Verifier) service() string {
	if v.Service == "" {
		return "s3"
	}
	return v.Service
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return DefaultMaxSkew
	}
	return v.MaxSkew
}

// Option varies one verification.
type Option func(*options)

type options struct {
	ignoreChecksumHeaders bool
	v2Bucket              string
}

// IgnoreChecksumHeaders stops x-amz-checksum-* request headers from being
// checked against the body: on CompleteMultipartUpload they describe the
// assembled object, not the XML body.
func IgnoreChecksumHeaders() Option { return func(o *options) { o.ignoreChecksumHeaders = true } }

// Verify authenticates r. On success the caller must read the payload from
// Auth.Body, never from r.Body.
func (v *Verifier) Verify(r *http.Request, opts ...Option) (*Auth, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	authz := r.Header.Get("Authorization")
	q := r.URL.Query()
	switch {
	case authz != "":
		switch {
		case strings.HasPrefix(authz, algorithm+" "):
			return v.verifyHeader(r, authz, o)
		case strings.HasPrefix(authz, "AWS "):
			return v.verifyV2Header(r, authz, o)
		}
		return nil, authErr(ErrUnsupportedAuth)
	case q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Signature"):
		return v.verifyPresigned(r, q, o)
	case q.Has("AWSAccessKeyId") || q.Has("Signature") || q.Has("Expires"):
		return v.verifyV2Presigned(r, q, o)
	}
	a := &Auth{Length: r.ContentLength}
	body, err := wrapPlain(r, a, "", o)
	if err != nil {
		return nil, err
	}
	a.Body = body
	return a, nil
}

type authHeader struct {
	cred          credential
	signedHeaders []string
	signature     string
}

func parseAuthHeader(s, service string) (authHeader, bool) {
	var h authHeader
	rest := strings.TrimSpace(strings.TrimPrefix(s, algorithm))
	var gotCred, gotSH, gotSig bool
	for _, f := range strings.Split(rest, ",") {
		f = strings.TrimSpace(f)
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			return h, false
		}
		switch k {
		case "Credential":
			c, ok := parseCredential(val, service)
			if !ok {
				return h, false
			}
			h.cred, gotCred = c, true
		case "SignedHeaders":
			h.signedHeaders, gotSH = strings.Split(val, ";"), true
		case "Signature":
			h.signature, gotSig = val, true
		default:
			return h, false
		}
	}
	if !gotCred || !gotSH || !gotSig || !validSignedHeaders(h.signedHeaders) || !isHex64(h.signature) {
		return h, false
	}
	return h, true
}

func validSignedHeaders(hs []string) bool {
	host := false
	for i, h := range hs {
		if h == "" || h != strings.ToLower(h) || (i > 0 && hs[i-1] >= h) {
			return false
		}
		if h == "host" {
			host = true
		}
	}
	return host
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (v *Verifier) requestTime(r *http.Request) (time.Time, string, bool) {
	if s := r.Header.Get("X-Amz-Date"); s != "" {
		t, err := time.Parse(timeFormat, s)
		return t, s, err == nil
	}
	if s := r.Header.Get("Date"); s != "" {
		t, err := http.ParseTime(s)
		if err != nil {
			return t, "", false
		}
		return t.UTC(), t.UTC().Format(timeFormat), true
	}
	return time.Time{}, "", false
}

func (v *Verifier) verifyHeader(r *http.Request, authz string, o options) (*Auth, error) {
	h, ok := parseAuthHeader(authz, v.service())
	if !ok {
		return nil, inputErr(ErrMalformedAuth)
	}
	t, amzDate, ok := v.requestTime(r)
	if !ok || t.Format(dateFormat) != h.cred.date {
		return nil, inputErr(ErrMalformedAuth)
	}
	if d := v.now().Sub(t); d > v.maxSkew() || d < -v.maxSkew() {
		return nil, authErr(ErrTimeSkewed)
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return nil, inputErr(ErrMissingContentSHA256)
	}
	if !knownPayload(payload) {
		return nil, inputErr(ErrInvalidContentSHA256)
	}
	if !allAmzHeadersSigned(r.Header, h.signedHeaders) {
		return nil, authErr(ErrUnsignedHeaders)
	}
	secret, ok := v.lookup(h.cred.accessKey)
	if !ok {
		return nil, authErr(ErrInvalidAccessKeyID)
	}
	key := SigningKey(secret, h.cred.date, h.cred.region, h.cred.service)
	creq := CanonicalRequest(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, canonicalHeaderValues(r, h.signedHeaders), h.signedHeaders, payload, false)
	sts := StringToSign(amzDate, h.cred.scope(), creq)
	if !sigEqual(Signature(key, sts), h.signature) {
		return nil, authErr(ErrSignatureDoesNotMatch)
	}
	a := &Auth{AccessKey: h.cred.accessKey, Region: h.cred.region, Length: r.ContentLength}
	var body io.Reader
	var err error
	switch payload {
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer:
		body, err = wrapChunked(r, a, o, chunkState{
			signed:  payload != StreamingUnsignedTrailer,
			trailer: payload != StreamingPayload,
			key:     key,
			amzDate: amzDate,
			scope:   h.cred.scope(),
			prevSig: h.signature,
		})
	case UnsignedPayload:
		body, err = wrapPlain(r, a, "", o)
	default:
		body, err = wrapPlain(r, a, payload, o)
	}
	if err != nil {
		return nil, err
	}
	a.Body = body
	return a, nil
}

func knownPayload(p string) bool {
	switch p {
	case UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer:
		return true
	}
	return isHex64(p)
}

// allAmzHeadersSigned enforces AWS's rule that every x-amz-* header sent
// is covered by the signature, so none can be injected in transit.
func allAmzHeadersSigned(hdr http.Header, signed []string) bool {
	for k := range hdr {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-amz-") {
			continue
		}
		i := sort.SearchStrings(signed, lk)
		if i == len(signed) || signed[i] != lk {
			return false
		}
	}
	return true
}

func (v *Verifier) lookup(ak string) (string, bool) {
	if v.Secret == nil {
		return "", false
	}
	return v.Secret(ak)
}

func (v *Verifier) verifyPresigned(r *http.Request, q url.Values, o options) (*Auth, error) {
	if q.Get("X-Amz-Algorithm") != algorithm {
		return nil, inputErr(ErrMalformedPresign)
	}
	cred, ok := parseCredential(q.Get("X-Amz-Credential"), v.service())
	if !ok {
		return nil, inputErr(ErrMalformedPresign)
	}
	amzDate := q.Get("X-Amz-Date")
	t, err := time.Parse(timeFormat, amzDate)
	if err != nil || t.Format(dateFormat) != cred.date {
		return nil, inputErr(ErrMalformedPresign)
	}
	exp, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil {
		return nil, inputErr(ErrMalformedPresign)
	}
	if exp < 1 || exp > int64(maxPresignAge/time.Second) {
		return nil, authErr(ErrExpiresRange)
	}
	sig := q.Get("X-Amz-Signature")
	signed := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	if !isHex64(sig) || !validSignedHeaders(signed) {
		return nil, inputErr(ErrMalformedPresign)
	}
	now := v.now()
	if now.Before(t.Add(-v.maxSkew())) {
		return nil, authErr(ErrNotYetValid)
	}
	if now.After(t.Add(time.Duration(exp) * time.Second)) {
		return nil, authErr(ErrExpired)
	}
	secret, ok := v.lookup(cred.accessKey)
	if !ok {
		return nil, authErr(ErrInvalidAccessKeyID)
	}
	payload := UnsignedPayload
	if p := q.Get("X-Amz-Content-Sha256"); p != "" {
		payload = p
	}
	if payload != UnsignedPayload && !isHex64(payload) {
		return nil, inputErr(ErrInvalidContentSHA256)
	}
	key := SigningKey(secret, cred.date, cred.region, cred.service)
	creq := CanonicalRequest(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, canonicalHeaderValues(r, signed), signed, payload, true)
	if !sigEqual(Signature(key, StringToSign(amzDate, cred.scope(), creq)), sig) {
		return nil, authErr(ErrSignatureDoesNotMatch)
	}
	a := &Auth{AccessKey: cred.accessKey, Presigned: true, Region: cred.region, Length: r.ContentLength}
	if payload == UnsignedPayload {
		payload = ""
	}
	body, err := wrapPlain(r, a, payload, o)
	if err != nil {
		return nil, err
	}
	a.Body = body
	return a, nil
}

func sigEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// canonicalHeaderValues returns the canonical value of each signed header:
// Host comes from r.Host (Go moves it out of r.Header), Content-Length
// from r.ContentLength when the header map lacks it.
func canonicalHeaderValues(r *http.Request, signed []string) []string {
	out := make([]string, len(signed))
	for i, name := range signed {
		var vals []string
		switch name {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = r.Header.Values("Content-Length")
			if len(vals) == 0 && r.ContentLength >= 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		case "transfer-encoding":
			vals = r.TransferEncoding
		default:
			vals = r.Header.Values(name)
		}
		// Values returns the header's own slice: canonical forms go to a
		// copy, so the request keeps its headers byte for byte.
		canon := make([]string, len(vals))
		for j, v := range vals {
			canon[j] = collapseSpaces(v)
		}
		out[i] = strings.Join(canon, ",")
	}
	return out
}

// collapseSpaces trims a header value and folds inner runs of spaces to one.
func collapseSpaces(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prevSpace := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			if prevSpace {
				continue
			}
			prevSpace = true
		} else {
			prevSpace = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// CanonicalRequest builds the SigV4 canonical request. escapedPath is the
// path as sent (r.URL.EscapedPath()), rawQuery the raw query string;
// headerValues[i] is the canonical value of signedHeaders[i] (sorted,
// lower case). presigned drops X-Amz-Signature from the query.
func CanonicalRequest(method, escapedPath, rawQuery string, headerValues, signedHeaders []string, payloadHash string, presigned bool) string {
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(CanonicalURI(escapedPath))
	b.WriteByte('\n')
	b.WriteString(CanonicalQuery(rawQuery, presigned))
	b.WriteByte('\n')
	for i, h := range signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		if i < len(headerValues) {
			b.WriteString(headerValues[i])
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// CanonicalURI decodes each path segment and re-encodes it the way AWS
// SDKs encode S3 paths (S3 does not double-encode). A segment that does
// not decode is kept as sent, so it can only fail to match.
func CanonicalURI(escapedPath string) string {
	if escapedPath == "" {
		return "/"
	}
	segs := strings.Split(escapedPath, "/")
	for i, s := range segs {
		if d, err := url.PathUnescape(s); err == nil {
			segs[i] = uriEncode(d, false)
		}
	}
	return strings.Join(segs, "/")
}

// CanonicalQuery encodes every name and value, then sorts by name and
// value: sorting after encoding is what AWS specifies.
func CanonicalQuery(rawQuery string, presigned bool) string {
	if rawQuery == "" {
		return ""
	}
	type kv struct{ k, v string }
	var params []kv
	for _, part := range strings.Split(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			dk, dv = k, v // undecodable: keep as sent (it will not match)
		}
		if presigned && dk == "X-Amz-Signature" {
			continue
		}
		params = append(params, kv{uriEncode(dk, true), uriEncode(dv, true)})
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// uriEncode percent-encodes every byte outside RFC 3986's unreserved set
// (and '/', unless encodeSlash).
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

// StringToSign is the SigV4 string to sign for a canonical request.
func StringToSign(amzDate, scope, canonicalRequest string) string {
	h := sha256.Sum256([]byte(canonicalRequest))
	return algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(h[:])
}

// SigningKey derives the SigV4 signing key.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

// Signature is the hex HMAC of a string to sign.
func Signature(key []byte, stringToSign string) string {
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// ChunkStringToSign is the string to sign for one aws-chunked chunk.
func ChunkStringToSign(amzDate, scope, prevSig string, chunkSHA256 []byte) string {
	return "AWS4-HMAC-SHA256-PAYLOAD\n" + amzDate + "\n" + scope + "\n" + prevSig + "\n" + EmptySHA256 + "\n" + hex.EncodeToString(chunkSHA256)
}

// TrailerStringToSign is the string to sign for the trailer chunk;
// trailers is the canonical trailer text ("name:value\n" per trailer).
func TrailerStringToSign(amzDate, scope, prevSig, trailers string) string {
	h := sha256.Sum256([]byte(trailers))
	return "AWS4-HMAC-SHA256-TRAILER\n" + amzDate + "\n" + scope + "\n" + prevSig + "\n" + hex.EncodeToString(h[:])
}

func authErrBody(cause error) error { return fserr.E("sigv4.Body", fserr.Permission, cause) }
