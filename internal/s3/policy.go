package s3

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// Bucket policies (Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus),
// stored as the bucket's "policy" BucketConfig and evaluated for every
// request to the bucket, before the request reaches the backend:
//   - a matching Deny refuses the request (AccessDenied), whoever sends it;
//   - a matching Allow lets a requester other than the owner (anonymous
//     ones included) act as the bucket's owner: the POSIX check the
//     backend makes is then the owner's, and what the request creates is
//     the owner's (S3's "bucket owner enforced" ownership);
//   - otherwise the requester's own permissions decide, as without one.
//
// Principals: "*" (everyone, anonymous included), or in {"AWS": [...]}
// "*", an access key, a uid, or "arn:aws:iam::<uid>:root" /
// "arn:aws:iam::<uid>:user/<name>". Actions: "s3:<IAM action>" with
// wildcards. Resources: "arn:aws:s3:::bucket" and
// "arn:aws:s3:::bucket/key" with wildcards. Conditions: StringEquals,
// StringNotEquals, StringLike, StringNotLike (with ...IgnoreCase), Bool,
// IpAddress, NotIpAddress, NumericEquals/LessThan/LessThanEquals/
// GreaterThan/GreaterThanEquals, each also ...IfExists, over aws:SourceIp,
// aws:SecureTransport, aws:UserAgent, aws:Referer, aws:username,
// aws:userid, s3:prefix, s3:delimiter, s3:max-keys, s3:x-amz-acl,
// s3:ExistingObjectTag/<key> is not supported (a condition on a key
// the request does not have does not hold).

const confPolicy = "policy"

