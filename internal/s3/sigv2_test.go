package s3_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocred "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/shoalfs/shoal/internal/s3/sigv4"
)

// SigV2 through minio-go's own V2 signer (header and presigned), on both
// backends, and the request checks of issue 15 item 4.
func TestSigV2Minio(t *testing.T) {
	t.Run("mem", func(t *testing.T) { testSigV2Minio(t, newEnv(t, false)) })
	t.Run("shoalfs", func(t *testing.T) {
		e, _ := newShoalEnv(t, false)
		testSigV2Minio(t, e)
	})
}

func testSigV2Minio(t *testing.T, e *env) {
	ctx := context.Background()
	mc := func(secret string) *minio.Client {
		c, err := minio.New(strings.TrimPrefix(e.srv.URL, "http://"), &minio.Options{
			Creds: miniocred.NewStaticV2(testAK, secret, ""), Transport: e.srv.Client().Transport,
			Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := mc(testSK)
	if err := c.MakeBucket(ctx, "v2b", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := pattern(200 << 10)
	if _, err := c.PutObject(ctx, "v2b", "a b/c+d", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		UserMetadata: map[string]string{"k": "v"}, ContentType: "text/x"}); err != nil {
		t.Fatal(err)
	}
	big := pattern(11 << 20)
	if _, err := c.PutObject(ctx, "v2b", "big", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]byte{"a b/c+d": data, "big": big} {
		o, err := c.GetObject(ctx, "v2b", key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(o)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes %v", key, len(got), err)
		}
	}
	n := 0
	for obj := range c.ListObjects(ctx, "v2b", minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("listed %d", n)
	}
	// Presigned V2 URLs, then a tampered and an expired one.
	u, err := c.PresignedGetObject(ctx, "v2b", "a b/c+d", time.Minute, url.Values{"response-content-type": {"text/plain"}})
	if err != nil {
		t.Fatal(err)
	}
	if !u.Query().Has("AWSAccessKeyId") {
		t.Fatalf("not a V2 presign: %s", u)
	}
	resp, err := e.srv.Client().Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, data) || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("presigned V2 GET: %s %d bytes %q", resp.Status, len(got), resp.Header.Get("Content-Type"))
	}
	bad := strings.Replace(u.String(), "text%2Fplain", "text%2Fhtml", 1)
	resp, _ = e.srv.Client().Get(bad)
	if code := errorCode(t, resp); code != "SignatureDoesNotMatch" {
		t.Fatalf("tampered V2 presign: %s", code)
	}
	q := u.Query()
	q.Set("Expires", "1000")
	u.RawQuery = q.Encode()
	resp, _ = e.srv.Client().Get(u.String())
	if code := errorCode(t, resp); code != "AccessDenied" {
		t.Fatalf("expired V2 presign: %s", code)
	}
	// A wrong secret fails closed and stores nothing.
	_, err = mc("wrong").PutObject(ctx, "v2b", "nope", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{})
	if minio.ToErrorResponse(err).Code != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := c.StatObject(ctx, "v2b", "nope", minio.StatObjectOptions{}); minio.ToErrorResponse(err).StatusCode != 404 {
		t.Fatalf("rejected put stored: %v", err)
	}
	for o := range c.ListObjects(ctx, "v2b", minio.ListObjectsOptions{Recursive: true}) {
		c.RemoveObject(ctx, "v2b", o.Key, minio.RemoveObjectOptions{})
	}
	if err := c.RemoveBucket(ctx, "v2b"); err != nil {
		t.Fatal(err)
	}
}

func TestRequestChecks(t *testing.T) {
	e := newEnv(t, false)
	now := time.Now()
	do(t, e, signed(e, "PUT", "/chk", nil, sigv4.EmptySHA256, now, testSK)).Body.Close()

	// X-Amz-Expires beyond a week is refused with 403.
	resp, _ := e.srv.Client().Get(presignAt(t, e, now, 7*24*3600+1))
	if resp.StatusCode != 403 || errorCode(t, resp) != "AccessDenied" {
		t.Fatalf("X-Amz-Expires out of range: %s", resp.Status)
	}
	// A malformed checksum header is BadDigest, and stores nothing.
	r := signed(e, "PUT", "/chk/k", []byte("hello"), "", now, testSK)
	r.Header.Set("X-Amz-Checksum-Crc32", "not base64!")
	sigv4.Sign(r, testAK, testSK, "us-east-1", now, sigv4.UnsignedPayload)
	if code := errorCode(t, do(t, e, r)); code != "BadDigest" {
		t.Fatalf("malformed checksum: %s", code)
	}
	if resp := do(t, e, signed(e, "HEAD", "/chk/k", nil, sigv4.EmptySHA256, now, testSK)); resp.StatusCode != 404 {
		t.Fatalf("a refused put stored the object: %s", resp.Status)
	}
	// Transfer-Encoding: chunked without Content-Length.
	body := pattern(3<<20 + 7)
	r = signed(e, "PUT", "/chk/te", nil, "", now, testSK)
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body))) // unknown length: Go sends chunked
	r.ContentLength = -1
	resp = do(t, e, r)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"`+md5hex(body)+`"` {
		t.Fatalf("chunked PUT: %s %s", resp.Status, resp.Header.Get("ETag"))
	}
	resp = do(t, e, signed(e, "GET", "/chk/te", nil, sigv4.EmptySHA256, now, testSK))
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("chunked PUT read back %d bytes", len(got))
	}
	// Without either length it is still MissingContentLength (HTTP/1.0 style).
	r, _ = http.NewRequest("PUT", e.srv.URL+"/chk/none", nil)
	sigv4.Sign(r, testAK, testSK, "us-east-1", now, sigv4.UnsignedPayload)
	r.ContentLength = 0
	if resp := do(t, e, r); resp.StatusCode != 200 {
		t.Fatalf("empty PUT: %s", resp.Status)
	}
}
