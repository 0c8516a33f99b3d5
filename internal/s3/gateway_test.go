package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/mem"
	"github.com/shoalfs/shoal/internal/s3/sigv4"
)

const (
	testAK = "SHOALTESTKEY"
	testSK = "shoal/test+secret"
	// A second key, another owner (uid 1001).
	otherAK = "SHOALOTHERKEY"
	otherSK = "shoal/other+secret"
)

// testCreds are the keys every test gateway knows.
var testCreds = []s3.Credential{
	{AccessKey: testAK, SecretKey: testSK, Identity: s3.Identity{Uid: 1000, Gid: 1000}},
	{AccessKey: otherAK, SecretKey: otherSK, Identity: s3.Identity{Uid: 1001, Gid: 1001}},
}

type env struct {
	srv *httptest.Server
	be  *mem.Backend
	gw  *s3.Gateway

	mu    sync.Mutex
	modes map[string]int // x-amz-content-sha256 kinds seen, and trailers
}

// seen reports how many requests used a payload mode (hashes count as "sha256").
func (e *env) seen(mode string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.modes[mode]
}

func newEnv(t *testing.T, tls bool) *env {
	t.Helper()
	be := mem.New()
	gw, err := s3.New(s3.Config{
		Backend:     be,
		Credentials: testCreds,
		BaseDomain:  "s3.shoal.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{be: be, gw: gw, modes: map[string]int{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := r.Header.Get("X-Amz-Content-Sha256")
		if len(mode) == 64 {
			mode = "sha256"
		}
		e.mu.Lock()
		e.modes[mode]++
		if tr := r.Header.Get("X-Amz-Trailer"); tr != "" {
			e.modes["trailer "+tr]++
		}
		e.mu.Unlock()
		gw.ServeHTTP(w, r)
	})
	if tls {
		e.srv = httptest.NewTLSServer(h) // a self-signed certificate made for this test
	} else {
		e.srv = httptest.NewServer(h)
	}
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) aws(t *testing.T, secret string) *awss3.Client { return e.awsAs(t, testAK, secret) }

func (e *env) awsAs(t *testing.T, ak, secret string) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(ak, secret, ""),
		HTTPClient:   e.srv.Client(),
		BaseEndpoint: aws.String(e.srv.URL),
		UsePathStyle: true,
		// Default checksum behaviour stays on (WhenSupported): CRC32
		// trailers or headers are exercised on every upload.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
		RetryMaxAttempts:           1,
	})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return fmt.Sprintf("non-API error: %v", err)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	if got := apiCode(err); got != code {
		t.Fatalf("want %s, got %s (%v)", code, got, err)
	}
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestAWSSDK(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			e := newEnv(t, tls)
			testAWSObjects(t, e)
			t.Logf("payload modes seen: %v", e.modes)
			if tls && e.seen(sigv4.StreamingUnsignedTrailer) == 0 {
				t.Error("the SDK never sent STREAMING-UNSIGNED-PAYLOAD-TRAILER")
			}
		})
	}
}

