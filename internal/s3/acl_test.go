package s3_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Issue 15 item 2 (the ACL part) on the Shoal backend: buckets are
// private to their owner; canned ACLs open them; multipart is checked
// like PutObject.
func TestACLs(t *testing.T) {
	e, _ := newShoalEnv(t, false)
	ctx := context.Background()
	own, other := e.aws(t, testSK), e.awsAs(t, otherAK, otherSK)
	b := aws.String("private-b")
	if _, err := own.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := own.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("d/secret"), Body: strings.NewReader("s")}); err != nil {
		t.Fatal(err)
	}
	denied := func(name string, err error) {
		t.Helper()
		if apiCode(err) != "AccessDenied" && !strings.Contains(apiCode(err), "403") {
			t.Errorf("%s by another key: %v", name, err)
		}
	}
	_, err := other.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: b})
	denied("list", err)
	_, err = other.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("d/secret")})
	denied("get", err)
	_, err = other.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: b})
	if err == nil {
		t.Error("another key's HeadBucket of a private bucket succeeded")
	}
	if _, err := other.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("other-b")}); err != nil {
		t.Fatal(err)
	}
	_, err = other.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("other-b"), Key: aws.String("stolen"), CopySource: aws.String("private-b/d/secret")})
	denied("copy", err)
	_, err = other.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("intruder")})
	denied("create multipart", err)
	_, err = other.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("intruder"), Body: strings.NewReader("x")})
	denied("put", err)
	// ListBuckets lists one's own buckets only.
	lb, err := other.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || *lb.Buckets[0].Name != "other-b" {
		t.Fatalf("another key's ListBuckets: %+v %v", lb.Buckets, err)
	}
	// 404 before 403: a missing bucket is NoSuchBucket for anyone.
	_, err = other.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("no-such-b"), Key: aws.String("k")})
	wantCode(t, err, "NoSuchBucket")

	// authenticated-read: every key reads, none but the owner writes.
	if _, err := own.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLAuthenticatedRead}); err != nil {
		t.Fatal(err)
	}
	acl, err := own.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: b})
	if err != nil || len(acl.Grants) != 2 || aws.ToString(acl.Grants[1].Grantee.URI) != "http://acs.amazonaws.com/groups/global/AuthenticatedUsers" {
		t.Fatalf("GetBucketAcl %+v %v", acl, err)
	}
	if out, err := other.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("d/secret")}); err != nil {
		t.Fatalf("authenticated-read GET: %v", err)
	} else {
		out.Body.Close()
	}
	_, err = other.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("intruder")})
	denied("create multipart in an authenticated-read bucket", err)
	_, err = other.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPublicReadWrite})
	denied("PutBucketAcl", err)
	// Anonymous requests are still refused: the bucket is not public.
	if resp, _ := http.Get(e.srv.URL + "/private-b/d/secret"); resp.StatusCode != 403 {
		t.Fatalf("anonymous GET of an authenticated-read bucket: %s", resp.Status)
	}
	// Objects follow their bucket: a public-read object needs a public-read bucket.
	_, err = own.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("p"), Body: strings.NewReader("p"), ACL: types.ObjectCannedACLPublicRead})
	wantCode(t, err, "NotImplemented")
	_, err = own.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("g"), Body: strings.NewReader("g"), GrantRead: aws.String("id=1001")})
	wantCode(t, err, "NotImplemented")
	if _, err := own.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("p"), Body: strings.NewReader("p"), ACL: types.ObjectCannedACLPrivate}); err != nil {
		t.Fatal(err)
	}

	// public-read at creation: anonymous reads work.
	pb := aws.String("public-b")
	if _, err := own.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: pb, ACL: types.BucketCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if _, err := own.PutObject(ctx, &awss3.PutObjectInput{Bucket: pb, Key: aws.String("pub"), Body: strings.NewReader("hello"), ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(e.srv.URL + "/public-b/pub")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("anonymous GET of a public-read bucket: %v %v", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Fatalf("anonymous GET: %q", body)
	}
	// public-read-write: other keys write too.
	if _, err := own.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: pb, ACL: types.BucketCannedACLPublicReadWrite}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.PutObject(ctx, &awss3.PutObjectInput{Bucket: pb, Key: aws.String("theirs"), Body: strings.NewReader("x")}); err != nil {
		t.Fatalf("put into a public-read-write bucket: %v", err)
	}
	if oa, err := own.GetObjectAcl(ctx, &awss3.GetObjectAclInput{Bucket: pb, Key: aws.String("pub")}); err != nil || len(oa.Grants) != 3 {
		t.Fatalf("GetObjectAcl %+v %v", oa, err)
	}
	for _, k := range []struct{ b, k string }{{"private-b", "d/secret"}, {"private-b", "p"}, {"public-b", "pub"}, {"public-b", "theirs"}} {
		own.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(k.b), Key: aws.String(k.k)})
	}
}