type policyDoc struct {
	Version   string            `json:"Version,omitempty"`
	ID        string            `json:"Id,omitempty"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Sid          string                                `json:"Sid,omitempty"`
	Effect       string                                `json:"Effect"`
	Principal    json.RawMessage                       `json:"Principal,omitempty"`
	NotPrincipal json.RawMessage                       `json:"NotPrincipal,omitempty"`
	Action       stringOrList                          `json:"Action,omitempty"`
	NotAction    stringOrList                          `json:"NotAction,omitempty"`
	Resource     stringOrList                          `json:"Resource,omitempty"`
	NotResource  stringOrList                          `json:"NotResource,omitempty"`
	Condition    map[string]map[string]json.RawMessage `json:"Condition,omitempty"`
}

// stringOrList is a JSON string or list of strings.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

var errMalformedPolicy = apiErr("MalformedPolicy", 400, "Policies must be valid JSON and the first byte must be '{'")

func parsePolicy(raw []byte, bucket string) (*policyDoc, error) {
	var p policyDoc
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &p) != nil {
		return nil, errMalformedPolicy
	}
	if len(p.Statement) == 0 {
		return nil, withMsg(errMalformedPolicy, "Missing required field Statement")
	}
	for _, st := range p.Statement {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, withMsg(errMalformedPolicy, "Invalid effect: "+st.Effect)
		}
		if len(st.Principal) == 0 && len(st.NotPrincipal) == 0 {
			return nil, withMsg(errMalformedPolicy, "Missing required field Principal")
		}
		if len(st.Action) == 0 && len(st.NotAction) == 0 {
			return nil, withMsg(errMalformedPolicy, "Missing required field Action")
		}
		for _, a := range append(append([]string{}, st.Action...), st.NotAction...) {
			if a != "*" && !strings.HasPrefix(strings.ToLower(a), "s3:") {
				return nil, withMsg(errMalformedPolicy, "Policy has invalid action")
			}
		}
		if len(st.Resource) == 0 && len(st.NotResource) == 0 {
			return nil, withMsg(errMalformedPolicy, "Missing required field Resource")
		}
		for _, r := range append(append([]string{}, st.Resource...), st.NotResource...) {
			b, _, _ := strings.Cut(strings.TrimPrefix(r, "arn:aws:s3:::"), "/")
			if !strings.HasPrefix(r, "arn:aws:s3:::") || !wildcardMatch(b, bucket) {
				return nil, withMsg(errMalformedPolicy, "Policy has invalid resource")
			}
		}
	}
	return &p, nil
}

// wildcardMatch matches s against a pattern with '*' (any run) and '?'.
func wildcardMatch(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	ok, _ := path.Match(strings.NewReplacer("[", "\\[", "\\", "\\\\").Replace(pattern), s)
	if ok || !strings.Contains(pattern, "*") {
		return ok
	}
	// path.Match's '*' stops at '/': match across it by hand.
	return starMatch(pattern, s)
}

func starMatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if starMatch(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if s == "" || p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}

// iamActions maps gateway actions whose IAM name differs.
var iamActions = map[string]string{
	"ListObjects": "ListBucket", "ListObjectsV2": "ListBucket", "HeadBucket": "ListBucket",
	"ListObjectVersions": "ListBucketVersions", "HeadObject": "GetObject", "GetObjectAttributes": "GetObject",
	"CopyObject": "PutObject", "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
	"UploadPartCopy": "PutObject", "CompleteMultipartUpload": "PutObject", "ListParts": "ListMultipartUploadParts",
	"ListMultipartUploads": "ListBucketMultipartUploads", "DeleteObjects": "DeleteObject",
	"DeleteBucketTagging": "PutBucketTagging", "GetBucketCors": "GetBucketCORS", "PutBucketCors": "PutBucketCORS",
	"DeleteBucketCors": "PutBucketCORS", "PostObject": "PutObject", "DeleteObjectTagging": "DeleteObjectTagging",
	"PutObjectLockConfiguration": "PutBucketObjectLockConfiguration", "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
}

// iamAction is the IAM action of the request ("s3:GetObject"...).
func (req *request) iamAction() string {
	a := req.rt.Action
	if m, ok := iamActions[a]; ok {
		a = m
	}
	if req.r.URL.Query().Has("versionId") {
		switch a {
		case "GetObject", "DeleteObject", "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging", "GetObjectAcl", "PutObjectAcl":
			a = strings.Replace(a, "Object", "ObjectVersion", 1)
		}
	}
	return "s3:" + a
}

func (req *request) iamResource() string {
	if req.rt.Key != "" {
		return "arn:aws:s3:::" + req.rt.Bucket + "/" + req.rt.Key
	}
	return "arn:aws:s3:::" + req.rt.Bucket
}

// principalMatches tells whether a Principal element names the requester.
func (req *request) principalMatches(raw json.RawMessage) bool {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return star == "*"
	}
	var m map[string]stringOrList
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	uid := strconv.FormatUint(uint64(req.id.Uid), 10)
	for _, p := range m["AWS"] {
		switch {
		case p == "*":
			return true
		case req.id.Anonymous():
		case p == req.id.AccessKey, p == uid, p == "arn:aws:iam::"+uid+":root",
			strings.HasPrefix(p, "arn:aws:iam::"+uid+":user/"):
			return true
		}
	}
	return false
}

// conditionValue is the request's value of a condition key.
func (req *request) conditionValue(key string) (string, bool) {
	q := req.r.URL.Query()
	switch strings.ToLower(key) {
	case "aws:sourceip":
		host, _, err := net.SplitHostPort(req.r.RemoteAddr)
		if err != nil {
			host = req.r.RemoteAddr
		}
		return host, true
	case "aws:securetransport":
		return strconv.FormatBool(req.r.TLS != nil), true
	case "aws:useragent":
		return req.r.UserAgent(), true
	case "aws:referer":
		v := req.r.Referer()
		return v, v != ""
	case "aws:username":
		return req.id.AccessKey, !req.id.Anonymous()
	case "aws:userid":
		return strconv.FormatUint(uint64(req.id.Uid), 10), !req.id.Anonymous()
	case "s3:prefix":
		return q.Get("prefix"), q.Has("prefix")
	case "s3:delimiter":
		return q.Get("delimiter"), q.Has("delimiter")
	case "s3:max-keys":
		return q.Get("max-keys"), q.Has("max-keys")
	case "s3:x-amz-acl":
		v := req.r.Header.Get("X-Amz-Acl")
		return v, v != ""
	}
	return "", false
}

// conditionsHold evaluates a statement's Condition block (all must hold).
func (req *request) conditionsHold(cond map[string]map[string]json.RawMessage) bool {
	for op, kv := range cond {
		ifExists := strings.HasSuffix(op, "IfExists")
		base := strings.TrimSuffix(op, "IfExists")
		for key, rawVals := range kv {
			var vals stringOrList
			if json.Unmarshal(rawVals, &vals) != nil {
				var b bool
				var n json.Number
				switch {
				case json.Unmarshal(rawVals, &b) == nil:
					vals = []string{strconv.FormatBool(b)}
				case json.Unmarshal(rawVals, &n) == nil:
					vals = []string{n.String()}
				default:
					return false
				}
			}
			got, has := req.conditionValue(key)
			if !has {
				if ifExists {
					continue
				}
				// A key the request does not carry: only negated
				// operators hold, as in IAM.
				if !strings.HasPrefix(base, "StringNot") && base != "NotIpAddress" {
					return false
				}
				continue
			}
			if !conditionOp(base, got, vals) {
				return false
			}
		}
	}
	return true
}

func conditionOp(op, got string, vals []string) bool {
	any := func(f func(v string) bool) bool {
		for _, v := range vals {
			if f(v) {
				return true
			}
		}
		return false
	}
	switch op {
	case "StringEquals":
		return any(func(v string) bool { return got == v })
	case "StringNotEquals":
		return !any(func(v string) bool { return got == v })
	case "StringEqualsIgnoreCase":
		return any(func(v string) bool { return strings.EqualFold(got, v) })
	case "StringNotEqualsIgnoreCase":
		return !any(func(v string) bool { return strings.EqualFold(got, v) })
	case "StringLike":
		return any(func(v string) bool { return wildcardMatch(v, got) })
	case "StringNotLike":
		return !any(func(v string) bool { return wildcardMatch(v, got) })
	case "Bool":
		return any(func(v string) bool { return strings.EqualFold(got, v) })
	case "IpAddress", "NotIpAddress":
		ip := net.ParseIP(got)
		in := any(func(v string) bool {
			if !strings.Contains(v, "/") {
				return ip != nil && ip.Equal(net.ParseIP(v))
			}
			_, n, err := net.ParseCIDR(v)
			return err == nil && ip != nil && n.Contains(ip)
		})
		return in == (op == "IpAddress")
	case "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals":
		g, err := strconv.ParseFloat(got, 64)
		if err != nil {
			return false
		}
		return any(func(v string) bool {
			w, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return false
			}
			switch op {
			case "NumericEquals":
				return g == w
			case "NumericNotEquals":
				return g != w
			case "NumericLessThan":
				return g < w
			case "NumericLessThanEquals":
				return g <= w
			case "NumericGreaterThan":
				return g > w
			}
			return g >= w
		})
	}
	return false // an operator Shoal does not know never holds
}

func listMatches(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			p, s = strings.ToLower(p), strings.ToLower(s)
		}
		if p == "*" || wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

func (req *request) statementMatches(st *policyStatement, action, resource string) bool {
	if len(st.Principal) > 0 && !req.principalMatches(st.Principal) {
		return false
	}
	if len(st.NotPrincipal) > 0 && req.principalMatches(st.NotPrincipal) {
		return false
	}
	if len(st.Action) > 0 && !listMatches(st.Action, action, true) {
		return false
	}
	if len(st.NotAction) > 0 && listMatches(st.NotAction, action, true) {
		return false
	}
	if len(st.Resource) > 0 && !listMatches(st.Resource, resource, false) {
		return false
	}
	if len(st.NotResource) > 0 && listMatches(st.NotResource, resource, false) {
		return false
	}
	return req.conditionsHold(st.Condition)
}

// policyDecision evaluates the bucket's policy for the request:
// "Deny", "Allow" or "" (no statement applies, or no policy).
func (req *request) policyDecision(ctx context.Context) (string, error) {
	if req.rt.Bucket == "" {
		return "", nil
	}
	raw, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, confPolicy)
	if err != nil || raw == nil {
		if err != nil && toAPIError(err) == errNoSuchBucket {
			return "", nil // the action answers NoSuchBucket itself
		}
		return "", err
	}
	p, err := parsePolicy(raw, req.rt.Bucket)
	if err != nil {
		return "", nil // stored by an older version: ignored rather than locking out
	}
	return req.decide(ctx, p, req.iamAction(), req.iamResource()), nil
}

// policyDecisionFor evaluates the bucket's policy for another action
// and resource than the request's own (a permission the request needs
// besides, such as s3:BypassGovernanceRetention).
func (req *request) policyDecisionFor(ctx context.Context, action, resource string) (string, error) {
	raw, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, confPolicy)
	if err != nil || raw == nil {
		return "", err
	}
	p, err := parsePolicy(raw, req.rt.Bucket)
	if err != nil {
		return "", nil
	}
	return req.decide(ctx, p, action, resource), nil
}

func (req *request) decide(ctx context.Context, p *policyDoc, action, resource string) string {
	decision, restrict := "", -1
	for i := range p.Statement {
		st := &p.Statement[i]
		if req.statementMatches(st, action, resource) {
			if st.Effect == "Deny" {
				return "Deny"
			}
			if st.public() {
				if restrict < 0 {
					restrict = 0
					if req.publicAccessBlock(ctx).RestrictPublicBuckets {
						restrict = 1
					}
				}
				if restrict == 1 {
					continue // RestrictPublicBuckets: no one gains from it
				}
			}
			decision = "Allow"
		}
	}
	return decision
}

// applyPolicy enforces the bucket policy; it reports whether an Allow
// made the request act as the bucket's owner.
func (req *request) applyPolicy(ctx context.Context) (bool, error) {
	d, err := req.policyDecision(ctx)
	if err != nil {
		return false, err
	}
	switch d {
	case "Deny":
		return false, errAccessDenied
	case "Allow":
		owner, err := req.g.be.BucketOwner(ctx, req.rt.Bucket)
		if err != nil {
			return false, err
		}
		if req.id.Anonymous() || owner != req.id.Uid {
			req.id = req.g.identityOf(owner)
			req.viaPolicy = true
		}
		return true, nil
	}
	return false, nil
}

// policyDeniesKey applies the policy's Deny to one key of a request
// addressing many (DeleteObjects).
func (req *request) policyDeniesKey(ctx context.Context, key string) bool {
	saved := req.rt.Key
	req.rt.Key = key
	d, err := req.policyDecision(ctx)
	req.rt.Key = saved
	return err != nil || d == "Deny"
}

// sameBucketSource refuses a copy whose source lies in another bucket
// when the bucket's policy, not the requester, gave the access: the
// owner's identity must not read what the requester could not.
func (req *request) sameBucketSource(srcBucket string) error {
	if req.viaPolicy && srcBucket != req.rt.Bucket {
		return withMsg(errAccessDenied, "A copy allowed by a bucket policy must come from the same bucket.")
	}
	return nil
}

// identityOf is the identity of uid: a key's, when one acts as it.
func (g *Gateway) identityOf(uid uint32) Identity {
	if ak, ok := g.names[uid]; ok {
		return g.keys[ak].Identity
	}
	return Identity{AccessKey: "uid-" + strconv.FormatUint(uint64(uid), 10), Uid: uid, Gid: uid}
}

func (req *request) putBucketPolicy(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	raw, err := io.ReadAll(io.LimitReader(req.auth.Body, maxPolicy+1))
	if err != nil {
		return err
	}
	if len(raw) > maxPolicy {
		return withMsg(errMalformedPolicy, "Policies must be no more than 20 KB")
	}
	p, err := parsePolicy(raw, req.rt.Bucket)
	if err != nil {
		return err
	}
	if p.public() && req.publicAccessBlock(ctx).BlockPublicPolicy {
		return withMsg(errAccessDenied, "Access Denied: the bucket's public access block forbids public policies")
	}
	if err := req.g.be.PutBucketConfig(ctx, req.id, req.rt.Bucket, confPolicy, raw); err != nil {
		return err
	}
	return req.noContent()
}

const maxPolicy = 20 << 10

func (req *request) getBucketPolicy(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	raw, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, confPolicy)
	if err != nil {
		return err
	}
	if raw == nil {
		return bucketSubresources["policy"].err
	}
	h := req.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(raw)))
	req.w.WriteHeader(http.StatusOK)
	req.w.Write(raw)
	return nil
}

func (req *request) deleteBucketPolicy(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	if err := req.g.be.PutBucketConfig(ctx, req.id, req.rt.Bucket, confPolicy, nil); err != nil {
		return err
	}
	return req.noContent()
}

type policyStatus struct {
	XMLName  struct{} `xml:"PolicyStatus"`
	Xmlns    string   `xml:"xmlns,attr"`
	IsPublic bool
}

func (req *request) getBucketPolicyStatus(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	raw, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, confPolicy)
	if err != nil {
		return err
	}
	if raw == nil {
		return bucketSubresources["policyStatus"].err
	}
	p, err := parsePolicy(raw, req.rt.Bucket)
	return req.writeXML(200, policyStatus{Xmlns: s3NS, IsPublic: err == nil && p.public()})
}

// public reports whether a statement allows everyone unconditionally.
func (st *policyStatement) public() bool {
	return st.Effect == "Allow" && len(st.Condition) == 0 && principalIsEveryone(st.Principal)
}

func (p *policyDoc) public() bool {
	for i := range p.Statement {
		if p.Statement[i].public() {
			return true
		}
	}
	return false
}

func principalIsEveryone(raw json.RawMessage) bool {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return star == "*"
	}
	var m map[string]stringOrList
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	for _, p := range m["AWS"] {
		if p == "*" {
			return true
		}
	}
	return false
}
