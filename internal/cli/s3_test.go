package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/server"
)

func TestParseS3Keys(t *testing.T) {
	creds, err := parseS3Keys(strings.NewReader("# team keys\nalice alice-secret 1000 1000,20\n\nbob bob-secret-x 2000 2000 # bob\n"))
	if err != nil || len(creds) != 2 {
		t.Fatalf("parse: %v %v", creds, err)
	}
	if a := creds[0].Identity; a.Uid != 1000 || a.Gid != 1000 || len(a.Gids) != 1 || a.Gids[0] != 20 || a.AccessKey != "alice" {
		t.Fatalf("alice: %+v", a)
	}
	for _, bad := range []string{"a b c", "alice short 1 1", "alice alice-secret x 1", "alice alice-secret 1 y",
		"alice alice-secret 1 1\nalice alice-secret 2 2"} {
		if _, err := parseS3Keys(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "ACCESS_KEY SECRET_KEY") {
			t.Errorf("%q: %v, want an error naming the format", bad, err)
		}
	}
}

// Keys from --s3-keys act as their Shoal identity: POSIX permissions
// decide what their requests may do, and what they create is theirs.
func TestS3KeysActAsTheirIdentity(t *testing.T) {
	ctx := context.Background()
	c, err := shoal.OpenLocal(ctx, t.TempDir(), shoal.WithGCInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("alice alice-secret 1000 1000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &server.S3Config{KeysFile: keys}
	h, closer, err := s3Gateway(ctx, c, cfg, "rootkey", "root-secret", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	ts := httptest.NewServer(h)
	defer ts.Close()
	client := func(ak, sk string) *awss3.Client {
		return awss3.New(awss3.Options{Region: "us-east-1", UsePathStyle: true, BaseEndpoint: aws.String(ts.URL),
			Credentials: credentials.NewStaticCredentialsProvider(ak, sk, "")})
	}
	root, alice := client("rootkey", "root-secret"), client("alice", "alice-secret")

	// "/" belongs to root, 0755: alice may not make a bucket there.
	_, err = alice.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("a-bucket")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
		t.Fatalf("alice creates a bucket in root's directory: %v, want AccessDenied", err)
	}
	if _, err := root.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Chmod("shared", 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("mine"),
		Body: bytes.NewReader([]byte("hello"))}); err != nil {
		t.Fatal(err)
	}
	fi, err := c.Stat("shared/mine")
	if err != nil {
		t.Fatal(err)
	}
	if a := fi.Sys().(*shoal.Attr); a.Uid != 1000 || a.Gid != 1000 {
		t.Fatalf("alice's object owned by %d:%d", a.Uid, a.Gid)
	}
	// A wrong secret for a configured key is refused.
	_, err = client("alice", "not-her-secret").ListBuckets(ctx, &awss3.ListBucketsInput{})
	if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestS3PublicCommand(t *testing.T) {
	dir := t.TempDir()
	c, err := shoal.OpenLocal(context.Background(), dir, shoal.WithGCInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir("pics", 0o755); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"s3", "public", "pics", "--data", dir}, 0, "pics: private\n"},
		{[]string{"s3", "public", "pics", "on", "--data", dir}, 0, "pics: public\n"},
		{[]string{"s3", "public", "pics", "--data", dir}, 0, "pics: public\n"},
		{[]string{"s3", "public", "pics", "off", "--data", dir}, 0, "pics: private\n"},
		{[]string{"s3", "public", "pics", "maybe", "--data", dir}, 2, ""},
		{[]string{"s3", "public", "nope", "on", "--data", dir}, 1, ""},
	} {
		r := run(t, nil, tc.args...)
		if r.code != tc.code || (tc.out != "" && r.stdout != tc.out) {
			t.Errorf("%v: exit %d, %q (stderr %q); want %d, %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.out)
		}
	}
}