func testAWSObjects(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.aws(t, testSK)
	bkt := aws.String("bkt")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: bkt}); err != nil {
		t.Fatal(err)
	}
	// The owner's repeated create succeeds in us-east-1, as in S3.
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: bkt}); err != nil {
		t.Fatal(err)
	}
	_, err := e.awsAs(t, otherAK, otherSK).CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: bkt})
	wantCode(t, err, "BucketAlreadyExists")
	lb, err := c.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || *lb.Buckets[0].Name != "bkt" {
		t.Fatalf("ListBuckets %v %v", lb, err)
	}
	if _, err := c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: bkt}); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("nope")})
	if err == nil {
		t.Fatal("HeadBucket of a missing bucket succeeded")
	}

	// Put/get with metadata round trip.
	data := pattern(300 << 10)
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: bkt, Key: aws.String("dir/obj one+€.bin"), Body: bytes.NewReader(data),
		ContentType: aws.String("application/x-test"), ContentDisposition: aws.String("attachment"),
		CacheControl: aws.String("max-age=60"), ContentEncoding: aws.String("identity"),
		Metadata: map[string]string{"color": "blue", "Mixed-Case": "v"},
		Tagging:  aws.String("a=1&b=two"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if *put.ETag != `"`+md5hex(data)+`"` {
		t.Fatalf("ETag %s want md5 %s", *put.ETag, md5hex(data))
	}
	got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || !bytes.Equal(body, data) {
		t.Fatalf("GetObject body mismatch (%d bytes) %v", len(body), err)
	}
	if *got.ContentType != "application/x-test" || *got.ContentDisposition != "attachment" || *got.CacheControl != "max-age=60" ||
		*got.ContentEncoding != "identity" || got.Metadata["color"] != "blue" || got.Metadata["mixed-case"] != "v" || *got.TagCount != 2 {
		t.Fatalf("metadata round trip: %+v", got)
	}
	if got.ChecksumCRC32 == nil && got.ChecksumCRC64NVME == nil && got.ChecksumCRC32C == nil {
		t.Errorf("no checksum returned with ChecksumMode=ENABLED")
	}

	// Ranges.
	for _, tc := range []struct {
		rng      string
		off, end int
		cr       string
	}{
		{"bytes=0-9", 0, 10, "bytes 0-9/307200"},
		{"bytes=307190-", 307190, 307200, "bytes 307190-307199/307200"},
		{"bytes=-5", 307195, 307200, "bytes 307195-307199/307200"},
		{"bytes=100-999999999", 100, 307200, "bytes 100-307199/307200"},
	} {
		r, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin"), Range: aws.String(tc.rng)})
		if err != nil {
			t.Fatalf("%s: %v", tc.rng, err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if !bytes.Equal(b, data[tc.off:tc.end]) || *r.ContentRange != tc.cr {
			t.Fatalf("%s: got %d bytes, Content-Range %s", tc.rng, len(b), *r.ContentRange)
		}
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin"), Range: aws.String("bytes=307200-")})
	wantCode(t, err, "InvalidRange")

	// Conditionals.
	etag := *put.ETag
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin"), IfMatch: aws.String(`"0000"`)})
	wantCode(t, err, "PreconditionFailed")
	_, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin"), IfNoneMatch: aws.String(etag)})
	if err == nil || !strings.Contains(err.Error(), "304") {
		t.Fatalf("If-None-Match: want 304, got %v", err)
	}
	_, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin"), IfModifiedSince: aws.Time(time.Now().Add(time.Hour))})
	if err == nil || !strings.Contains(err.Error(), "304") {
		t.Fatalf("If-Modified-Since: want 304, got %v", err)
	}
	_, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin"), IfUnmodifiedSince: aws.Time(time.Now().Add(-time.Hour))})
	if err == nil || !strings.Contains(err.Error(), "412") {
		t.Fatalf("If-Unmodified-Since: want 412, got %v", err)
	}
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin"), IfMatch: aws.String(etag)}); err != nil {
		t.Fatal(err)
	}
	// Conditional writes.
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin"), Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")})
	wantCode(t, err, "PreconditionFailed")
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin"), Body: strings.NewReader("x"), IfMatch: aws.String(`"abc"`)})
	wantCode(t, err, "PreconditionFailed")
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: aws.String("fresh"), Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")}); err != nil {
		t.Fatal(err)
	}

	// Errors.
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bkt, Key: aws.String("missing")})
	wantCode(t, err, "NoSuchKey")
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k")})
	wantCode(t, err, "NoSuchBucket")
	_, err = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: bkt})
	wantCode(t, err, "BucketNotEmpty")
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: aws.String("dir"), Body: strings.NewReader("x")})
	wantCode(t, err, "KeyConflict")
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: aws.String("fresh/child"), Body: strings.NewReader("x")})
	wantCode(t, err, "KeyConflict")
	for _, k := range []string{"a/../b", "a/./b", "a//b", strings.Repeat("x", 256), strings.Repeat("x/", 513)} {
		_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: aws.String(k), Body: strings.NewReader("x")})
		if err == nil {
			t.Fatalf("key %.20q accepted", k)
		}
		if c := apiCode(err); c != "InvalidArgument" && c != "KeyTooLongError" {
			t.Fatalf("key %.20q: %s", k, c)
		}
	}
	wrong := e.aws(t, "not-the-secret")
	_, err = wrong.ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantCode(t, err, "SignatureDoesNotMatch")

	// Tagging.
	tg, err := c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin")})
	if err != nil || len(tg.TagSet) != 2 || *tg.TagSet[1].Value != "two" {
		t.Fatalf("GetObjectTagging %+v %v", tg, err)
	}
	if _, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: bkt, Key: aws.String("fresh"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObjectTagging(ctx, &awss3.DeleteObjectTaggingInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin")}); err != nil {
		t.Fatal(err)
	}
	if tg, _ = c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: bkt, Key: aws.String("dir/obj one+€.bin")}); len(tg.TagSet) != 0 {
		t.Fatalf("tags after delete: %+v", tg.TagSet)
	}
	_, err = c.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: bkt})
	wantCode(t, err, "NoSuchTagSet")
	if _, err := c.PutBucketTagging(ctx, &awss3.PutBucketTaggingInput{Bucket: bkt,
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("team"), Value: aws.String("data")}}}}); err != nil {
		t.Fatal(err)
	}
	if bt, err := c.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: bkt}); err != nil || *bt.TagSet[0].Key != "team" {
		t.Fatalf("bucket tags %v", err)
	}
	if _, err := c.DeleteBucketTagging(ctx, &awss3.DeleteBucketTaggingInput{Bucket: bkt}); err != nil {
		t.Fatal(err)
	}
	if loc, err := c.GetBucketLocation(ctx, &awss3.GetBucketLocationInput{Bucket: bkt}); err != nil || loc.LocationConstraint != "" {
		t.Fatalf("location %v %v", loc, err)
	}

	// Copy with directives.
	cp, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: bkt, Key: aws.String("copy1"), CopySource: aws.String("bkt/dir/obj%20one%2B%E2%82%AC.bin")})
	if err != nil || *cp.CopyObjectResult.ETag != etag {
		t.Fatalf("copy: %v %v", cp, err)
	}
	h, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: bkt, Key: aws.String("copy1")})
	if err != nil || h.Metadata["color"] != "blue" || *h.ContentLength != int64(len(data)) {
		t.Fatalf("copied head %+v %v", h, err)
	}
	_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: bkt, Key: aws.String("copy2"), CopySource: aws.String("bkt/copy1"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"shape": "round"}, ContentType: aws.String("text/plain"),
		TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("x=y")})
	if err != nil {
		t.Fatal(err)
	}
	h, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: bkt, Key: aws.String("copy2")})
	if err != nil || h.Metadata["shape"] != "round" || h.Metadata["color"] != "" || *h.ContentType != "text/plain" {
		t.Fatalf("replaced metadata %+v %v", h.Metadata, err)
	}
	_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: bkt, Key: aws.String("copy3"), CopySource: aws.String("bkt/copy1"), CopySourceIfMatch: aws.String(`"nope"`)})
	wantCode(t, err, "PreconditionFailed")
	_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: bkt, Key: aws.String("copy1"), CopySource: aws.String("bkt/copy1")})
	wantCode(t, err, "InvalidRequest")

	// GetObjectAttributes.
	at, err := c.GetObjectAttributes(ctx, &awss3.GetObjectAttributesInput{Bucket: bkt, Key: aws.String("copy1"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesObjectSize, types.ObjectAttributesStorageClass, types.ObjectAttributesChecksum}})
	if err != nil || *at.ETag != md5hex(data) || *at.ObjectSize != int64(len(data)) {
		t.Fatalf("attributes %+v %v", at, err)
	}

	// Delete, DeleteObjects.
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bkt, Key: aws.String("copy2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bkt, Key: aws.String("never-existed")}); err != nil {
		t.Fatal(err)
	}
	do, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: bkt, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("copy1")}, {Key: aws.String("fresh")}, {Key: aws.String("dir/obj one+€.bin")}, {Key: aws.String("bad//key")}}}})
	if err != nil || len(do.Deleted) != 3 || len(do.Errors) != 1 {
		t.Fatalf("DeleteObjects %+v %v", do, err)
	}
	testAWSMultipart(t, c)
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: bkt}); err != nil {
		t.Fatal(err)
	}
}

