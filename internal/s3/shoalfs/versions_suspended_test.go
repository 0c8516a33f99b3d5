package shoalfs_test

import (
	"bytes"
	"testing"

	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/shoalfs"
)

// On a suspended bucket a delete or a PUT that fails (here: by a user who
// may not write the bucket) leaves every version as it was; both used to
// drop the stored null version before they failed.
func TestSuspendedRefusedDeleteKeepsVersions(t *testing.T) {
	f := newFixture(t, shoalfs.Options{})
	be := f.be
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(be.CreateBucket(ctx, user, "bkt"))
	_, err := put(be, "bkt", "k", []byte("v0"), s3.WriteCond{})
	must(err)
	must(be.PutBucketConfig(ctx, user, "bkt", s3.ConfVersioning, []byte("Enabled")))
	_, err = put(be, "bkt", "k", []byte("v1"), s3.WriteCond{})
	must(err)
	must(be.PutBucketConfig(ctx, user, "bkt", s3.ConfVersioning, []byte("Suspended")))
	count := func() int {
		p, err := be.ListVersions(ctx, user, "bkt", s3.ListVersionsInput{Max: 1000})
		must(err)
		return len(p.Versions)
	}
	must(f.c.Chmod("/bkt", 0o755))
	before := count()
	bob := s3.Identity{AccessKey: "b", Uid: 2000, Gid: 2000}
	_, err = be.DeleteVersion(ctx, bob, "bkt", "k", "", nil)
	t.Logf("bob's delete: %v", err)
	if err == nil {
		t.Fatal("a stranger deleted in a bucket it may not write")
	}
	if after := count(); after != before {
		t.Fatalf("a refused delete changed the versions: %d -> %d", before, after)
	}
}

func TestSuspendedFailedPutKeepsVersions(t *testing.T) {
	f := newFixture(t, shoalfs.Options{})
	be := f.be
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(be.CreateBucket(ctx, user, "bkt"))
	_, err := put(be, "bkt", "k", []byte("v0"), s3.WriteCond{})
	must(err)
	must(be.PutBucketConfig(ctx, user, "bkt", s3.ConfVersioning, []byte("Enabled")))
	_, err = put(be, "bkt", "k", []byte("v1"), s3.WriteCond{})
	must(err)
	must(be.PutBucketConfig(ctx, user, "bkt", s3.ConfVersioning, []byte("Suspended")))
	must(f.c.Chmod("/bkt", 0o755))
	count := func() int {
		p, err := be.ListVersions(ctx, user, "bkt", s3.ListVersionsInput{Max: 1000})
		must(err)
		return len(p.Versions)
	}
	before := count()
	bob := user
	bob.Uid, bob.Gid, bob.AccessKey = 2000, 2000, "b"
	_, err = be.PutObject(ctx, bob, "bkt", "k", s3.PutInput{Body: bytes.NewReader([]byte("x")), Size: 1,
		Digest: func() s3.Digest { return s3.Digest{MD5: md5hex([]byte("x"))} }}, s3.WriteCond{})
	t.Logf("bob's put: %v", err)
	if err == nil {
		t.Fatal("a stranger wrote in a bucket it may not write")
	}
	if after := count(); after != before {
		t.Fatalf("a failed put changed the versions: %d -> %d", before, after)
	}
}
