package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Signature Version 2 (HMAC-SHA1 over a string made of the method, three
// standard headers, the x-amz-* headers and the resource), in the
// Authorization header ("AWS AK:sig") and in presigned query strings
// (AWSAccessKeyId, Expires, Signature): what boto3 and the aws CLI
// presign with by default, and what s3cmd signs with when told to. It is
// verified with the same rules as SigV4: the signature covers every
// x-amz-* header by construction, the request time must lie within the
// skew, a presigned URL within its expiry, and the comparison is in
// constant time. A V2 request carries no payload hash: its body is
// checked only for length, Content-MD5 (by the gateway) and
// x-amz-checksum-* headers.

// v2Subresources are the query parameters the signed resource includes,
// as botocore signs them (a superset of AWS's documented list).
var v2Subresources = map[string]bool{
	"accelerate": true, "acl": true, "cors": true, "defaultObjectAcl": true, "location": true, "logging": true,
	"partNumber": true, "policy": true, "requestPayment": true, "torrent": true, "versioning": true,
	"versionId": true, "versions": true, "website": true, "uploads": true, "uploadId": true,
	"response-content-type": true, "response-content-language": true, "response-expires": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
	"delete": true, "lifecycle": true, "tagging": true, "restore": true, "storageClass": true,
	"notification": true, "replication": true, "analytics": true, "metrics": true, "inventory": true,
	"select": true, "select-type": true, "object-lock": true,
}

// v2SubresourcesNarrow is the shorter list other signers (s3cmd) use;
// a signature over either resource string is accepted, since both cover
// what the request does.
var v2SubresourcesNarrow = map[string]bool{
	"acl": true, "lifecycle": true, "location": true, "logging": true, "notification": true,
	"partNumber": true, "policy": true, "requestPayment": true, "torrent": true, "uploadId": true,
	"uploads": true, "versionId": true, "versioning": true, "versions": true, "website": true,
	"delete": true, "cors": true, "restore": true,
}

// V2Bucket names the bucket a virtual-hosted-style request addresses
// through its Host, which SigV2's signed resource starts with.
func V2Bucket(bucket string) Option { return func(o *options) { o.v2Bucket = bucket } }

// v2Resource is the CanonicalizedResource of r for one sub-resource
// list. bareEmpty writes a parameter sent as "name=" as "name" (minio-go
// does; botocore keeps the "=").
func v2Resource(r *http.Request, bucket string, subs map[string]bool, bareEmpty bool) string {
	res := r.URL.EscapedPath()
	if res == "" {
		res = "/"
	}
	if bucket != "" {
		res = "/" + bucket + res
	}
	// From the raw query: "acl" and "acl=" sign differently.
	type param struct{ k, kv string }
	var ps []param
	for _, part := range strings.Split(r.URL.RawQuery, "&") {
		k, v, eq := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if !subs[k] {
			continue
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		kv := k
		if eq && !(bareEmpty && v == "") {
			kv += "=" + v
		}
		ps = append(ps, param{k, kv})
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].k < ps[j].k })
	for i, p := range ps {
		if i == 0 {
			res += "?"
		} else {
			res += "&"
		}
		res += p.kv
	}
	return res
}

// v2AmzHeaders is CanonicalizedAmzHeaders: every x-amz-* header, lower
// case, sorted, values trimmed and joined by commas, one per line.
func v2AmzHeaders(h http.Header) string {
	var names []string
	for k := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
			names = append(names, lk)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		vals := h.Values(n)
		canon := make([]string, len(vals))
		for i, v := range vals {
			canon[i] = collapseSpaces(v)
		}
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(strings.Join(canon, ","))
		b.WriteByte('\n')
	}
	return b.String()
}

// V2StringToSign is SigV2's string to sign; date is the Date header (or
// "" when x-amz-date carries the time), or Expires for a presigned URL.
func V2StringToSign(method, contentMD5, contentType, date, amzHeaders, resource string) string {
	return method + "\n" + contentMD5 + "\n" + contentType + "\n" + date + "\n" + amzHeaders + resource
}

