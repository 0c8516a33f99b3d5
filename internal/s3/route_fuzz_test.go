package s3

import (
	"net/http"
	"net/url"
	"testing"
)

func FuzzParseRoute(f *testing.F) {
	f.Add("GET", "localhost:9000", "/bkt/a/b", "list-type=2&prefix=x")
	f.Add("PUT", "bkt.s3.shoal.test", "/k", "partNumber=1&uploadId=x")
	f.Add("POST", "h", "/bkt/k", "uploads")
	f.Add("DELETE", "h", "/bkt//k/../x", "tagging")
	f.Add("GET", "h", "/", "acl")
	f.Fuzz(func(t *testing.T, method, host, path, query string) {
		q, _ := url.ParseQuery(query)
		rt, err := parseRoute(method, host, path, q, http.Header{}, "s3.shoal.test")
		if err != nil {
			return
		}
		if rt.Action == "" {
			t.Fatal("accepted without an action")
		}
		if rt.Key != "" && !ValidKey(rt.Key) {
			t.Fatalf("invalid key %q routed", rt.Key)
		}
		if rt.Bucket != "" && !ValidBucket(rt.Bucket) {
			t.Fatalf("invalid bucket %q routed", rt.Bucket)
		}
	})
}

func FuzzParseRange(f *testing.F) {
	f.Add("bytes=0-9", int64(100))
	f.Add("bytes=-5", int64(3))
	f.Add("bytes=5-", int64(0))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		r, ok, err := parseRange(h, size)
		if ok && (err != nil || r.off < 0 || r.n <= 0 || r.off+r.n > size) {
			t.Fatalf("range %q of %d: %+v", h, size, r)
		}
	})
}