func testAWSMultipart(t *testing.T, c *awss3.Client) {
	ctx := context.Background()
	bkt, key := aws.String("bkt"), aws.String("big/object")
	data := pattern(20<<20 + 12345)
	cr, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: bkt, Key: key, ContentType: aws.String("application/big"),
		Metadata: map[string]string{"m": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	var md5s []byte
	const ps = 5 << 20
	for i, off := 1, 0; off < len(data); i, off = i+1, off+ps {
		end := min(off+ps, len(data))
		up, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: bkt, Key: key, UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i)),
			Body: bytes.NewReader(data[off:end])})
		if err != nil {
			t.Fatal(err)
		}
		s := md5.Sum(data[off:end])
		md5s = append(md5s, s[:]...)
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i)), ETag: up.ETag})
	}
	lp, err := c.ListParts(ctx, &awss3.ListPartsInput{Bucket: bkt, Key: key, UploadId: cr.UploadId})
	if err != nil || len(lp.Parts) != 5 {
		t.Fatalf("ListParts %v", err)
	}
	lu, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: bkt})
	if err != nil || len(lu.Uploads) != 1 || *lu.Uploads[0].UploadId != *cr.UploadId {
		t.Fatalf("ListMultipartUploads %+v %v", lu, err)
	}
	// Staging is invisible to listings.
	if l, _ := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: bkt, Prefix: aws.String("big")}); len(l.Contents) != 0 {
		t.Fatal("upload visible before completion")
	}
	// Out of order and a wrong ETag are refused.
	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: bkt, Key: key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{parts[1], parts[0]}}})
	wantCode(t, err, "InvalidPartOrder")
	bad := parts[0]
	bad.ETag = aws.String(`"00000000000000000000000000000000"`)
	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: bkt, Key: key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{bad}}})
	wantCode(t, err, "InvalidPart")
	done, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: bkt, Key: key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`"%s-%d"`, md5hex(md5s), len(parts))
	if *done.ETag != want {
		t.Fatalf("multipart ETag %s want %s", *done.ETag, want)
	}
	g, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bkt, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(b, data) || *g.ContentType != "application/big" || g.Metadata["m"] != "1" || *g.ETag != want {
		t.Fatalf("multipart object differs (%d bytes)", len(b))
	}
	// partNumber GET.
	g, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bkt, Key: key, PartNumber: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(b, data[4*ps:]) || *g.PartsCount != 5 {
		t.Fatalf("part 5: %d bytes", len(b))
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bkt, Key: key, PartNumber: aws.Int32(6)})
	wantCode(t, err, "InvalidPartNumber")
	// Too-small parts, UploadPartCopy with a range, and abort.
	cr2, _ := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: bkt, Key: aws.String("small")})
	var p2 []types.CompletedPart
	for i := 1; i <= 2; i++ {
		up, err := c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: bkt, Key: aws.String("small"), UploadId: cr2.UploadId,
			PartNumber: aws.Int32(int32(i)), CopySource: aws.String("bkt/big/object"), CopySourceRange: aws.String("bytes=0-1023")})
		if err != nil {
			t.Fatal(err)
		}
		p2 = append(p2, types.CompletedPart{PartNumber: aws.Int32(int32(i)), ETag: up.CopyPartResult.ETag})
	}
	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: bkt, Key: aws.String("small"), UploadId: cr2.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: p2}})
	wantCode(t, err, "EntityTooSmall")
	if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: bkt, Key: aws.String("small"), UploadId: cr2.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: p2[:1]}}); err != nil {
		t.Fatal(err)
	}
	cr3, _ := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: bkt, Key: aws.String("aborted")})
	if _, err := c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: bkt, Key: aws.String("aborted"), UploadId: cr3.UploadId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: bkt, Key: aws.String("aborted"), UploadId: cr3.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantCode(t, err, "NoSuchUpload")
	for _, k := range []string{"big/object", "small"} {
		c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bkt, Key: aws.String(k)})
	}
}

