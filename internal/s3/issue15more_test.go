package s3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/shoalfs/shoal/internal/s3/checksum"
)

// Issue 15, what the last session left, through aws-sdk-go-v2 on the
// Shoal backend: tags and UploadPartCopy of an older version, object
// lock headers on CreateMultipartUpload, FULL_OBJECT multipart CRCs and
// s3:BypassGovernanceRetention in a bucket policy.
func TestIssue15Leftovers(t *testing.T) {
	e, _ := newShoalEnv(t, false)
	ctx := context.Background()
	c := e.aws(t, testSK)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	put := func(bkt, key string, body []byte) string {
		t.Helper()
		out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bkt), Key: aws.String(key), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId)
	}
	versioned := func(bkt string) {
		must(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bkt)}))
		must(c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: aws.String(bkt),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}))
	}

	t.Run("version tags and part copy", func(t *testing.T) {
		versioned("vtb")
		old := pattern(6 << 20)
		v1 := put("vtb", "k", old)
		v2 := put("vtb", "k", []byte("new"))
		tags := &types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}}}
		must(c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: aws.String("vtb"), Key: aws.String("k"), VersionId: aws.String(v1), Tagging: tags}))
		got, err := c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("vtb"), Key: aws.String("k"), VersionId: aws.String(v1)})
		if err != nil || len(got.TagSet) != 1 || aws.ToString(got.VersionId) != v1 {
			t.Fatalf("tags of v1: %+v %v", got, err)
		}
		if got, _ := c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("vtb"), Key: aws.String("k")}); len(got.TagSet) != 0 {
			t.Fatalf("latest got v1's tags: %+v", got.TagSet)
		}
		must(c.DeleteObjectTagging(ctx, &awss3.DeleteObjectTaggingInput{Bucket: aws.String("vtb"), Key: aws.String("k"), VersionId: aws.String(v1)}))
		if got, _ := c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("vtb"), Key: aws.String("k"), VersionId: aws.String(v1)}); len(got.TagSet) != 0 {
			t.Fatalf("v1 tags not deleted: %+v", got.TagSet)
		}
		_, err = c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: aws.String("vtb"), Key: aws.String("k"), VersionId: aws.String("0123456789abcdef01234567"), Tagging: tags})
		wantCode(t, err, "NoSuchVersion")
		_, err = e.awsAs(t, otherAK, otherSK).PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: aws.String("vtb"), Key: aws.String("k"), VersionId: aws.String(v1), Tagging: tags})
		wantCode(t, err, "AccessDenied")

		up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("vtb"), Key: aws.String("copy")})
		if err != nil {
			t.Fatal(err)
		}
		pc, err := c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: aws.String("vtb"), Key: aws.String("copy"), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), CopySource: aws.String("vtb/k?versionId=" + v1), CopySourceRange: aws.String("bytes=0-5242879")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(pc.CopySourceVersionId) != v1 {
			t.Errorf("copy source version %q, want %q", aws.ToString(pc.CopySourceVersionId), v1)
		}
		pc2, err := c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: aws.String("vtb"), Key: aws.String("copy"), UploadId: up.UploadId,
			PartNumber: aws.Int32(2), CopySource: aws.String("vtb/k?versionId=" + v2)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: aws.String("vtb"), Key: aws.String("copy"), UploadId: up.UploadId,
			PartNumber: aws.Int32(3), CopySource: aws.String("vtb/k?versionId=0123456789abcdef01234567")})
		wantCode(t, err, "NoSuchVersion")
		must(c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("vtb"), Key: aws.String("copy"), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
				{PartNumber: aws.Int32(1), ETag: pc.CopyPartResult.ETag}, {PartNumber: aws.Int32(2), ETag: pc2.CopyPartResult.ETag}}}}))
		obj, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("vtb"), Key: aws.String("copy")})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if want := append(append([]byte{}, old[:5<<20]...), "new"...); !bytes.Equal(b, want) {
			t.Fatalf("copied object: %d bytes, want %d", len(b), len(want))
		}
	})

	t.Run("lock headers on CreateMultipartUpload", func(t *testing.T) {
		must(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("lkb"), ObjectLockEnabledForBucket: aws.Bool(true)}))
		until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("lkb"), Key: aws.String("m"),
			ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until), ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("lkb"), Key: aws.String("m"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
		if err != nil {
			t.Fatal(err)
		}
		done, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("lkb"), Key: aws.String("m"), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p.ETag}}}})
		if err != nil {
			t.Fatal(err)
		}
		h, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("lkb"), Key: aws.String("m")})
		if err != nil {
			t.Fatal(err)
		}
		if h.ObjectLockMode != types.ObjectLockModeCompliance || !aws.ToTime(h.ObjectLockRetainUntilDate).Equal(until) || h.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOn {
			t.Fatalf("lock after Complete: %s %v %s", h.ObjectLockMode, h.ObjectLockRetainUntilDate, h.ObjectLockLegalHoldStatus)
		}
		_, err = c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("lkb"), Key: aws.String("m"), VersionId: done.VersionId})
		wantCode(t, err, "AccessDenied")
		// Bad headers fail at creation and leave no upload.
		_, err = c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("lkb"), Key: aws.String("bad"),
			ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(-time.Hour))})
		wantCode(t, err, "InvalidArgument")
		must(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("nolock")}))
		_, err = c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("nolock"), Key: aws.String("bad"),
			ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
		wantCode(t, err, "InvalidRequest")
		for _, b := range []string{"lkb", "nolock"} {
			ups, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(b)})
			if err != nil || len(ups.Uploads) != 0 {
				t.Fatalf("%s: uploads left: %+v %v", b, ups, err)
			}
		}
	})

	t.Run("full-object checksums", func(t *testing.T) {
		must(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("ckb")}))
		data := pattern(5<<20 + 1234)
		parts := [][]byte{data[:5<<20], data[5<<20:]}
		for _, tc := range []struct {
			alg  types.ChecksumAlgorithm
			calg checksum.Algorithm
		}{{types.ChecksumAlgorithmCrc32, checksum.CRC32}, {types.ChecksumAlgorithmCrc32c, checksum.CRC32C}, {types.ChecksumAlgorithmCrc64nvme, checksum.CRC64NVME}} {
			key := "full-" + string(tc.alg)
			complete := func(full string) (*awss3.CompleteMultipartUploadOutput, error) {
				up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("ckb"), Key: aws.String(key),
					ChecksumAlgorithm: tc.alg, ChecksumType: types.ChecksumTypeFullObject})
				if err != nil {
					t.Fatal(err)
				}
				if up.ChecksumType != types.ChecksumTypeFullObject || up.ChecksumAlgorithm != tc.alg {
					t.Fatalf("create answered %s %s", up.ChecksumAlgorithm, up.ChecksumType)
				}
				var cps []types.CompletedPart
				for i, p := range parts {
					out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("ckb"), Key: aws.String(key), UploadId: up.UploadId,
						PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: tc.alg})
					if err != nil {
						t.Fatal(err)
					}
					cps = append(cps, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag,
						ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME})
				}
				in := &awss3.CompleteMultipartUploadInput{Bucket: aws.String("ckb"), Key: aws.String(key), UploadId: up.UploadId,
					ChecksumType: types.ChecksumTypeFullObject, MultipartUpload: &types.CompletedMultipartUpload{Parts: cps}}
				switch tc.calg {
				case checksum.CRC32:
					in.ChecksumCRC32 = aws.String(full)
				case checksum.CRC32C:
					in.ChecksumCRC32C = aws.String(full)
				default:
					in.ChecksumCRC64NVME = aws.String(full)
				}
				return c.CompleteMultipartUpload(ctx, in)
			}
			want := tc.calg.Sum(data)
			_, err := complete(tc.calg.Sum([]byte("other")))
			wantCode(t, err, "BadDigest")
			if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("ckb"), Key: aws.String(key)}); apiCode(err) != "NotFound" {
				t.Fatalf("%s: a refused Complete left an object: %v", tc.alg, err)
			}
			if _, err := complete(want); err != nil {
				t.Fatalf("%s: %v", tc.alg, err)
			}
			h, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("ckb"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			got := map[checksum.Algorithm]*string{checksum.CRC32: h.ChecksumCRC32, checksum.CRC32C: h.ChecksumCRC32C, checksum.CRC64NVME: h.ChecksumCRC64NVME}[tc.calg]
			if aws.ToString(got) != want || h.ChecksumType != types.ChecksumTypeFullObject {
				t.Fatalf("%s: HEAD checksum %q type %s, want %q FULL_OBJECT", tc.alg, aws.ToString(got), h.ChecksumType, want)
			}
			// The SDK checks the whole object's CRC as it downloads.
			obj, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("ckb"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil || !bytes.Equal(b, data) {
				t.Fatalf("%s: GET: %d bytes, %v", tc.alg, len(b), err)
			}
		}
		_, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("ckb"), Key: aws.String("x"),
			ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumType: types.ChecksumTypeFullObject})
		wantCode(t, err, "InvalidRequest")
		_, err = c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("ckb"), Key: aws.String("x"),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme, ChecksumType: types.ChecksumTypeComposite})
		wantCode(t, err, "InvalidRequest")
		// A part of another algorithm than the upload's is refused.
		up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("ckb"), Key: aws.String("x"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("ckb"), Key: aws.String("x"), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("p"), ChecksumAlgorithm: types.ChecksumAlgorithmSha1})
		wantCode(t, err, "InvalidRequest")
	})

	t.Run("BypassGovernanceRetention in a policy", func(t *testing.T) {
		must(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("gov"), ObjectLockEnabledForBucket: aws.Bool(true)}))
		other := e.awsAs(t, otherAK, otherSK)
		allow := func(actions ...string) {
			doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
				"Effect": "Allow", "Principal": map[string]any{"AWS": otherAK}, "Action": actions, "Resource": []string{"arn:aws:s3:::gov/*"}}}})
			must(c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("gov"), Policy: aws.String(string(doc))}))
		}
		lockedVersion := func(key string) string {
			out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("gov"), Key: aws.String(key), Body: strings.NewReader("x"),
				ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(time.Hour))})
			if err != nil {
				t.Fatal(err)
			}
			return aws.ToString(out.VersionId)
		}
		del := func(cl *awss3.Client, key, vid string) error {
			_, err := cl.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("gov"), Key: aws.String(key), VersionId: aws.String(vid), BypassGovernanceRetention: aws.Bool(true)})
			return err
		}
		v := lockedVersion("a")
		allow("s3:DeleteObjectVersion")
		// Allowed to delete versions, but not to bypass: the header
		// alone is not enough.
		wantCode(t, del(other, "a", v), "AccessDenied")
		allow("s3:DeleteObjectVersion", "s3:BypassGovernanceRetention")
		if err := del(other, "a", v); err != nil {
			t.Fatalf("bypass allowed by the policy: %v", err)
		}
		// A Deny of the bypass binds the owner too.
		v = lockedVersion("b")
		doc, _ := json.Marshal(map[string]any{"Statement": []any{map[string]any{
			"Effect": "Deny", "Principal": "*", "Action": "s3:BypassGovernanceRetention", "Resource": "arn:aws:s3:::gov/*"}}})
		must(c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("gov"), Policy: aws.String(string(doc))}))
		wantCode(t, del(c, "b", v), "AccessDenied")
		must(c.DeleteBucketPolicy(ctx, &awss3.DeleteBucketPolicyInput{Bucket: aws.String("gov")}))
		if err := del(c, "b", v); err != nil {
			t.Fatalf("the owner's bypass: %v", err)
		}
	})
}

// x-amz-expected-bucket-owner and x-amz-source-expected-bucket-owner:
// another owner than the bucket's is AccessDenied and changes nothing.
func TestExpectedBucketOwner(t *testing.T) {
	e, _ := newShoalEnv(t, false)
	ctx := context.Background()
	c := e.aws(t, testSK)
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("own")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("own"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("own"), Key: aws.String("k"), ExpectedBucketOwner: aws.String("12345")})
	wantCode(t, err, "AccessDenied")
	_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("own"), Key: aws.String("c"), CopySource: aws.String("own/k"), ExpectedSourceBucketOwner: aws.String("someone")})
	wantCode(t, err, "AccessDenied")
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("own"), Key: aws.String("k")}); err != nil {
		t.Fatalf("refused delete removed the object: %v", err)
	}
	// The owner named by its access key or its canonical id (uid).
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("own"), Key: aws.String("k"), ExpectedBucketOwner: aws.String(testAK)}); err != nil {
		t.Fatal(err)
	}
	acl, err := c.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: aws.String("own")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("own"), Key: aws.String("k"), ExpectedBucketOwner: acl.Owner.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("missing"), ExpectedBucketOwner: aws.String("1")})
	wantCode(t, err, "NotFound")
}
