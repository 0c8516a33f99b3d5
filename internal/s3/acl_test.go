package s3_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/shoalfs"

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
	// Objects have their own ACLs (TestObjectGrants).
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
	if oa, err := own.GetObjectAcl(ctx, &awss3.GetObjectAclInput{Bucket: pb, Key: aws.String("pub")}); err != nil || len(oa.Grants) != 2 || aws.ToString(oa.Grants[1].Grantee.URI) != "http://acs.amazonaws.com/groups/global/AllUsers" {
		t.Fatalf("GetObjectAcl %+v %v", oa, err)
	}
	for _, k := range []struct{ b, k string }{{"private-b", "d/secret"}, {"private-b", "p"}, {"public-b", "pub"}, {"public-b", "theirs"}} {
		own.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(k.b), Key: aws.String(k.k)})
	}
}

// Round 2 of issue 15's ACLs, with aws-sdk-go-v2 on the Shoal backend:
// grants to single users (canonical id = uid) and to groups, on
// objects and buckets, through x-amz-grant-* and AccessControlPolicy
// bodies, with PublicAccessBlock and ObjectOwnership applied.
func TestObjectGrants(t *testing.T) {
	e, _ := newShoalEnv(t, false)
	ctx := context.Background()
	own, other := e.aws(t, testSK), e.awsAs(t, otherAK, otherSK)
	b := aws.String("grants")
	if _, err := own.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, in *awss3.PutObjectInput) {
		t.Helper()
		in.Bucket, in.Key, in.Body = b, aws.String(key), strings.NewReader(key)
		if _, err := own.PutObject(ctx, in); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	get := func(c *awss3.Client, key string) error {
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String(key)})
		if err == nil {
			out.Body.Close()
		}
		return err
	}
	// x-amz-grant-read to uid 1001 (the other key): it reads that object only.
	put("shared", &awss3.PutObjectInput{GrantRead: aws.String(`id="1001"`)})
	put("mine", &awss3.PutObjectInput{})
	if err := get(other, "shared"); err != nil {
		t.Fatalf("granted GET: %v", err)
	}
	if err := get(other, "mine"); apiCode(err) != "AccessDenied" {
		t.Fatalf("ungranted GET: %v", err)
	}
	if _, err := other.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("x"), Body: strings.NewReader("x")}); apiCode(err) != "AccessDenied" {
		t.Fatalf("PUT without a bucket WRITE grant: %v", err)
	}
	_, err := other.GetObjectAcl(ctx, &awss3.GetObjectAclInput{Bucket: b, Key: aws.String("shared")})
	wantCode(t, err, "AccessDenied")
	oa, err := own.GetObjectAcl(ctx, &awss3.GetObjectAclInput{Bucket: b, Key: aws.String("shared")})
	if err != nil || len(oa.Grants) != 2 || aws.ToString(oa.Grants[1].Grantee.ID) != "1001" || oa.Grants[1].Permission != types.PermissionRead || oa.Grants[1].Grantee.Type != types.TypeCanonicalUser {
		t.Fatalf("GetObjectAcl: %+v %v", oa, err)
	}

	// Bad grants: clear errors, nothing changed.
	for _, c := range []struct {
		in   awss3.PutObjectAclInput
		code string
	}{
		{awss3.PutObjectAclInput{GrantRead: aws.String(`id="not-a-uid"`)}, "InvalidArgument"},
		{awss3.PutObjectAclInput{GrantRead: aws.String(`emailAddress="a@b.c"`)}, "UnresolvableGrantByEmailAddress"},
		{awss3.PutObjectAclInput{GrantRead: aws.String(`uri="http://acs.amazonaws.com/groups/s3/LogDelivery"`)}, "InvalidArgument"},
		{awss3.PutObjectAclInput{GrantRead: aws.String(`id="1001"`), ACL: types.ObjectCannedACLPublicRead}, "InvalidRequest"},
		{awss3.PutObjectAclInput{AccessControlPolicy: &types.AccessControlPolicy{Owner: &types.Owner{ID: aws.String("1000")},
			Grants: []types.Grant{{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String("1001")}, Permission: "EVERYTHING"}}}}, "MalformedACLError"},
	} {
		c.in.Bucket, c.in.Key = b, aws.String("shared")
		_, err := own.PutObjectAcl(ctx, &c.in)
		wantCode(t, err, c.code)
	}
	if err := get(other, "shared"); err != nil {
		t.Fatalf("a refused PutObjectAcl changed the grants: %v", err)
	}

	// An AccessControlPolicy body: READ_ACP and WRITE_ACP to 1001, READ taken away.
	if _, err := own.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: b, Key: aws.String("shared"), AccessControlPolicy: &types.AccessControlPolicy{
		Owner: &types.Owner{ID: aws.String("1000")},
		Grants: []types.Grant{
			{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String("1000")}, Permission: types.PermissionFullControl},
			{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String("1001")}, Permission: types.PermissionReadAcp},
			{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String("1001")}, Permission: types.PermissionWriteAcp},
		}}}); err != nil {
		t.Fatal(err)
	}
	if err := get(other, "shared"); apiCode(err) != "AccessDenied" {
		t.Fatalf("GET after READ was taken away: %v", err)
	}
	if oa, err := other.GetObjectAcl(ctx, &awss3.GetObjectAclInput{Bucket: b, Key: aws.String("shared")}); err != nil || len(oa.Grants) != 3 {
		t.Fatalf("GetObjectAcl with READ_ACP: %+v %v", oa, err)
	}
	// WRITE_ACP: the grantee gives itself READ.
	if _, err := other.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: b, Key: aws.String("shared"), GrantRead: aws.String(`id="1001"`)}); err != nil {
		t.Fatalf("PutObjectAcl with WRITE_ACP: %v", err)
	}
	if err := get(other, "shared"); err != nil {
		t.Fatalf("GET after the grantee's own grant: %v", err)
	}

	// A canned public-read object in a private bucket: anonymous reads.
	put("pub", &awss3.PutObjectInput{ACL: types.ObjectCannedACLPublicRead})
	if resp, err := http.Get(e.srv.URL + "/grants/pub"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("anonymous GET of a public-read object: %v %v", resp, err)
	}
	if resp, _ := http.Get(e.srv.URL + "/grants/mine"); resp.StatusCode != 403 {
		t.Fatalf("anonymous GET of a private object: %s", resp.Status)
	}

	// CopyObject: the copy gets the request's grants, never the source's.
	if _, err := own.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("pub-copy"), CopySource: aws.String("grants/pub")}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := http.Get(e.srv.URL + "/grants/pub-copy"); resp.StatusCode != 403 {
		t.Fatalf("a copy kept its source's public-read: %s", resp.Status)
	}
	if _, err := own.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("mine-copy"), CopySource: aws.String("grants/mine"), GrantRead: aws.String(`uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"`)}); err != nil {
		t.Fatal(err)
	}
	if err := get(other, "mine-copy"); err != nil {
		t.Fatalf("GET of a copy granted to AuthenticatedUsers: %v", err)
	}

	// CreateMultipartUpload's grants apply at completion.
	cu, err := own.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp"), GrantFullControl: aws.String(`id="1001"`)})
	if err != nil {
		t.Fatal(err)
	}
	up, err := own.UploadPart(ctx, &awss3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: cu.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := own.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: cu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: up.ETag, PartNumber: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	if err := get(other, "mp"); err != nil {
		t.Fatalf("GET of an upload granted FULL_CONTROL: %v", err)
	}

	// Bucket grants: WRITE to 1001 lets it PUT; READ lets it list.
	if _, err := own.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: b, GrantWrite: aws.String(`id="1001"`), GrantRead: aws.String(`id="1001"`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("theirs"), Body: strings.NewReader("t")}); err != nil {
		t.Fatalf("PUT with a bucket WRITE grant: %v", err)
	}
	if _, err := other.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: b}); err != nil {
		t.Fatalf("list with a bucket READ grant: %v", err)
	}
	ba, err := own.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: b})
	if err != nil || len(ba.Grants) != 3 {
		t.Fatalf("GetBucketAcl: %+v %v", ba, err)
	}
	_, err = other.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: b})
	wantCode(t, err, "AccessDenied")
	// A copy through a bucket WRITE grant needs READ on its source.
	_, err = other.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("stolen"), CopySource: aws.String("grants/mine")})
	wantCode(t, err, "AccessDenied")
	if _, err := other.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("ok-copy"), CopySource: aws.String("grants/shared")}); err != nil {
		t.Fatalf("copy of a source granted READ: %v", err)
	}

	// PublicAccessBlock: BlockPublicAcls refuses group grants,
	// IgnorePublicAcls makes them count for nothing.
	if _, err := own.PutPublicAccessBlock(ctx, &awss3.PutPublicAccessBlockInput{Bucket: b, PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	_, err = own.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: b, Key: aws.String("mine"), GrantRead: aws.String(`uri="http://acs.amazonaws.com/groups/global/AllUsers"`)})
	wantCode(t, err, "AccessDenied")
	if resp, _ := http.Get(e.srv.URL + "/grants/pub"); resp.StatusCode != 403 {
		t.Fatalf("anonymous GET with IgnorePublicAcls: %s", resp.Status)
	}
	if err := get(other, "shared"); err != nil {
		t.Fatalf("a user grant with IgnorePublicAcls: %v", err)
	}
	if _, err := own.DeletePublicAccessBlock(ctx, &awss3.DeletePublicAccessBlockInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}

	// BucketOwnerEnforced: ACLs off.
	if _, err := own.PutBucketOwnershipControls(ctx, &awss3.PutBucketOwnershipControlsInput{Bucket: b, OwnershipControls: &types.OwnershipControls{
		Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}}}}); err != nil {
		t.Fatal(err)
	}
	_, err = own.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("y"), Body: strings.NewReader("y"), GrantRead: aws.String(`id="1001"`)})
	wantCode(t, err, "AccessControlListNotSupported")
	if err := get(other, "shared"); apiCode(err) != "AccessDenied" {
		t.Fatalf("a grant counted under BucketOwnerEnforced: %v", err)
	}
	if _, err := own.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String("y")}); err == nil {
		t.Fatal("a refused PUT left an object")
	}
}