func TestListing(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	c := e.aws(t, testSK)
	bkt := aws.String("lst")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: bkt}); err != nil {
		t.Fatal(err)
	}
	// 2,500 keys under 5 directories, plus keys whose raw bytes sort around '/'.
	var keys []string
	for d := 0; d < 5; d++ {
		for i := 0; i < 500; i++ {
			keys = append(keys, fmt.Sprintf("d%d/k%04d", d, i))
		}
	}
	keys = append(keys, "d0-x", "d0.y", "top", "d0/sub/deep")
	for _, k := range keys {
		if _, err := e.be.PutObject(ctx, s3.Identity{}, "lst", k, s3.PutInput{Body: strings.NewReader(""), Digest: func() s3.Digest { return s3.Digest{MD5: md5hex(nil)} }}, s3.WriteCond{}); err != nil {
			t.Fatal(err)
		}
	}
	// V2 paginated, no delimiter: every key once, in byte order.
	var all []string
	p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: bkt, MaxKeys: aws.Int32(333)})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range pg.Contents {
			all = append(all, *o.Key)
		}
	}
	if len(all) != len(keys) {
		t.Fatalf("listed %d of %d keys", len(all), len(keys))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1] >= all[i] {
			t.Fatalf("order: %q then %q", all[i-1], all[i])
		}
	}
	// "d0-x" (0x2d) and "d0.y" (0x2e) sort before "d0/" (0x2f).
	if all[0] != "d0-x" || all[1] != "d0.y" || all[2] != "d0/k0000" {
		t.Fatalf("raw byte order: %v", all[:3])
	}
	// Delimiter, paginated one entry at a time through common prefixes.
	var seen []string
	p = awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: bkt, Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		for _, o := range pg.Contents {
			page = append(page, *o.Key)
		}
		for _, cp := range pg.CommonPrefixes {
			page = append(page, *cp.Prefix)
		}
		sort.Strings(page)
		seen = append(seen, page...)
	}
	if got := strings.Join(seen, ","); got != "d0-x,d0.y,d0/,d1/,d2/,d3/,d4/,top" {
		t.Fatalf("delimited listing: %s", got)
	}
	// Prefix + delimiter + start-after.
	l, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: bkt, Prefix: aws.String("d0/"), Delimiter: aws.String("/"), StartAfter: aws.String("d0/k0497"), FetchOwner: aws.Bool(true)})
	if err != nil || len(l.Contents) != 2 || len(l.CommonPrefixes) != 1 || *l.CommonPrefixes[0].Prefix != "d0/sub/" || l.Contents[0].Owner == nil {
		t.Fatalf("prefix listing %+v %v", l, err)
	}
	// V1 with marker pagination.
	var v1 []string
	marker := ""
	for {
		r, err := c.ListObjects(ctx, &awss3.ListObjectsInput{Bucket: bkt, Prefix: aws.String("d3/"), Marker: aws.String(marker), MaxKeys: aws.Int32(150)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range r.Contents {
			v1 = append(v1, *o.Key)
		}
		if !*r.IsTruncated {
			break
		}
		marker = *r.NextMarker
	}
	if len(v1) != 500 {
		t.Fatalf("v1 listed %d", len(v1))
	}
	// encoding-type=url round trip.
	e.be.PutObject(ctx, s3.Identity{}, "lst", "sp ace/ü", s3.PutInput{Body: strings.NewReader(""), Digest: func() s3.Digest { return s3.Digest{} }}, s3.WriteCond{})
	r, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: bkt, Prefix: aws.String("sp"), EncodingType: types.EncodingTypeUrl})
	if err != nil || len(r.Contents) != 1 || *r.Contents[0].Key != "sp%20ace/%C3%BC" {
		t.Fatalf("encoding-type=url: %v %v", r, err)
	}
	_, err = c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: bkt, MaxKeys: aws.Int32(-1)})
	wantCode(t, err, "InvalidArgument")
}

func TestPresigned(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	c := e.aws(t, testSK)
	c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("pre")})
	ps := awss3.NewPresignClient(c)
	put, err := ps.PresignPutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("pre"), Key: aws.String("k y")}, awss3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", put.URL, strings.NewReader("presigned body"))
	for k, v := range put.SignedHeader {
		req.Header[k] = v
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %v %v", resp.Status, err)
	}
	get, _ := ps.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("k y")}, awss3.WithPresignExpires(time.Minute))
	resp, err = e.srv.Client().Get(get.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("presigned GET: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "presigned body" {
		t.Fatalf("got %q", b)
	}
	// Tampered URL, then expired URL.
	resp, _ = e.srv.Client().Get(strings.Replace(get.URL, "k%20y", "k%20z", 1))
	if code := errorCode(t, resp); code != "SignatureDoesNotMatch" {
		t.Fatalf("tampered presign: %s", code)
	}
	expired := presignAt(t, e, time.Now().Add(-10*time.Minute), 60)
	resp, _ = e.srv.Client().Get(expired)
	if code := errorCode(t, resp); code != "AccessDenied" {
		t.Fatalf("expired presign: %s", code)
	}
}
