package s3_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/shoalfs/shoal/internal/s3/sigv4"
)

// Issue 15 item 1 through aws-sdk-go-v2, on the Shoal backend (the
// memory backend keeps no versions and refuses to enable them).
func TestVersioning(t *testing.T) {
	e, fsc := newShoalEnv(t, false)
	ctx := context.Background()
	c := e.aws(t, testSK)
	bkt := aws.String("ver")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: bkt}); err != nil {
		t.Fatal(err)
	}
	enable := func(st types.BucketVersioningStatus) {
		t.Helper()
		if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: bkt,
			VersioningConfiguration: &types.VersioningConfiguration{Status: st}}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(key string, vid *string) (string, *awss3.GetObjectOutput, error) {
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bkt, Key: aws.String(key), VersionId: vid})
		if err != nil {
			return "", nil, err
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		return string(b), out, nil
	}
	put := func(key, body string) string {
		t.Helper()
		out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: aws.String(key), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId)
	}
	versions := func(in *awss3.ListObjectVersionsInput) (vs []string) {
		t.Helper()
		in.Bucket = bkt
		p := awss3.NewListObjectVersionsPaginator(c, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var page []string
			for _, v := range out.Versions {
				page = append(page, *v.Key+"@"+*v.VersionId+map[bool]string{true: "*"}[aws.ToBool(v.IsLatest)])
			}
			for _, d := range out.DeleteMarkers {
				page = append(page, *d.Key+"@"+*d.VersionId+"!"+map[bool]string{true: "*"}[aws.ToBool(d.IsLatest)])
			}
			vs = append(vs, page...)
		}
		return vs
	}

	put("k", "null one") // before versioning: the null version
	if v, err := c.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: bkt}); err != nil || v.Status != "" {
		t.Fatalf("versioning before: %+v %v", v, err)
	}
	enable(types.BucketVersioningStatusEnabled)
	if v, _ := c.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: bkt}); v.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("status %q", v.Status)
	}
	v1 := put("k", "one")
	v2 := put("k", "two")
	v3 := put("k", "three")
	if v1 == "" || v1 == v2 || v2 == v3 {
		t.Fatalf("version ids %q %q %q", v1, v2, v3)
	}
	if body, out, err := get("k", nil); err != nil || body != "three" || aws.ToString(out.VersionId) != v3 {
		t.Fatalf("latest: %q %v", body, err)
	}
	for vid, want := range map[string]string{v1: "one", v2: "two", "null": "null one"} {
		if body, _, err := get("k", aws.String(vid)); err != nil || body != want {
			t.Fatalf("version %s: %q %v", vid, body, err)
		}
	}
	if h, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: bkt, Key: aws.String("k"), VersionId: aws.String(v2)}); err != nil || aws.ToInt64(h.ContentLength) != 3 {
		t.Fatalf("head version: %+v %v", h, err)
	}
	_, _, err := get("k", aws.String("00000000000000000000abcd"))
	wantCode(t, err, "NoSuchVersion")
	want := []string{"k@" + v3 + "*", "k@" + v2, "k@" + v1, "k@null"}
	if got := versions(&awss3.ListObjectVersionsInput{}); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("versions %v want %v", got, want)
	}
	if got := versions(&awss3.ListObjectVersionsInput{MaxKeys: aws.Int32(1)}); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("paged versions %v want %v", got, want)
	}
	// The SDK's view of the bucket holds the latest only.
	ents, err := fs.ReadDir(fsc, "ver")
	if err != nil || len(ents) != 1 || ents[0].Name() != "k" {
		t.Fatalf("SDK view of the bucket: %v %v", ents, err)
	}
	if data, err := fs.ReadFile(fsc, "ver/k"); err != nil || string(data) != "three" {
		t.Fatalf("SDK reads %q %v", data, err)
	}

	// A delete makes a marker; the key is gone, its versions stay.
	del, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bkt, Key: aws.String("k")})
	if err != nil || !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) == "" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	dm := aws.ToString(del.VersionId)
	_, _, err = get("k", nil)
	wantCode(t, err, "NoSuchKey")
	resp := do(t, e, signed(e, "HEAD", "/ver/k", nil, sigv4.EmptySHA256, time.Now(), testSK))
	if resp.StatusCode != 404 || resp.Header.Get("x-amz-delete-marker") != "true" || resp.Header.Get("x-amz-version-id") != dm {
		t.Fatalf("HEAD after delete: %s %v", resp.Status, resp.Header)
	}
	resp = do(t, e, signed(e, "GET", "/ver/k?versionId="+dm, nil, sigv4.EmptySHA256, time.Now(), testSK))
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("x-amz-delete-marker") != "true" {
		t.Fatalf("GET of a delete marker: %s", resp.Status)
	}
	resp.Body.Close()
	if _, err := fsc.Stat("ver/k"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the SDK still sees the deleted key: %v", err)
	}
	if body, _, err := get("k", aws.String(v2)); err != nil || body != "two" {
		t.Fatalf("old version after delete: %q %v", body, err)
	}
	if got := versions(&awss3.ListObjectVersionsInput{}); len(got) != 5 || got[4] != "k@"+dm+"!*" {
		t.Fatalf("versions after delete %v", got)
	}
	// Removing the marker brings the newest version back.
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bkt, Key: aws.String("k"), VersionId: aws.String(dm)}); err != nil {
		t.Fatal(err)
	}
	if body, _, err := get("k", nil); err != nil || body != "three" {
		t.Fatalf("after removing the marker: %q %v", body, err)
	}
	// Removing the latest by id makes the next newest the latest.
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bkt, Key: aws.String("k"), VersionId: aws.String(v3)}); err != nil {
		t.Fatal(err)
	}
	if body, out, err := get("k", nil); err != nil || body != "two" || aws.ToString(out.VersionId) != v2 {
		t.Fatalf("after removing the latest: %q %v", body, err)
	}
	// CopySource by version, and tags by version.
	cp, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: bkt, Key: aws.String("copy"), CopySource: aws.String("ver/k?versionId=" + v1)})
	if err != nil || aws.ToString(cp.CopySourceVersionId) != v1 {
		t.Fatalf("copy of a version: %+v %v", cp, err)
	}
	if body, _, err := get("copy", nil); err != nil || body != "one" {
		t.Fatalf("copied version %q %v", body, err)
	}
	if tg, err := c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: bkt, Key: aws.String("k"), VersionId: aws.String(v1)}); err != nil || len(tg.TagSet) != 0 {
		t.Fatalf("tags of a version: %+v %v", tg, err)
	}
	// Prefix and delimiter over latest and stored versions.
	put("d/a", "1")
	put("d/a", "2")
	c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bkt, Key: aws.String("d/b")}) // a marker with no version before it
	out, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: bkt, Delimiter: aws.String("/")})
	if err != nil || len(out.CommonPrefixes) != 1 || *out.CommonPrefixes[0].Prefix != "d/" {
		t.Fatalf("delimited versions: %+v %v", out, err)
	}
	if got := versions(&awss3.ListObjectVersionsInput{Prefix: aws.String("d/")}); len(got) != 3 || !strings.HasSuffix(got[2], "!*") {
		t.Fatalf("versions under d/: %v", got)
	}

	// Suspended: writes make the null version, replacing the null one.
	enable(types.BucketVersioningStatusSuspended)
	if vid := put("k", "suspended"); vid != "" && vid != "null" {
		t.Fatalf("suspended put made version %q", vid)
	}
	if body, _, err := get("k", aws.String("null")); err != nil || body != "suspended" {
		t.Fatalf("null version after suspended put: %q %v", body, err)
	}
	nulls := 0
	for _, v := range versions(&awss3.ListObjectVersionsInput{Prefix: aws.String("k")}) {
		if strings.HasPrefix(v, "k@null") {
			nulls++
		}
	}
	if nulls != 1 {
		t.Fatalf("%d null versions of k", nulls)
	}

	// With only older versions left, the bucket is not empty.
	for _, k := range []string{"k", "copy", "d/a"} {
		if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bkt, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if ents, err := fs.ReadDir(fsc, "ver"); err != nil || len(ents) != 0 {
		t.Fatalf("bucket directory after deleting the latest versions: %v %v", ents, err)
	}
	_, err = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: bkt})
	wantCode(t, err, "BucketNotEmpty")
	// Delete every version: the bucket is empty and can go.
	all, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: bkt})
	if err != nil {
		t.Fatal(err)
	}
	var ids []types.ObjectIdentifier
	for _, v := range all.Versions {
		ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
	}
	for _, d := range all.DeleteMarkers {
		ids = append(ids, types.ObjectIdentifier{Key: d.Key, VersionId: d.VersionId})
	}
	sort.Slice(ids, func(i, j int) bool { return *ids[i].Key < *ids[j].Key })
	if _, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: bkt, Delete: &types.Delete{Objects: ids}}); err != nil {
		t.Fatal(err)
	}
	if left := versions(&awss3.ListObjectVersionsInput{}); len(left) != 0 {
		t.Fatalf("versions left: %v", left)
	}
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: bkt}); err != nil {
		t.Fatal(err)
	}
}

func TestVersioningNeedsAVersioner(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	c := e.aws(t, testSK)
	c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("mvb")})
	_, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: aws.String("mvb"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	wantCode(t, err, "NotImplemented")
}