// Grants are xattrs: they survive a restart of the namespace and the
// gateway (a new client and backend over the same directory).
func TestGrantsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() (*env, func()) {
		c, err := shoal.OpenLocal(ctx, dir, shoal.WithGCInterval(0))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Chmod("/", 0o777); err != nil {
			t.Fatal(err)
		}
		be, err := shoalfs.New(ctx, c, shoalfs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		gw, err := s3.New(s3.Config{Backend: be, Credentials: testCreds})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{gw: gw, modes: map[string]int{}, srv: httptest.NewServer(gw)}
		return e, func() { e.srv.Close(); be.Close(); c.Close() }
	}
	e, stop := open()
	own := e.aws(t, testSK)
	b := aws.String("kept")
	if _, err := own.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b, GrantRead: aws.String(`id="1001"`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := own.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("k"), GrantRead: aws.String(`id="1001"`)}); err != nil {
		t.Fatal(err)
	}
	stop()
	e, stop = open()
	defer stop()
	other := e.awsAs(t, otherAK, otherSK)
	if _, err := other.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: b}); err != nil {
		t.Fatalf("list after a restart: %v", err)
	}
	out, err := other.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("k")})
	if err != nil {
		t.Fatalf("GET after a restart: %v", err)
	}
	out.Body.Close()
}
