package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	miniocred "github.com/minio/minio-go/v7/pkg/credentials"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/inproc"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/s3"
	"github.com/shoalfs/shoal/internal/s3/shoalfs"
	"github.com/shoalfs/shoal/internal/server"
)

// s3On is the S3 configuration `shoal server` builds (internal/cli), on
// a kernel-picked port.
func s3On() server.S3Config {
	return server.S3Config{Listen: "127.0.0.1:0", Handler: func(ctx context.Context, m meta.Service, store objstore.Store, ak, sk string) (http.Handler, io.Closer, error) {
		c, err := inproc.NewClient[*shoal.Client](m, store, inproc.Options{})
		if err != nil {
			return nil, nil, err
		}
		h, closer, err := shoalfs.NewGateway(ctx, c, s3.Config{Credentials: []s3.Credential{{AccessKey: ak, SecretKey: sk}}}, shoalfs.Options{})
		if err != nil {
			return nil, nil, err
		}
		return h, statsCloser{closer, c}, nil
	}}
}

// statsCloser reports the gateway client's data counters, as
// internal/cli's does.
type statsCloser struct {
	io.Closer
	c *shoal.Client
}

func (s statsCloser) DataStats() data.Stats { return inproc.DataStats(s.c) }

// TestS3 drives `shoal server`'s S3 port with aws-sdk-go-v2 and
// minio-go, and crosses over to the filesystem through shoal.Dial.
func TestS3(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, stop := start(t, server.Config{DataDir: dir, S3: s3On()})
	ak, sk := srv.S3Keys()
	if srv.S3Addr() == "" || ak == "" || sk == "" {
		t.Fatalf("S3 not running: %q %q", srv.S3Addr(), ak)
	}
	fi, err := os.Stat(filepath.Join(dir, "s3-root-key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated key file: %v %v", fi, err)
	}
	var banner bytes.Buffer
	srv.Banner(&banner)
	if !strings.Contains(banner.String(), sk) || !strings.Contains(banner.String(), srv.S3Addr()) {
		t.Fatalf("banner lacks the S3 address or key:\n%s", banner.String())
	}

	c := awss3.New(awss3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
		BaseEndpoint: aws.String("http://" + srv.S3Addr()),
		UsePathStyle: true,
	})
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("shoal "), 300000)
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/obj"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("copy"), CopySource: aws.String("bkt/dir/obj")}); err != nil {
		t.Fatal(err)
	}
	// The filesystem sees the objects, and S3 sees its files.
	fc := dial(t, srv.Addr())
	got, err := fc.ReadFile("bkt/copy")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("SDK read of an S3 copy: %d bytes, %v", len(got), err)
	}
	must(t, fc.WriteFile("bkt/dir/from-sdk", []byte("hello"), 0o644))
	g, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/from-sdk")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if string(b) != "hello" {
		t.Fatalf("S3 read of an SDK file: %q", b)
	}
	l, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("bkt"), Delimiter: aws.String("/")})
	if err != nil || len(l.Contents) != 1 || len(l.CommonPrefixes) != 1 || *l.CommonPrefixes[0].Prefix != "dir/" {
		t.Fatalf("list: %+v %v", l, err)
	}
	ents, err := fc.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "bkt" && e.Name() != ".shoal-s3" {
			t.Fatalf("unexpected root entry %q", e.Name())
		}
	}

	// minio-go, multipart through its streaming uploader.
	mc, err := minio.New(srv.S3Addr(), &minio.Options{Creds: miniocred.NewStaticV4(ak, sk, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 12<<16) // 12 MiB
	if _, err := mc.PutObject(ctx, "bkt", "big", bytes.NewReader(big), -1, minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
		t.Fatal(err)
	}
	if got, err := fc.ReadFile("bkt/big"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("SDK read of a multipart object: %d bytes, %v", len(got), err)
	}
	o, err := mc.GetObject(ctx, "bkt", "big", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(o); !bytes.Equal(got, big) {
		t.Fatal("minio read back differs")
	}
	var del []types.ObjectIdentifier
	for _, k := range []string{"dir/obj", "dir/from-sdk", "copy", "big"} {
		del = append(del, types.ObjectIdentifier{Key: aws.String(k)})
	}
	if _, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{Objects: del}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	fc.Close()
	must(t, stop())

	// A restart keeps the generated key pair.
	srv2, _ := start(t, server.Config{DataDir: dir, S3: s3On()})
	if ak2, sk2 := srv2.S3Keys(); ak2 != ak || sk2 != sk {
		t.Fatal("the generated S3 key changed across a restart")
	}
}

// TestS3BackendOverDial runs the S3 backend over a dialled client, as
// `shoal gateway` does: listing and block sharing cross the Clone service.
func TestS3BackendOverDial(t *testing.T) {
	ctx := context.Background()
	srv, _ := start(t, server.Config{})
	c := dial(t, srv.Addr())
	be, err := shoalfs.New(ctx, c, shoalfs.Options{})
	must(t, err)
	defer be.Close()
	root := s3.Identity{AccessKey: "root"}
	must(t, be.CreateBucket(ctx, root, "bkt"))
	data := bytes.Repeat([]byte("x"), 6<<20)
	putIn := func(b []byte) s3.PutInput {
		return s3.PutInput{Body: bytes.NewReader(b), Size: int64(len(b)), Digest: func() s3.Digest { return s3.Digest{MD5: "m"} }}
	}
	for _, k := range []string{"a/1", "a/2", "a-b", "z"} {
		if _, err := be.PutObject(ctx, root, "bkt", k, putIn(data[:10]), s3.WriteCond{}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := be.List(ctx, root, "bkt", s3.ListInput{Delimiter: "/", Max: 10})
	if err != nil || len(page.Objects) != 2 || page.Objects[0].Key != "a-b" || len(page.CommonPrefixes) != 1 {
		t.Fatalf("list over dial: %+v %v", page, err)
	}
	if _, err := be.PutObject(ctx, root, "bkt", "src", putIn(data), s3.WriteCond{}); err != nil {
		t.Fatal(err)
	}
	if _, err := be.CopyObject(ctx, root, "bkt", "dst", s3.CopyInput{SrcBucket: "bkt", SrcKey: "src"}); err != nil {
		t.Fatal(err)
	}
	id, err := be.CreateMultipart(ctx, root, "bkt", "mp", s3.ObjectMeta{})
	must(t, err)
	p1, err := be.CopyPart(ctx, root, "bkt", "mp", id, 1, "bkt", "src", "", 0, 5<<20)
	must(t, err)
	p2, err := be.PutPart(ctx, root, "bkt", "mp", id, 2, putIn([]byte("tail")))
	must(t, err)
	if _, err := be.CompleteMultipart(ctx, root, "bkt", "mp", id, []s3.CompletePart{{Number: 1, ETag: p1.ETag}, {Number: 2, ETag: p2.ETag}}, "e-2", s3.WriteCond{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadFile("bkt/mp")
	if err != nil || !bytes.Equal(got, append(append([]byte(nil), data[:5<<20]...), "tail"...)) {
		t.Fatalf("multipart over dial: %d bytes, %v", len(got), err)
	}
	if got, _ := c.ReadFile("bkt/dst"); !bytes.Equal(got, data) {
		t.Fatal("copy over dial differs")
	}
}
