package s3_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// Issue 15 item 5: a file written through the Go SDK has an ETag no
// client takes for an MD5 until a full GET has computed the MD5, which
// is then kept.
func TestSDKFileETags(t *testing.T) {
	e, fsc := newShoalEnv(t, false)
	ctx := context.Background()
	c := e.aws(t, testSK)
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("etb")}); err != nil {
		t.Fatal(err)
	}
	data := pattern(1<<20 + 3)
	for _, name := range []string{"etb/full", "etb/ranged", "etb/empty"} {
		body := data
		if name == "etb/empty" {
			body = nil
		}
		if err := fsc.WriteFile(name, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	head := func(key string) string {
		t.Helper()
		h, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("etb"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Trim(aws.ToString(h.ETag), `"`)
	}
	get := func(key string, rng *string) string {
		t.Helper()
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("etb"), Key: aws.String(key), Range: rng})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
		return strings.Trim(aws.ToString(out.ETag), `"`)
	}
	before := head("full")
	if !strings.HasSuffix(before, "-1") || before == md5hex(data) {
		t.Fatalf("ETag of an SDK file before any GET: %s", before)
	}
	if got := get("full", nil); got != before {
		t.Fatalf("the GET answers the ETag it started with: %s", got)
	}
	if got := head("full"); got != md5hex(data) {
		t.Fatalf("ETag after a full GET: %s want %s", got, md5hex(data))
	}
	out, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("etb")})
	if err != nil || len(out.Contents) != 3 || strings.Trim(*out.Contents[1].ETag, `"`) != md5hex(data) {
		t.Fatalf("listing after the GET: %+v %v", out.Contents, err)
	}
	// A ranged GET computes nothing.
	get("ranged", aws.String("bytes=0-99"))
	if got := head("ranged"); !strings.HasSuffix(got, "-1") {
		t.Fatalf("ETag after a ranged GET: %s", got)
	}
	get("empty", nil)
	if got := head("empty"); got != md5hex(nil) {
		t.Fatalf("ETag of an empty SDK file after GET: %s", got)
	}
	// Changed through the SDK: the kept MD5 no longer applies.
	if err := fsc.WriteFile("etb/full", data[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	if got := head("full"); !strings.HasSuffix(got, "-1") {
		t.Fatalf("ETag after the SDK changed the file: %s", got)
	}
	for _, k := range []string{"full", "ranged", "empty"} {
		c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("etb"), Key: aws.String(k)})
	}
}
