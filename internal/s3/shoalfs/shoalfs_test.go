package shoalfs_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/mem"
	"github.com/shoalfs/shoal/internal/s3/shoalfs"
)

var (
	ctx  = context.Background()
	user = s3.Identity{AccessKey: "u", Uid: 1000, Gid: 1000}
)

type fixture struct {
	c   *shoal.Client
	be  *shoalfs.Backend
	dir string
}

func newFixture(t *testing.T, opts shoalfs.Options) *fixture {
	t.Helper()
	dir := t.TempDir()
	c, err := shoal.OpenLocal(ctx, dir, shoal.WithGCInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Chmod("/", 0o777); err != nil {
		t.Fatal(err)
	}
	be, err := shoalfs.New(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		be.Close()
		if err := c.GC(); err != nil {
			t.Error(err)
		}
		if probs, err := c.Check(true); err != nil || len(probs) > 0 {
			t.Errorf("check: %v %v", err, probs)
		}
		c.Close()
	})
	return &fixture{c: c, be: be, dir: dir}
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func put(be s3.Backend, bucket, key string, data []byte, cond s3.WriteCond) (s3.ObjectInfo, error) {
	return be.PutObject(ctx, user, bucket, key, s3.PutInput{
		Body: bytes.NewReader(data), Size: int64(len(data)),
		Meta:   s3.ObjectMeta{ContentType: "text/x", User: map[string]string{"k": "v"}},
		Digest: func() s3.Digest { return s3.Digest{MD5: md5hex(data)} },
	}, cond)
}

func read(t *testing.T, be s3.Backend, bucket, key string) []byte {
	t.Helper()
	o, err := be.GetObject(ctx, user, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Body.Close()
	b, err := io.ReadAll(o.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// entries lists a directory through the SDK, as its users see it.
func entries(t *testing.T, c *shoal.Client, dir string) []string {
	t.Helper()
	des, err := c.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range des {
		out = append(out, d.Name())
	}
	return out
}

// TestListMatchesMem lists the same keys from shoalfs and from mem (the
// reference of S3 order and folding) with many inputs, page by page.
func TestListMatchesMem(t *testing.T) {
	f := newFixture(t, shoalfs.Options{})
	ref := mem.New()
	for _, be := range []s3.Backend{f.be, ref} {
		if err := be.CreateBucket(ctx, user, "lst"); err != nil {
			t.Fatal(err)
		}
	}
	keys := []string{"a", "a-b", "a.b", "a0", "a b", "b/c-d/e", "b/c.d", "b/c/d", "b/c/e/f", "b/c0",
		"dir/", "dir/x", "c/d/e/f/g", "c/d/e/f/h", "c/d-", "ü/x", "z", "zz/", "zz/a/"}
	for i := 0; i < 40; i++ {
		keys = append(keys, fmt.Sprintf("m/%02d/x", i%7)+strings.Repeat("y", i%3))
	}
	for _, k := range keys {
		for _, be := range []s3.Backend{f.be, ref} {
			if _, err := put(be, "lst", k, nil, s3.WriteCond{}); err != nil {
				t.Fatalf("put %q: %v", k, err)
			}
		}
	}
	prefixes := []string{"", "a", "b/", "b/c", "b/c/", "c/d/", "m/0", "m/03/", "zz/", "q", "dir/"}
	delims := []string{"", "/", "-", "c/"}
	starts := append([]string{"", "a-", "b/c/", "b/c/d", "m/03/", "zz", "\xff"}, keys...)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 400; i++ {
		in := s3.ListInput{
			Prefix:     prefixes[r.IntN(len(prefixes))],
			Delimiter:  delims[r.IntN(len(delims))],
			StartAfter: starts[r.IntN(len(starts))],
			Max:        1 + r.IntN(6),
		}
		for page := 0; page < 100; page++ {
			got, err := f.be.List(ctx, user, "lst", in)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.List(ctx, user, "lst", in)
			if g, w := summary(got), summary(want); g != w {
				t.Fatalf("List(%+v):\n got %s\nwant %s", in, g, w)
			}
			if !got.Truncated {
				break
			}
			in.StartAfter = got.Next
		}
	}
}

func summary(p s3.ListPage) string {
	var b strings.Builder
	for _, o := range p.Objects {
		fmt.Fprintf(&b, "%q(%d,%s) ", o.Key, o.Size, o.ETag)
	}
	fmt.Fprintf(&b, "| %q trunc=%v next=%q", p.CommonPrefixes, p.Truncated, p.Next)
	return b.String()
}

func TestConflictsLeaveNothing(t *testing.T) {
	f := newFixture(t, shoalfs.Options{})
	be := f.be
	if err := be.CreateBucket(ctx, user, "bkt"); err != nil {
		t.Fatal(err)
	}
	if _, err := put(be, "bkt", "a/b/c", []byte("x"), s3.WriteCond{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "a/b", "a/b/c/d", "a/b/c/d/e/f"} {
		if _, err := put(be, "bkt", k, []byte("y"), s3.WriteCond{}); !errors.Is(err, s3.ErrKeyConflict) {
			t.Fatalf("put %q: want a key conflict, got %v", k, err)
		}
	}
	for _, k := range []string{"a//b", "./a", "a/../b", "a/./b", strings.Repeat("x", 256), "/a"} {
		if _, err := put(be, "bkt", k, []byte("y"), s3.WriteCond{}); err == nil {
			t.Fatalf("put %q succeeded", k)
		}
	}
	// Conditional writes.
	if _, err := put(be, "bkt", "a/b/c", []byte("z"), s3.WriteCond{IfNoneMatchStar: true}); !errors.Is(err, s3.ErrPreconditionFailed) {
		t.Fatalf("If-None-Match: %v", err)
	}
	if _, err := put(be, "bkt", "a/b/c", []byte("z"), s3.WriteCond{IfMatch: "nope"}); !errors.Is(err, s3.ErrPreconditionFailed) {
		t.Fatalf("If-Match: %v", err)
	}
	if _, err := put(be, "bkt", "a/b/c", []byte("z"), s3.WriteCond{IfMatch: md5hex([]byte("x"))}); err != nil {
		t.Fatal(err)
	}
	// A failing body leaves nothing either.
	_, err := be.PutObject(ctx, user, "bkt", "new/dir/obj", s3.PutInput{
		Body: io.MultiReader(strings.NewReader("abc"), errReader{}), Size: 10,
		Digest: func() s3.Digest { return s3.Digest{} }}, s3.WriteCond{})
	if err == nil {
		t.Fatal("failed body stored")
	}
	if got := entries(t, f.c, "bkt"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("bucket holds %q", got)
	}
	if got := entries(t, f.c, ".shoal-s3/tmp"); len(got) != 0 {
		t.Fatalf("staging holds %q", got)
	}
	// Deleting the last object under a directory removes the directories.
	if err := be.DeleteObject(ctx, user, "bkt", "a/b/c"); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, f.c, "bkt"); len(got) != 0 {
		t.Fatalf("bucket holds %q after delete", got)
	}
	if _, err := put(be, "bkt", "a", []byte("now a file"), s3.WriteCond{}); err != nil {
		t.Fatal(err)
	}
	if err := be.DeleteBucket(ctx, user, "bkt"); !errors.Is(err, s3.ErrBucketNotEmpty) {
		t.Fatalf("delete non-empty bucket: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("bad signature") }

// TestSDKInterop: objects are files and files are objects.
func TestSDKInterop(t *testing.T) {
	f := newFixture(t, shoalfs.Options{})
	be, c := f.be, f.c
	if err := be.CreateBucket(ctx, user, "bkt"); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 100000)
	oi, err := put(be, "bkt", "dir/obj", data, s3.WriteCond{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadFile("bkt/dir/obj")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("SDK read of an S3 object: %v", err)
	}
	if err := c.WriteFile("bkt/dir/sdk", []byte("from the SDK"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Chown("bkt/dir/sdk", 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if b := read(t, be, "bkt", "dir/sdk"); string(b) != "from the SDK" {
		t.Fatalf("S3 read of an SDK file: %q", b)
	}
	h, err := be.HeadObject(ctx, user, "bkt", "dir/sdk")
	if err != nil || h.ETag == "" || h.Size != 12 {
		t.Fatalf("head of an SDK file: %+v %v", h, err)
	}
	// Changing an S3 object through the SDK changes its ETag.
	h1, _ := be.HeadObject(ctx, user, "bkt", "dir/obj")
	if h1.ETag != oi.ETag || h1.Meta.ContentType != "text/x" || h1.Meta.User["k"] != "v" {
		t.Fatalf("head: %+v", h1)
	}
	time.Sleep(2 * time.Millisecond)
	if err := c.WriteFile("bkt/dir/obj", []byte("rewritten"), 0o644); err != nil {
		t.Fatal(err)
	}
	if h2, _ := be.HeadObject(ctx, user, "bkt", "dir/obj"); h2.ETag == oi.ETag {
		t.Fatal("ETag unchanged after a rewrite through the SDK")
	}
	// Staging is invisible: upload parts, list the bucket both ways.
	id, err := be.CreateMultipart(ctx, user, "bkt", "mp", s3.ObjectMeta{})
	if err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte("p"), 5<<20)
	if _, err := be.PutPart(ctx, user, "bkt", "mp", id, 1, s3.PutInput{Body: bytes.NewReader(part), Size: int64(len(part)),
		Digest: func() s3.Digest { return s3.Digest{MD5: md5hex(part)} }}); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, c, "bkt"); !slices.Equal(got, []string{"dir"}) {
		t.Fatalf("SDK sees %q in the bucket", got)
	}
	page, err := be.List(ctx, user, "bkt", s3.ListInput{})
	if err != nil || len(page.Objects) != 2 {
		t.Fatalf("list: %+v %v", page, err)
	}
	// Permissions apply: another user cannot read a 0600 file.
	if err := c.Chmod("bkt/dir/sdk", 0o600); err != nil {
		t.Fatal(err)
	}
	other := s3.Identity{AccessKey: "o", Uid: 2000, Gid: 2000}
	if _, err := be.GetObject(ctx, other, "bkt", "dir/sdk"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("read by another user: %v", err)
	}
	if err := be.AbortMultipart(ctx, user, "bkt", "mp", id); err != nil {
		t.Fatal(err)
	}
}

func countBlocks(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(filepath.Join(dir, "blocks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// TestCopiesShareBlocks: CopyObject, UploadPartCopy and completion write
// no block.
func TestCopiesShareBlocks(t *testing.T) {
	f := newFixture(t, shoalfs.Options{})
	be := f.be
	if err := be.CreateBucket(ctx, user, "bkt"); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 9<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	src, err := put(be, "bkt", "src", data, s3.WriteCond{})
	if err != nil {
		t.Fatal(err)
	}
	blocks := countBlocks(t, f.dir)
	cp, err := be.CopyObject(ctx, user, "bkt", "copy/of/src", s3.CopyInput{SrcBucket: "bkt", SrcKey: "src"})
	if err != nil || cp.ETag != src.ETag {
		t.Fatalf("copy: %+v %v", cp, err)
	}
	id, err := be.CreateMultipart(ctx, user, "bkt", "mp", s3.ObjectMeta{ContentType: "a/b"})
	if err != nil {
		t.Fatal(err)
	}
	var parts []s3.CompletePart
	for i, r := range [][2]int64{{0, 5 << 20}, {5 << 20, 4 << 20}, {3, 100}} {
		p, err := be.CopyPart(ctx, user, "bkt", "mp", id, i+1, "bkt", "src", "", r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, s3.CompletePart{Number: p.Number, ETag: p.ETag})
	}
	if _, err := be.CompleteMultipart(ctx, user, "bkt", "mp", id, parts, "x-3", s3.WriteCond{}); err != nil {
		t.Fatal(err)
	}
	if n := countBlocks(t, f.dir); n != blocks {
		t.Fatalf("copies wrote blocks: %d, then %d", blocks, n)
	}
	if got := read(t, be, "bkt", "copy/of/src"); !bytes.Equal(got, data) {
		t.Fatal("copy differs")
	}
	want := append(append([]byte(nil), data...), data[3:103]...)
	if got := read(t, be, "bkt", "mp"); !bytes.Equal(got, want) {
		t.Fatal("multipart copy differs")
	}
	h, _ := be.HeadObject(ctx, user, "bkt", "mp")
	if h.ETag != "x-3" || !slices.Equal(h.PartSizes, []int64{5 << 20, 4 << 20, 100}) || h.Meta.ContentType != "a/b" {
		t.Fatalf("completed object: %+v", h)
	}
	// Deleting the source leaves the copies whole.
	if err := be.DeleteObject(ctx, user, "bkt", "src"); err != nil {
		t.Fatal(err)
	}
	if err := f.c.GC(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, be, "bkt", "copy/of/src"); !bytes.Equal(got, data) {
		t.Fatal("copy damaged by deleting its source")
	}
}

func TestCleanAbandoned(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	f := newFixture(t, shoalfs.Options{Now: func() time.Time { return clock() }, UploadTTL: time.Hour})
	be := f.be
	if err := be.CreateBucket(ctx, user, "bkt"); err != nil {
		t.Fatal(err)
	}
	old, _ := be.CreateMultipart(ctx, user, "bkt", "k", s3.ObjectMeta{})
	now = now.Add(2 * time.Hour)
	fresh, _ := be.CreateMultipart(ctx, user, "bkt", "k", s3.ObjectMeta{})
	n, err := be.Clean(ctx)
	if err != nil || n != 1 {
		t.Fatalf("clean: %d %v", n, err)
	}
	ups, _, err := be.ListUploads(ctx, user, "bkt", s3.ListUploadsInput{})
	if err != nil || len(ups) != 1 || ups[0].UploadID != fresh {
		t.Fatalf("uploads after clean: %+v %v (old %s)", ups, err, old)
	}
	if err := be.AbortMultipart(ctx, user, "bkt", "k", fresh); err != nil {
		t.Fatal(err)
	}
	_ = os.Getpid
}
