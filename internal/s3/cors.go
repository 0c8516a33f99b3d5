package s3

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
)

// CORS: a bucket's configuration (Put/Get/DeleteBucketCors) is stored
// through Backend.PutBucketConfig as JSON, and answers preflight OPTIONS
// requests and adds Access-Control-* headers to requests that carry an
// Origin, as S3 does: the first rule whose origin, method and (for a
// preflight) requested headers all match decides.

const confCORS = "cors"

type corsConfiguration struct {
	XMLName xml.Name   `xml:"CORSConfiguration" json:"-"`
	Xmlns   string     `xml:"xmlns,attr,omitempty" json:"-"`
	Rules   []corsRule `xml:"CORSRule" json:"rules"`
}

type corsRule struct {
	ID             string   `xml:"ID,omitempty" json:"id,omitempty"`
	AllowedHeaders []string `xml:"AllowedHeader" json:"headers,omitempty"`
	AllowedMethods []string `xml:"AllowedMethod" json:"methods"`
	AllowedOrigins []string `xml:"AllowedOrigin" json:"origins"`
	ExposeHeaders  []string `xml:"ExposeHeader" json:"expose,omitempty"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds,omitempty" json:"maxage,omitempty"`
}

const maxCORSRules = 100

func (c *corsConfiguration) validate() error {
	if len(c.Rules) == 0 || len(c.Rules) > maxCORSRules {
		return withMsg(errMalformedXML, "A CORS configuration holds 1 to 100 CORSRule elements.")
	}
	for _, r := range c.Rules {
		if len(r.AllowedMethods) == 0 || len(r.AllowedOrigins) == 0 {
			return withMsg(errMalformedXML, "Each CORSRule needs at least one AllowedMethod and one AllowedOrigin.")
		}
		for _, m := range r.AllowedMethods {
			switch m {
			case "GET", "PUT", "HEAD", "POST", "DELETE":
			default:
				return withMsg(errInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is "+m)
			}
		}
		for _, o := range r.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return withMsg(errInvalidRequest, `AllowedOrigin "`+o+`" can not have more than one wildcard.`)
			}
		}
		for _, h := range r.AllowedHeaders {
			if strings.Count(h, "*") > 1 {
				return withMsg(errInvalidRequest, `AllowedHeader "`+h+`" can not have more than one wildcard.`)
			}
		}
	}
	return nil
}

// wildMatch matches s against a pattern with at most one '*'.
func wildMatch(pattern, s string) bool {
	pre, post, found := strings.Cut(pattern, "*")
	if !found {
		return pattern == s
	}
	return len(s) >= len(pre)+len(post) && strings.HasPrefix(s, pre) && strings.HasSuffix(s, post)
}

// match returns the rule allowing origin, method and headers, if any.
func (c *corsConfiguration) match(origin, method string, headers []string) (*corsRule, bool) {
	for i := range c.Rules {
		r := &c.Rules[i]
		okOrigin := false
		for _, o := range r.AllowedOrigins {
			if wildMatch(o, origin) {
				okOrigin = true
				break
			}
		}
		okMethod := false
		for _, m := range r.AllowedMethods {
			if m == method {
				okMethod = true
				break
			}
		}
		if !okOrigin || !okMethod {
			continue
		}
		okHeaders := true
		for _, h := range headers {
			found := false
			for _, a := range r.AllowedHeaders {
				if wildMatch(strings.ToLower(a), strings.ToLower(h)) {
					found = true
					break
				}
			}
			if !found {
				okHeaders = false
				break
			}
		}
		if okHeaders {
			return r, true
		}
	}
	return nil, false
}

// allowsAny reports whether the rule's origins include the bare "*":
// S3 then answers "*" rather than the origin, without credentials.
func (r *corsRule) allowsAny() bool {
	for _, o := range r.AllowedOrigins {
		if o == "*" {
			return true
		}
	}
	return false
}

// setHeaders writes the Access-Control-* headers of an allowed request.
func (r *corsRule) setHeaders(h http.Header, origin string, preflight bool, reqHeaders []string) {
	if r.allowsAny() {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(r.AllowedMethods, ", "))
	if len(r.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(r.ExposeHeaders, ", "))
	}
	if r.MaxAgeSeconds != nil {
		h.Set("Access-Control-Max-Age", strconv.Itoa(*r.MaxAgeSeconds))
	}
	if preflight && len(reqHeaders) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(reqHeaders, ", "))
	}
	h.Add("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
}

func (req *request) bucketCORS(ctx context.Context) (*corsConfiguration, error) {
	raw, err := req.g.be.BucketConfig(ctx, req.rt.Bucket, confCORS)
	if err != nil || raw == nil {
		return nil, err
	}
	var c corsConfiguration
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, nil // unreadable: as if none
	}
	return &c, nil
}

// requireOwner lets only the bucket's owner (or root) past: S3 gives
// its configuration to the owner alone.
func (req *request) requireOwner(ctx context.Context) error {
	bi, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket)
	if err != nil {
		return err
	}
	if bi.Owner != req.id.Uid && req.id.Uid != 0 || req.id.Anonymous() {
		return errAccessDenied
	}
	return nil
}

func (req *request) putBucketCors(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	var c corsConfiguration
	if err := decodeXML(req.auth.Body, &c); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	raw, _ := json.Marshal(c)
	if err := req.g.be.PutBucketConfig(ctx, req.id, req.rt.Bucket, confCORS, raw); err != nil {
		return err
	}
	return req.ok()
}

func (req *request) getBucketCors(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	c, err := req.bucketCORS(ctx)
	if err != nil {
		return err
	}
	if c == nil {
		return bucketSubresources["cors"].err
	}
	c.Xmlns = s3NS
	return req.writeXML(200, c)
}

func (req *request) deleteBucketCors(ctx context.Context) error {
	if err := req.requireOwner(ctx); err != nil {
		return err
	}
	if err := req.g.be.PutBucketConfig(ctx, req.id, req.rt.Bucket, confCORS, nil); err != nil {
		return err
	}
	return req.noContent()
}

var errCORSForbidden = apiErr("AccessForbidden", 403, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")

func splitHeaderList(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// preflight answers an OPTIONS request from the bucket's CORS rules.
// It is anonymous by nature: browsers send no credentials with it.
func (req *request) preflight(ctx context.Context) error {
	origin, method := req.r.Header.Get("Origin"), req.r.Header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" {
		return withMsg(errInvalidRequest, "Insufficient information. Origin request header needed.")
	}
	c, err := req.bucketCORS(ctx)
	if err != nil {
		return err
	}
	hdrs := splitHeaderList(req.r.Header.Get("Access-Control-Request-Headers"))
	if c == nil {
		return errCORSForbidden
	}
	rule, ok := c.match(origin, method, hdrs)
	if !ok {
		return errCORSForbidden
	}
	rule.setHeaders(req.w.Header(), origin, true, hdrs)
	return req.ok()
}

// corsHeaders adds the Access-Control-* headers to a request with an
// Origin that the bucket's rules allow (S3 adds them to errors too).
func (req *request) corsHeaders(ctx context.Context) {
	origin := req.r.Header.Get("Origin")
	if origin == "" || req.rt.Bucket == "" {
		return
	}
	c, err := req.bucketCORS(ctx)
	if err != nil || c == nil {
		return
	}
	if rule, ok := c.match(origin, req.r.Method, nil); ok {
		rule.setHeaders(req.w.Header(), origin, false, nil)
	}
}
