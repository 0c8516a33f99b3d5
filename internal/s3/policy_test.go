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

// Issue 15 item 2 (bucket policies) on the Shoal backend.
func TestBucketPolicies(t *testing.T) {
	e, _ := newShoalEnv(t, false)
	ctx := context.Background()
	own, other := e.aws(t, testSK), e.awsAs(t, otherAK, otherSK)
	b := aws.String("pol")
	if _, err := own.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"public/a", "private/b"} {
		if _, err := own.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	setPolicy := func(p string) error {
		_, err := own.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(p)})
		return err
	}
	anon := func(key string) int {
		resp, err := http.Get(e.srv.URL + "/pol/" + key)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	wantCode(t, setPolicy(`{"Statement": [{"Effect": "Maybe"}]}`), "MalformedPolicy")
	wantCode(t, setPolicy(`not json`), "MalformedPolicy")
	wantCode(t, setPolicy(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::elsewhere/*"}]}`), "MalformedPolicy")
	_, err := other.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(`{"Statement":[]}`)})
	if err == nil {
		t.Fatal("another key set the policy")
	}

	// Public reads of one prefix.
	if err := setPolicy(`{"Version":"2012-10-17","Statement":[{"Sid":"pub","Effect":"Allow","Principal":"*",
		"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::pol/public/*"]}]}`); err != nil {
		t.Fatal(err)
	}
	if got := anon("public/a"); got != 200 {
		t.Fatalf("anonymous GET allowed by the policy: %d", got)
	}
	if got := anon("private/b"); got != 403 {
		t.Fatalf("anonymous GET outside the policy: %d", got)
	}
	st, err := own.GetBucketPolicyStatus(ctx, &awss3.GetBucketPolicyStatusInput{Bucket: b})
	if err != nil || !aws.ToBool(st.PolicyStatus.IsPublic) {
		t.Fatalf("policy status %+v %v", st, err)
	}
	if gp, err := own.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: b}); err != nil || !strings.Contains(aws.ToString(gp.Policy), `"pub"`) {
		t.Fatalf("GetBucketPolicy %v %v", gp, err)
	}

	// Another key may drop objects into inbox/ (as the owner), nowhere else;
	// a Deny beats everything.
	if err := setPolicy(`{"Statement":[
		{"Effect":"Allow","Principal":{"AWS":["` + otherAK + `"]},"Action":"s3:PutObject","Resource":"arn:aws:s3:::pol/inbox/*"},
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1001:root"},"Action":["s3:ListBucket"],"Resource":"arn:aws:s3:::pol",
		 "Condition":{"StringLike":{"s3:prefix":"inbox/*"}}},
		{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::pol/private/*"}]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := other.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("inbox/drop"), Body: strings.NewReader("d")}); err != nil {
		t.Fatalf("put allowed by the policy: %v", err)
	}
	_, err = other.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("elsewhere"), Body: strings.NewReader("d")})
	wantCode(t, err, "AccessDenied")
	if out, err := other.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: b, Prefix: aws.String("inbox/")}); err != nil || len(out.Contents) != 1 {
		t.Fatalf("list allowed with the prefix condition: %+v %v", out, err)
	}
	_, err = other.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: b})
	wantCode(t, err, "AccessDenied")
	if _, err := other.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("pol-other")}); err != nil {
		t.Fatal(err)
	}
	other.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("pol-other"), Key: aws.String("x"), Body: strings.NewReader("x")})
	_, err = other.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("inbox/copied"), CopySource: aws.String("pol-other/x")})
	wantCode(t, err, "AccessDenied")
	_, err = own.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("private/b")})
	wantCode(t, err, "AccessDenied")
	del, err := own.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("private/b")}, {Key: aws.String("inbox/drop")}}}})
	if err != nil || len(del.Errors) != 1 || aws.ToString(del.Errors[0].Key) != "private/b" || len(del.Deleted) != 1 {
		t.Fatalf("DeleteObjects under a Deny: %+v %v", del, err)
	}
	// A Deny on everything still lets the owner manage the policy.
	if err := setPolicy(`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::pol","arn:aws:s3:::pol/*"],
		"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`); err != nil {
		t.Fatal(err)
	}
	_, err = own.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("public/a")})
	wantCode(t, err, "AccessDenied")
	if _, err := own.DeleteBucketPolicy(ctx, &awss3.DeleteBucketPolicyInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	_, err = own.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: b})
	wantCode(t, err, "NoSuchBucketPolicy")
	for _, k := range []string{"public/a", "private/b"} {
		own.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String(k)})
	}
	other.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("pol-other"), Key: aws.String("x")})
}

func TestPublicAccessBlockAndOwnership(t *testing.T) {
	e, _ := newShoalEnv(t, false)
	ctx := context.Background()
	own := e.aws(t, testSK)
	b := aws.String("pab")
	if _, err := own.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b, ACL: types.BucketCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if _, err := own.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("k")}); err != nil {
		t.Fatal(err)
	}
	anon := func() int {
		resp, err := http.Get(e.srv.URL + "/pab/k")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if anon() != 200 {
		t.Fatal("public-read bucket not readable")
	}
	if _, err := own.PutPublicAccessBlock(ctx, &awss3.PutPublicAccessBlockInput{Bucket: b, PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	got, err := own.GetPublicAccessBlock(ctx, &awss3.GetPublicAccessBlockInput{Bucket: b})
	if err != nil || !aws.ToBool(got.PublicAccessBlockConfiguration.IgnorePublicAcls) {
		t.Fatalf("GetPublicAccessBlock %+v %v", got, err)
	}
	if anon() != 403 {
		t.Fatal("IgnorePublicAcls: anonymous read still allowed")
	}
	_, err = own.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPublicReadWrite})
	wantCode(t, err, "AccessDenied")
	_, err = own.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pab/*"}]}`)})
	wantCode(t, err, "AccessDenied")
	if _, err := own.DeletePublicAccessBlock(ctx, &awss3.DeletePublicAccessBlockInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if anon() != 200 {
		t.Fatal("public-read bucket not readable after the block went")
	}
	if _, err := own.PutBucketOwnershipControls(ctx, &awss3.PutBucketOwnershipControlsInput{Bucket: b, OwnershipControls: &types.OwnershipControls{
		Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}}}}); err != nil {
		t.Fatal(err)
	}
	oc, err := own.GetBucketOwnershipControls(ctx, &awss3.GetBucketOwnershipControlsInput{Bucket: b})
	if err != nil || oc.OwnershipControls.Rules[0].ObjectOwnership != types.ObjectOwnershipBucketOwnerEnforced {
		t.Fatalf("GetBucketOwnershipControls %+v %v", oc, err)
	}
	_, err = own.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("k2"), Body: strings.NewReader("k"), ACL: types.ObjectCannedACLPublicRead})
	wantCode(t, err, "AccessControlListNotSupported")
	if _, err := own.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("k2"), Body: strings.NewReader("k"), ACL: types.ObjectCannedACLBucketOwnerFullControl}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k", "k2"} {
		own.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String(k)})
	}
}
