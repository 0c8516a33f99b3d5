package sigv4

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// signV2 signs r the way botocore's HmacV1Auth does (Date header, every
// x-amz-* header, sub-resources of its list).
func signV2(r *http.Request, ak, secret string, at time.Time, bucket string) {
	r.Header.Set("Date", at.UTC().Format(http.TimeFormat))
	sts := V2StringToSign(r.Method, r.Header.Get("Content-Md5"), r.Header.Get("Content-Type"), r.Header.Get("Date"),
		v2AmzHeaders(r.Header), v2Resource(r, bucket, v2Subresources, false))
	r.Header.Set("Authorization", "AWS "+ak+":"+V2Signature(secret, sts))
}

func TestSigV2Header(t *testing.T) {
	newReq := func() *http.Request {
		r := httptest.NewRequest("PUT", "http://localhost/bkt/a%20b?uploadId=xyz&partNumber=2&ignored=1", strings.NewReader("body"))
		r.Header.Set("Content-Type", "text/plain")
		r.Header.Set("X-Amz-Meta-Color", "  blue  ")
		return r
	}
	r := newReq()
	signV2(r, exAK, exSecret, exTime, "")
	a, err := exVerifier().Verify(r)
	if err != nil || a.AccessKey != exAK {
		t.Fatalf("verify: %v", err)
	}
	if b, err := io.ReadAll(a.Body); err != nil || string(b) != "body" {
		t.Fatalf("body %q %v", b, err)
	}

	for _, tc := range []struct {
		name   string
		mutate func(r *http.Request)
		want   error
	}{
		{"header added", func(r *http.Request) { r.Header.Set("X-Amz-Meta-Evil", "1") }, ErrSignatureDoesNotMatch},
		{"header changed", func(r *http.Request) { r.Header.Set("X-Amz-Meta-Color", "red") }, ErrSignatureDoesNotMatch},
		{"content type changed", func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }, ErrSignatureDoesNotMatch},
		{"sub-resource changed", func(r *http.Request) { r.URL.RawQuery = "uploadId=xyz&partNumber=3&ignored=1" }, ErrSignatureDoesNotMatch},
		{"path changed", func(r *http.Request) { r.URL, _ = url.Parse("http://localhost/bkt/a%20c?uploadId=xyz&partNumber=2") }, ErrSignatureDoesNotMatch},
		{"method changed", func(r *http.Request) { r.Method = "DELETE" }, ErrSignatureDoesNotMatch},
		{"unknown key", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), exAK, "OTHER", 1))
		}, ErrInvalidAccessKeyID},
		{"skewed", func(r *http.Request) { signV2(r, exAK, exSecret, exTime.Add(-time.Hour), "") }, ErrTimeSkewed},
		{"no signature", func(r *http.Request) { r.Header.Set("Authorization", "AWS "+exAK+":") }, ErrMalformedAuth},
	} {
		r := newReq()
		signV2(r, exAK, exSecret, exTime, "")
		tc.mutate(r)
		if _, err := exVerifier().Verify(r); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v want %v", tc.name, err, tc.want)
		}
	}

	// Virtual-hosted style signs "/bucket" + path.
	r = httptest.NewRequest("GET", "http://bkt.s3.example.com/key", nil)
	signV2(r, exAK, exSecret, exTime, "bkt")
	if _, err := exVerifier().Verify(r, V2Bucket("bkt")); err != nil {
		t.Fatalf("virtual-hosted: %v", err)
	}
	if _, err := exVerifier().Verify(r); !errors.Is(err, ErrSignatureDoesNotMatch) {
		t.Fatalf("virtual-hosted without the bucket: %v", err)
	}
}

func TestSigV2Presigned(t *testing.T) {
	presign := func(exp time.Time) *http.Request {
		e := strconv.FormatInt(exp.Unix(), 10)
		r := httptest.NewRequest("GET", "http://localhost/bkt/k?response-content-type=text%2Fplain", nil)
		sts := V2StringToSign("GET", "", "", e, "", v2Resource(r, "", v2Subresources, false))
		r.URL.RawQuery += "&AWSAccessKeyId=" + exAK + "&Expires=" + e + "&Signature=" + url.QueryEscape(V2Signature(exSecret, sts))
		return r
	}
	a, err := exVerifier().Verify(presign(exTime.Add(time.Minute)))
	if err != nil || !a.Presigned || a.AccessKey != exAK {
		t.Fatalf("presigned: %+v %v", a, err)
	}
	if _, err := exVerifier().Verify(presign(exTime.Add(-time.Second))); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	r := presign(exTime.Add(time.Minute))
	r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "text%2Fplain", "text%2Fhtml", 1)
	if _, err := exVerifier().Verify(r); !errors.Is(err, ErrSignatureDoesNotMatch) {
		t.Fatalf("tampered: %v", err)
	}
	r = httptest.NewRequest("GET", "http://localhost/bkt/k?AWSAccessKeyId="+exAK+"&Expires=x&Signature=abc", nil)
	if _, err := exVerifier().Verify(r); !errors.Is(err, ErrMalformedPresign) {
		t.Fatalf("bad expires: %v", err)
	}
}
