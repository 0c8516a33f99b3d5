package s3_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The small AWS behaviours of issue 15 item 6, through aws-sdk-go-v2, on
// the memory backend and on shoalfs.
func TestCompat(t *testing.T) {
	t.Run("mem", func(t *testing.T) { testCompat(t, newEnv(t, false)) })
	t.Run("shoalfs", func(t *testing.T) {
		e, _ := newShoalEnv(t, false)
		testCompat(t, e)
	})
}

func testCompat(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.aws(t, testSK)
	bkt := aws.String("compat")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: bkt}); err != nil {
		t.Fatal(err)
	}

	t.Run("unconfigured", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			call func() error
			code string
		}{
			{"cors", func() error { _, err := c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: bkt}); return err }, "NoSuchCORSConfiguration"},
			{"policy", func() error { _, err := c.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: bkt}); return err }, "NoSuchBucketPolicy"},
			{"policy status", func() error {
				_, err := c.GetBucketPolicyStatus(ctx, &awss3.GetBucketPolicyStatusInput{Bucket: bkt})
				return err
			}, "NoSuchBucketPolicy"},
			{"lifecycle", func() error {
				_, err := c.GetBucketLifecycleConfiguration(ctx, &awss3.GetBucketLifecycleConfigurationInput{Bucket: bkt})
				return err
			}, "NoSuchLifecycleConfiguration"},
			{"encryption", func() error {
				_, err := c.GetBucketEncryption(ctx, &awss3.GetBucketEncryptionInput{Bucket: bkt})
				return err
			}, "ServerSideEncryptionConfigurationNotFoundError"},
			{"website", func() error { _, err := c.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: bkt}); return err }, "NoSuchWebsiteConfiguration"},
			{"replication", func() error {
				_, err := c.GetBucketReplication(ctx, &awss3.GetBucketReplicationInput{Bucket: bkt})
				return err
			}, "ReplicationConfigurationNotFoundError"},
			{"object lock", func() error {
				_, err := c.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: bkt})
				return err
			}, "ObjectLockConfigurationNotFoundError"},
			{"ownership", func() error {
				_, err := c.GetBucketOwnershipControls(ctx, &awss3.GetBucketOwnershipControlsInput{Bucket: bkt})
				return err
			}, "OwnershipControlsNotFoundError"},
			{"public access block", func() error {
				_, err := c.GetPublicAccessBlock(ctx, &awss3.GetPublicAccessBlockInput{Bucket: bkt})
				return err
			}, "NoSuchPublicAccessBlockConfiguration"},
			{"analytics by id", func() error {
				_, err := c.GetBucketAnalyticsConfiguration(ctx, &awss3.GetBucketAnalyticsConfigurationInput{Bucket: bkt, Id: aws.String("x")})
				return err
			}, "NoSuchConfiguration"},
			{"missing bucket", func() error {
				_, err := c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("nope-nope")})
				return err
			}, "NoSuchBucket"},
		} {
			wantCode(t, tc.call(), tc.code)
		}
		if v, err := c.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: bkt}); err != nil || v.Status != "" {
			t.Errorf("GetBucketVersioning %+v %v", v, err)
		}
		acl, err := c.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: bkt})
		if err != nil || len(acl.Grants) != 1 || acl.Grants[0].Permission != types.PermissionFullControl {
			t.Errorf("GetBucketAcl %+v %v", acl, err)
		}
		if rp, err := c.GetBucketRequestPayment(ctx, &awss3.GetBucketRequestPaymentInput{Bucket: bkt}); err != nil || rp.Payer != types.PayerBucketOwner {
			t.Errorf("GetBucketRequestPayment %+v %v", rp, err)
		}
		if _, err := c.GetBucketLogging(ctx, &awss3.GetBucketLoggingInput{Bucket: bkt}); err != nil {
			t.Error(err)
		}
		if _, err := c.GetBucketNotificationConfiguration(ctx, &awss3.GetBucketNotificationConfigurationInput{Bucket: bkt}); err != nil {
			t.Error(err)
		}
		if _, err := c.GetBucketAccelerateConfiguration(ctx, &awss3.GetBucketAccelerateConfigurationInput{Bucket: bkt}); err != nil {
			t.Error(err)
		}
		if l, err := c.ListBucketAnalyticsConfigurations(ctx, &awss3.ListBucketAnalyticsConfigurationsInput{Bucket: bkt}); err != nil || len(l.AnalyticsConfigurationList) != 0 {
			t.Errorf("ListBucketAnalyticsConfigurations %+v %v", l, err)
		}
		for _, del := range []func() error{
			func() error { _, err := c.DeleteBucketCors(ctx, &awss3.DeleteBucketCorsInput{Bucket: bkt}); return err },
			func() error {
				_, err := c.DeleteBucketPolicy(ctx, &awss3.DeleteBucketPolicyInput{Bucket: bkt})
				return err
			},
			func() error {
				_, err := c.DeleteBucketLifecycle(ctx, &awss3.DeleteBucketLifecycleInput{Bucket: bkt})
				return err
			},
			func() error {
				_, err := c.DeletePublicAccessBlock(ctx, &awss3.DeletePublicAccessBlockInput{Bucket: bkt})
				return err
			},
		} {
			if err := del(); err != nil {
				t.Error(err)
			}
		}
		// Object-level ones check the object first.
		_, err = c.GetObjectAcl(ctx, &awss3.GetObjectAclInput{Bucket: bkt, Key: aws.String("missing")})
		wantCode(t, err, "NoSuchKey")
	})

	t.Run("list buckets pages", func(t *testing.T) {
		for _, b := range []string{"compat-a", "compat-b", "compat-c"} {
			if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		p := awss3.NewListBucketsPaginator(c, &awss3.ListBucketsInput{MaxBuckets: aws.Int32(2), Prefix: aws.String("compat-")})
		pages := 0
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, b := range out.Buckets {
				names = append(names, *b.Name)
			}
		}
		if strings.Join(names, ",") != "compat-a,compat-b,compat-c" || pages != 2 {
			t.Fatalf("paged buckets %v in %d pages", names, pages)
		}
		for _, b := range names {
			if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(b)}); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("delete bucket with abandoned uploads", func(t *testing.T) {
		b := aws.String("compat-uploads")
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("o"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		_, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: b})
		wantCode(t, err, "BucketNotEmpty")
		if ups, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: b}); err != nil || len(ups.Uploads) != 1 {
			t.Fatalf("a refused delete lost the upload: %+v %v", ups, err)
		}
		if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("o")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: b}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
			t.Fatal(err)
		}
		if ups, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: b}); err != nil || len(ups.Uploads) != 0 {
			t.Fatalf("uploads of the deleted bucket came back: %+v %v", ups, err)
		}
		c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: b})
	})

	t.Run("multipart", func(t *testing.T) {
		key := aws.String("mp")
		up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: bkt, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		var parts []types.CompletedPart
		for i, size := range []int{5 << 20, 1000} {
			n := int32(i + 1)
			p, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: bkt, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(pattern(size))})
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: p.ETag})
		}
		in := &awss3.CompleteMultipartUploadInput{Bucket: bkt, Key: key, UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
		first, err := c.CompleteMultipartUpload(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.CompleteMultipartUpload(ctx, in)
		if err != nil || *again.ETag != *first.ETag {
			t.Fatalf("repeated complete: %v %v (first %s)", again, err, *first.ETag)
		}
		attrs, err := c.GetObjectAttributes(ctx, &awss3.GetObjectAttributesInput{Bucket: bkt, Key: key,
			ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts, types.ObjectAttributesObjectSize}})
		if err != nil || attrs.ObjectParts == nil || aws.ToInt32(attrs.ObjectParts.TotalPartsCount) != 2 || len(attrs.ObjectParts.Parts) != 2 ||
			aws.ToInt64(attrs.ObjectParts.Parts[1].Size) != 1000 {
			t.Fatalf("GetObjectAttributes parts %+v %v", attrs, err)
		}
		// If-None-Match with the current ETag refuses to complete another upload over it.
		up2, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: bkt, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: bkt, Key: key, UploadId: up2.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("small")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: bkt, Key: key, UploadId: up2.UploadId, IfNoneMatch: first.ETag,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p.ETag}}}})
		wantCode(t, err, "PreconditionFailed")
		c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: bkt, Key: key, UploadId: up2.UploadId})
	})

	t.Run("conditional put", func(t *testing.T) {
		key := aws.String("cond")
		put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: key, Body: strings.NewReader("one")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: key, Body: strings.NewReader("two"), IfNoneMatch: put.ETag})
		wantCode(t, err, "PreconditionFailed")
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: key, Body: strings.NewReader("two"), IfNoneMatch: aws.String(`"0123"`)}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("content encoding byte for byte", func(t *testing.T) {
		key := aws.String("enc")
		const enc = "gzip,  identity"
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: key, Body: strings.NewReader("z"), ContentEncoding: aws.String(enc)}); err != nil {
			t.Fatal(err)
		}
		h, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: bkt, Key: key})
		if err != nil || aws.ToString(h.ContentEncoding) != enc {
			t.Fatalf("Content-Encoding %q %v", aws.ToString(h.ContentEncoding), err)
		}
	})

	t.Run("list object versions unversioned", func(t *testing.T) {
		b := aws.String("compat-versions")
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"a", "b", "c/d"} {
			if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		p := awss3.NewListObjectVersionsPaginator(c, &awss3.ListObjectVersionsInput{Bucket: b, MaxKeys: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range out.Versions {
				if aws.ToString(v.VersionId) != "null" || !aws.ToBool(v.IsLatest) {
					t.Errorf("version %+v", v)
				}
				got = append(got, *v.Key)
			}
		}
		if strings.Join(got, ",") != "a,b,c/d" {
			t.Fatalf("versions %v", got)
		}
		for _, k := range got {
			c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String(k)})
		}
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: b}); err != nil {
			t.Fatal(err)
		}
	})

	// Leave the bucket empty for the backend's checks.
	out, _ := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: bkt})
	for _, o := range out.Contents {
		c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bkt, Key: o.Key})
	}
}
