package s3

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Limits S3 imposes on names.
const (
	MaxKeyLen     = 1024
	MaxSegmentLen = 255
)

// route is what a request addresses and asks for.
type route struct {
	Bucket string
	Key    string
	Action string // the S3 action name, e.g. "PutObject"
	// Virtual says the bucket came from the Host (virtual-hosted style).
	Virtual bool
}

// unsupported are query parameters naming what the gateway does not
// serve yet: a request naming one is answered NotImplemented, never
// served as the plain action it would otherwise look like.
var unsupported = []string{}

// parseRoute maps a request to (bucket, key, action). baseDomain enables
// virtual-hosted-style addressing for hosts "<bucket>.<baseDomain>".
// path is the decoded URL path.
func parseRoute(method, host, path string, q url.Values, hdr http.Header, baseDomain string) (route, *apiError) {
	var rt route
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !strings.HasPrefix(path, "/") {
		return rt, errInvalidRequest
	}
	p := path[1:]
	if bd := strings.ToLower(baseDomain); bd != "" && strings.HasSuffix(host, "."+bd) {
		rt.Bucket = strings.TrimSuffix(host, "."+bd)
		rt.Key = p
		rt.Virtual = true
	} else {
		rt.Bucket, rt.Key, _ = strings.Cut(p, "/")
	}
	if rt.Bucket != "" && !ValidBucket(rt.Bucket) {
		// Let CreateBucket say so; for others an invalid name cannot exist.
		if !(rt.Key == "" && method == http.MethodPut) {
			return rt, errNoSuchBucket
		}
		return rt, errInvalidBucketName
	}
	if rt.Key != "" {
		if e := validateKey(rt.Key); e != nil {
			return rt, e
		}
	}
	for _, s := range unsupported {
		if q.Has(s) {
			return rt, errNotImplemented
		}
	}
	if act, ok, e := subresource(method, rt, q); ok && method != http.MethodOptions {
		if e != nil {
			return rt, e
		}
		rt.Action = act
		return rt, nil
	}
	rt.Action = action(method, rt, q, hdr)
	if rt.Action == "" {
		return rt, errMethodNotAllowed
	}
	return rt, nil
}

func action(method string, rt route, q url.Values, hdr http.Header) string {
	if method == http.MethodOptions && rt.Bucket != "" {
		return "PreflightCORS"
	}
	switch {
	case rt.Bucket == "":
		if method == http.MethodGet {
			return "ListBuckets"
		}
	case rt.Key == "":
		switch method {
		case http.MethodGet:
			switch {
			case q.Has("tagging"):
				return "GetBucketTagging"
			case q.Has("location"):
				return "GetBucketLocation"
			case q.Has("uploads"):
				return "ListMultipartUploads"
			case q.Has("versions"):
				return "ListObjectVersions"
			case q.Get("list-type") == "2":
				return "ListObjectsV2"
			}
			return "ListObjects"
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodPut:
			if q.Has("tagging") {
				return "PutBucketTagging"
			}
			return "CreateBucket"
		case http.MethodDelete:
			if q.Has("tagging") {
				return "DeleteBucketTagging"
			}
			return "DeleteBucket"
		case http.MethodPost:
			if q.Has("delete") {
				return "DeleteObjects"
			}
			if ct := strings.ToLower(hdr.Get("Content-Type")); strings.HasPrefix(ct, "multipart/form-data") {
				return "PostObject"
			}
		}
	default:
		switch method {
		case http.MethodGet:
			switch {
			case q.Has("tagging"):
				return "GetObjectTagging"
			case q.Has("uploadId"):
				return "ListParts"
			case q.Has("attributes"):
				return "GetObjectAttributes"
			}
			return "GetObject"
		case http.MethodHead:
			return "HeadObject"
		case http.MethodPut:
			switch {
			case q.Has("tagging"):
				return "PutObjectTagging"
			case q.Has("uploadId") || q.Has("partNumber"):
				if hdr.Get("X-Amz-Copy-Source") != "" {
					return "UploadPartCopy"
				}
				return "UploadPart"
			case hdr.Get("X-Amz-Copy-Source") != "":
				return "CopyObject"
			}
			return "PutObject"
		case http.MethodDelete:
			switch {
			case q.Has("tagging"):
				return "DeleteObjectTagging"
			case q.Has("uploadId"):
				return "AbortMultipartUpload"
			}
			return "DeleteObject"
		case http.MethodPost:
			switch {
			case q.Has("uploads"):
				return "CreateMultipartUpload"
			case q.Has("uploadId"):
				return "CompleteMultipartUpload"
			}
		}
	}
	return ""
}

// ValidBucket reports whether name follows S3's bucket naming rules:
// 3-63 characters of lower-case letters, digits, '.' and '-', starting and
// ending with a letter or digit, no "..", not an IP address.
func ValidBucket(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '-' {
			return false
		}
		if (i == 0 || i == len(name)-1) && !alnum {
			return false
		}
	}
	return !strings.Contains(name, "..") && net.ParseIP(name) == nil
}

// ValidKey reports whether a key can name a file: valid UTF-8 without
// NUL, at most MaxKeyLen bytes, no empty, "." or ".." segment (a single
// trailing '/' marks a directory object), segments at most MaxSegmentLen.
func ValidKey(key string) bool { return validateKey(key) == nil }

func validateKey(key string) *apiError {
	if key == "" {
		return withMsg(errInvalidArgument, "Object key must not be empty.")
	}
	if len(key) > MaxKeyLen {
		return errKeyTooLong
	}
	if !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return withMsg(errInvalidArgument, "Object key must be valid UTF-8 without NUL bytes.")
	}
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	for _, s := range segs {
		switch {
		case s == "":
			return withMsg(errInvalidArgument, "Object key must not contain empty segments (\"//\" or a leading \"/\").")
		case s == "." || s == "..":
			return withMsg(errInvalidArgument, "Object key must not contain \".\" or \"..\" segments.")
		case len(s) > MaxSegmentLen:
			return withMsg(errKeyTooLong, "Each '/'-separated segment of a key must be at most 255 bytes.")
		}
	}
	return nil
}
