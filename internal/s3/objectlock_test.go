package s3_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Issue 15 item 6, object lock, through aws-sdk-go-v2 on the Shoal
// backend: bucket default retention, object retention in both modes,
// legal hold, and their enforcement on deletes.
func TestObjectLock(t *testing.T) {
	e, _ := newShoalEnv(t, false)
	ctx := context.Background()
	c := e.aws(t, testSK)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	put := func(bkt, key, body string, mod ...func(*awss3.PutObjectInput)) string {
		t.Helper()
		in := &awss3.PutObjectInput{Bucket: aws.String(bkt), Key: aws.String(key), Body: strings.NewReader(body)}
		for _, m := range mod {
			m(in)
		}
		out, err := c.PutObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId)
	}
	del := func(bkt, key, vid string, bypass bool) error {
		_, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bkt), Key: aws.String(key),
			VersionId: aws.String(vid), BypassGovernanceRetention: aws.Bool(bypass)})
		return err
	}
	retain := func(bkt, key, vid string, mode types.ObjectLockRetentionMode, until time.Time, bypass bool) error {
		r := &types.ObjectLockRetention{}
		if mode != "" {
			r.Mode, r.RetainUntilDate = mode, aws.Time(until)
		}
		_, err := c.PutObjectRetention(ctx, &awss3.PutObjectRetentionInput{Bucket: aws.String(bkt), Key: aws.String(key),
			VersionId: aws.String(vid), Retention: r, BypassGovernanceRetention: aws.Bool(bypass)})
		return err
	}

	t.Run("configuration", func(t *testing.T) {
		must(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("plain")}))
		_, err := c.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: aws.String("plain")})
		wantCode(t, err, "ObjectLockConfigurationNotFoundError")
		put("plain", "k", "x")
		_, err = c.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String("plain"), Key: aws.String("k")})
		wantCode(t, err, "InvalidRequest")
		wantCode(t, retain("plain", "k", "null", types.ObjectLockRetentionModeGovernance, time.Now().Add(time.Hour), false), "InvalidRequest")
		_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("plain"), Key: aws.String("k2"), Body: strings.NewReader("x"),
			ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
		wantCode(t, err, "InvalidRequest")
		cfg := &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled}
		_, err = c.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: aws.String("plain"), ObjectLockConfiguration: cfg})
		wantCode(t, err, "InvalidBucketState") // needs versioning first
		must(c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: aws.String("plain"),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}))
		_, err = e.awsAs(t, otherAK, otherSK).PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: aws.String("plain"), ObjectLockConfiguration: cfg})
		wantCode(t, err, "AccessDenied")
		bad := &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled, Rule: &types.ObjectLockRule{
			DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1), Years: aws.Int32(1)}}}
		_, err = c.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: aws.String("plain"), ObjectLockConfiguration: bad})
		wantCode(t, err, "InvalidArgument")
		must(c.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: aws.String("plain"), ObjectLockConfiguration: cfg}))
		_, err = c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: aws.String("plain"),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
		wantCode(t, err, "InvalidBucketState")

		must(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("worm"), ObjectLockEnabledForBucket: aws.Bool(true)}))
		v, err := c.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: aws.String("worm")})
		if err != nil || v.Status != types.BucketVersioningStatusEnabled {
			t.Fatalf("versioning of a bucket made with object lock: %+v %v", v, err)
		}
		got, err := c.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: aws.String("worm")})
		if err != nil || got.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled || got.ObjectLockConfiguration.Rule != nil {
			t.Fatalf("GetObjectLockConfiguration: %+v %v", got, err)
		}
		// Policies name these actions as IAM does.
		must(c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("worm"), Policy: aws.String(`{"Version":"2012-10-17","Statement":[
			{"Effect":"Deny","Principal":"*","Action":["s3:GetBucketObjectLockConfiguration","s3:PutObjectRetention"],"Resource":["arn:aws:s3:::worm","arn:aws:s3:::worm/*"]}]}`)}))
		_, err = c.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: aws.String("worm")})
		wantCode(t, err, "AccessDenied")
		put("worm", "p", "x")
		wantCode(t, retain("worm", "p", "", types.ObjectLockRetentionModeGovernance, time.Now().Add(time.Hour), false), "AccessDenied")
		must(c.DeleteBucketPolicy(ctx, &awss3.DeleteBucketPolicyInput{Bucket: aws.String("worm")}))
		vs, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String("worm"), Prefix: aws.String("p")})
		if err != nil || len(vs.Versions) != 1 {
			t.Fatalf("versions of p: %+v %v", vs, err)
		}
		must(nil, del("worm", "p", aws.ToString(vs.Versions[0].VersionId), false))
	})

	t.Run("default governance retention", func(t *testing.T) {
		must(c.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: aws.String("worm"),
			ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled, Rule: &types.ObjectLockRule{
				DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}}}}))
		got, err := c.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: aws.String("worm")})
		if err != nil || got.ObjectLockConfiguration.Rule == nil || aws.ToInt32(got.ObjectLockConfiguration.Rule.DefaultRetention.Days) != 1 {
			t.Fatalf("GetObjectLockConfiguration: %+v %v", got, err)
		}
		v1 := put("worm", "g", "one")
		v2 := put("worm", "g", "two") // an overwrite is a new version
		if v1 == v2 || v1 == "" {
			t.Fatalf("versions %q %q", v1, v2)
		}
		h, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("worm"), Key: aws.String("g"), VersionId: aws.String(v1)})
		if err != nil || h.ObjectLockMode != types.ObjectLockModeGovernance ||
			time.Until(aws.ToTime(h.ObjectLockRetainUntilDate)) < 23*time.Hour || time.Until(aws.ToTime(h.ObjectLockRetainUntilDate)) > 25*time.Hour {
			t.Fatalf("HEAD of a version under default retention: %+v %v", h, err)
		}
		r, err := c.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String("worm"), Key: aws.String("g"), VersionId: aws.String(v1)})
		if err != nil || r.Retention.Mode != types.ObjectLockRetentionModeGovernance {
			t.Fatalf("GetObjectRetention: %+v %v", r, err)
		}
		// Default retention holds for every writer (here another key in
		// a public-read-write bucket), who cannot lift it.
		must(c.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("worm"), ACL: types.BucketCannedACLPublicReadWrite}))
		other := e.awsAs(t, otherAK, otherSK)
		po, err := other.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("worm"), Key: aws.String("o"), Body: strings.NewReader("other")})
		if err != nil {
			t.Fatal(err)
		}
		ho, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("worm"), Key: aws.String("o")})
		if err != nil || ho.ObjectLockMode != types.ObjectLockModeGovernance {
			t.Fatalf("another writer's version: %+v %v", ho, err)
		}
		_, err = other.PutObjectRetention(ctx, &awss3.PutObjectRetentionInput{Bucket: aws.String("worm"), Key: aws.String("o"),
			VersionId: po.VersionId, Retention: &types.ObjectLockRetention{}, BypassGovernanceRetention: aws.Bool(true)})
		wantCode(t, err, "AccessDenied")
		must(c.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("worm"), ACL: types.BucketCannedACLPrivate}))
		must(c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("o"), VersionId: po.VersionId, BypassGovernanceRetention: aws.Bool(true)}))
		wantCode(t, del("worm", "g", v1, false), "AccessDenied")
		wantCode(t, del("worm", "g", v2, false), "AccessDenied") // the latest too
		// Shortening needs the bypass; extending does not.
		until := aws.ToTime(r.Retention.RetainUntilDate)
		wantCode(t, retain("worm", "g", v1, types.ObjectLockRetentionModeGovernance, until.Add(-time.Hour), false), "AccessDenied")
		if err := retain("worm", "g", v1, types.ObjectLockRetentionModeGovernance, until.Add(time.Hour), false); err != nil {
			t.Fatal(err)
		}
		wantCode(t, retain("worm", "g", v1, "", time.Time{}, false), "AccessDenied")
		_, err = e.awsAs(t, otherAK, otherSK).DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("g"),
			VersionId: aws.String(v1), BypassGovernanceRetention: aws.Bool(true)})
		wantCode(t, err, "AccessDenied")
		// A delete without a version id adds a marker: allowed.
		dm, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("g")})
		if err != nil || !aws.ToBool(dm.DeleteMarker) {
			t.Fatalf("delete marker on a locked key: %+v %v", dm, err)
		}
		out, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("worm"), Delete: &types.Delete{
			Objects: []types.ObjectIdentifier{{Key: aws.String("g"), VersionId: aws.String(v2)}}}})
		if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "AccessDenied" {
			t.Fatalf("DeleteObjects of a locked version: %+v %v", out, err)
		}
		if err := del("worm", "g", v1, true); err != nil {
			t.Fatalf("governance bypass: %v", err)
		}
		if err := retain("worm", "g", v2, "", time.Time{}, true); err != nil {
			t.Fatalf("removing governance retention with the bypass: %v", err)
		}
		_, err = c.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String("worm"), Key: aws.String("g"), VersionId: aws.String(v2)})
		wantCode(t, err, "NoSuchObjectLockConfiguration")
		if err := del("worm", "g", v2, false); err != nil {
			t.Fatalf("delete after the retention was removed: %v", err)
		}
	})

	t.Run("compliance and legal hold", func(t *testing.T) {
		must(c.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: aws.String("worm"),
			ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled}}))
		until := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
		vc := put("worm", "c", "kept", func(in *awss3.PutObjectInput) {
			in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockModeCompliance, aws.Time(until)
		})
		g, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("worm"), Key: aws.String("c")})
		if err != nil || g.ObjectLockMode != types.ObjectLockModeCompliance || !aws.ToTime(g.ObjectLockRetainUntilDate).Equal(until) {
			t.Fatalf("GET of a compliance version: %+v %v", g, err)
		}
		g.Body.Close()
		wantCode(t, del("worm", "c", vc, true), "AccessDenied") // no bypass for compliance
		wantCode(t, retain("worm", "c", vc, types.ObjectLockRetentionModeCompliance, until.Add(-time.Minute), true), "AccessDenied")
		wantCode(t, retain("worm", "c", vc, types.ObjectLockRetentionModeGovernance, until.Add(time.Hour), true), "AccessDenied")
		wantCode(t, retain("worm", "c", vc, types.ObjectLockRetentionModeCompliance, time.Now().Add(-time.Minute), false), "InvalidArgument")
		if err := retain("worm", "c", vc, types.ObjectLockRetentionModeCompliance, until.Add(time.Hour), false); err != nil {
			t.Fatalf("extending compliance retention: %v", err)
		}

		vh := put("worm", "h", "held")
		_, err = c.GetObjectLegalHold(ctx, &awss3.GetObjectLegalHoldInput{Bucket: aws.String("worm"), Key: aws.String("h")})
		wantCode(t, err, "NoSuchObjectLockConfiguration")
		hold := func(st types.ObjectLockLegalHoldStatus) {
			t.Helper()
			must(c.PutObjectLegalHold(ctx, &awss3.PutObjectLegalHoldInput{Bucket: aws.String("worm"), Key: aws.String("h"),
				VersionId: aws.String(vh), LegalHold: &types.ObjectLockLegalHold{Status: st}}))
			got, err := c.GetObjectLegalHold(ctx, &awss3.GetObjectLegalHoldInput{Bucket: aws.String("worm"), Key: aws.String("h"), VersionId: aws.String(vh)})
			if err != nil || got.LegalHold.Status != st {
				t.Fatalf("GetObjectLegalHold: %+v %v", got, err)
			}
		}
		hold(types.ObjectLockLegalHoldStatusOn)
		// Overwriting keeps the held version and makes a new one.
		vh2 := put("worm", "h", "newer")
		wantCode(t, del("worm", "h", vh, true), "AccessDenied")
		hold(types.ObjectLockLegalHoldStatusOff)
		if err := del("worm", "h", vh, false); err != nil {
			t.Fatalf("delete after the hold was lifted: %v", err)
		}
		if err := del("worm", "h", vh2, false); err != nil {
			t.Fatal(err)
		}
		vs, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String("worm")})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, v := range vs.Versions {
			keys = append(keys, aws.ToString(v.Key))
		}
		if strings.Join(keys, ",") != "c" {
			t.Fatalf("versions left: %v", keys)
		}
	})
}