// V2Signature is the base64 HMAC-SHA1 of a string to sign.
func V2Signature(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// v2Matches reports whether sig signs r with any accepted reading of the
// date line and of the resource's sub-resources.
func v2Matches(r *http.Request, o options, secret, sig string, dates []string) bool {
	amz := v2AmzHeaders(r.Header)
	md5, ct := r.Header.Get("Content-Md5"), r.Header.Get("Content-Type")
	ok := false
	seen := map[string]bool{}
	for _, c := range []struct {
		subs map[string]bool
		bare bool
	}{{v2Subresources, false}, {v2Subresources, true}, {v2SubresourcesNarrow, false}, {v2SubresourcesNarrow, true}} {
		res := v2Resource(r, o.v2Bucket, c.subs, c.bare)
		ress := []string{res}
		// A bucket's own resource is "/bucket/" (botocore signs that for
		// a path-style "/bucket").
		if p := r.URL.EscapedPath(); o.v2Bucket == "" && len(p) > 1 && strings.IndexByte(p[1:], '/') < 0 {
			ress = append(ress, p+"/"+res[len(p):])
		}
		for _, res := range ress {
			if seen[res] {
				continue
			}
			seen[res] = true
			for _, d := range dates {
				// Evaluate every candidate: the time taken does not tell
				// which one came close.
				if sigEqual(V2Signature(secret, V2StringToSign(r.Method, md5, ct, d, amz, res)), sig) {
					ok = true
				}
			}
		}
	}
	return ok
}

func (v *Verifier) verifyV2Header(r *http.Request, authz string, o options) (*Auth, error) {
	cred := strings.TrimPrefix(authz, "AWS ")
	i := strings.LastIndexByte(cred, ':')
	if i <= 0 || i == len(cred)-1 {
		return nil, inputErr(ErrMalformedAuth)
	}
	ak, sig := cred[:i], cred[i+1:]
	var t time.Time
	var err error
	dates := []string{r.Header.Get("Date")}
	if s := r.Header.Get("X-Amz-Date"); s != "" {
		// AWS signs an empty date line when x-amz-date carries the time;
		// some signers keep the Date header they also sent.
		t, err = parseV2Time(s)
		dates = append([]string{""}, dates...)
		if dates[1] == "" {
			dates = dates[:1]
		}
	} else if s := r.Header.Get("Date"); s != "" {
		t, err = parseV2Time(s)
	} else {
		return nil, authErr(ErrMissingDate)
	}
	if err != nil {
		return nil, authErr(ErrMissingDate)
	}
	if d := v.now().Sub(t); d > v.maxSkew() || d < -v.maxSkew() {
		return nil, authErr(ErrTimeSkewed)
	}
	secret, ok := v.lookup(ak)
	if !ok {
		return nil, authErr(ErrInvalidAccessKeyID)
	}
	if !v2Matches(r, o, secret, sig, dates) {
		return nil, authErr(ErrSignatureDoesNotMatch)
	}
	return v.v2Auth(r, ak, false, o)
}

// parseV2Time reads a request date as V2 signers write it: HTTP dates,
// with a numeric zone (s3cmd: "+0000") or a name, or ISO 8601 basic.
func parseV2Time(s string) (time.Time, error) {
	var err error
	for _, f := range []string{http.TimeFormat, time.RFC1123Z, time.RFC1123, time.RFC850, time.ANSIC, timeFormat} {
		var t time.Time
		if t, err = time.Parse(f, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

func (v *Verifier) verifyV2Presigned(r *http.Request, q url.Values, o options) (*Auth, error) {
	ak, sig, exp := q.Get("AWSAccessKeyId"), q.Get("Signature"), q.Get("Expires")
	if ak == "" || sig == "" || exp == "" {
		return nil, inputErr(ErrMalformedPresign)
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || e < 0 {
		return nil, inputErr(ErrMalformedPresign)
	}
	if v.now().Unix() > e {
		return nil, authErr(ErrExpired)
	}
	secret, ok := v.lookup(ak)
	if !ok {
		return nil, authErr(ErrInvalidAccessKeyID)
	}
	if !v2Matches(r, o, secret, sig, []string{exp}) {
		return nil, authErr(ErrSignatureDoesNotMatch)
	}
	return v.v2Auth(r, ak, true, o)
}

func (v *Verifier) v2Auth(r *http.Request, ak string, presigned bool, o options) (*Auth, error) {
	a := &Auth{AccessKey: ak, Presigned: presigned, Region: "us-east-1", Length: r.ContentLength}
	body, err := wrapPlain(r, a, "", o)
	if err != nil {
		return nil, err
	}
	a.Body = body
	return a, nil
}

// VerifyPostPolicy checks the signature of a browser POST form over its
// base64 policy document. fields are the form's fields by lower-case
// name. SigV4 (x-amz-algorithm, x-amz-credential, x-amz-date,
// x-amz-signature: hex HMAC-SHA256 with the scope's signing key) and
// SigV2 (awsaccesskeyid, signature: base64 HMAC-SHA1) are accepted. A
// form with neither is anonymous (accessKey ""); one with a part of
// either is verified or rejected.
func (v *Verifier) VerifyPostPolicy(fields map[string]string) (accessKey string, err error) {
	policy := fields["policy"]
	switch {
	case fields["x-amz-signature"] != "" || fields["x-amz-credential"] != "" || fields["x-amz-algorithm"] != "":
		if fields["x-amz-algorithm"] != algorithm || policy == "" || fields["x-amz-signature"] == "" {
			return "", inputErr(ErrMalformedPresign)
		}
		cred, ok := parseCredential(fields["x-amz-credential"], v.service())
		if !ok {
			return "", inputErr(ErrMalformedPresign)
		}
		if t, err := time.Parse(timeFormat, fields["x-amz-date"]); err != nil || t.Format(dateFormat) != cred.date {
			return "", inputErr(ErrMalformedPresign)
		}
		secret, ok := v.lookup(cred.accessKey)
		if !ok {
			return "", authErr(ErrInvalidAccessKeyID)
		}
		key := SigningKey(secret, cred.date, cred.region, cred.service)
		if !sigEqual(Signature(key, policy), strings.ToLower(fields["x-amz-signature"])) {
			return "", authErr(ErrSignatureDoesNotMatch)
		}
		return cred.accessKey, nil
	case fields["awsaccesskeyid"] != "" || fields["signature"] != "":
		if policy == "" || fields["signature"] == "" {
			return "", inputErr(ErrMalformedPresign)
		}
		secret, ok := v.lookup(fields["awsaccesskeyid"])
		if !ok {
			return "", authErr(ErrInvalidAccessKeyID)
		}
		if !sigEqual(V2Signature(secret, policy), fields["signature"]) {
			return "", authErr(ErrSignatureDoesNotMatch)
		}
		return fields["awsaccesskeyid"], nil
	}
	return "", nil
}
