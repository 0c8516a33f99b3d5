package ufs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore/s3"
	"github.com/shoalfs/shoal/internal/testserver/versitygw"
	"github.com/shoalfs/shoal/internal/ufs"
)

func TestOpenStoreFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "train"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "train", "a.bin"), []byte("aaaa"), 0o644))
	// A user's file that merely looks like an interrupted Put of Shoal's
	// own store: a mount must leave it alone.
	must(t, os.WriteFile(filepath.Join(dir, ".tmp.keep"), []byte("x"), 0o644))
	st, err := ufs.OpenStore(ctx, meta.Mount{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := os.Stat(filepath.Join(dir, ".tmp.keep")); err != nil {
		t.Fatalf("OpenStore removed a file of the dataset: %v", err)
	}
	p, err := st.ListDir(ctx, "", "", 0)
	if err != nil || len(p.Prefixes) != 1 || p.Prefixes[0] != "train/" {
		t.Fatalf("ListDir = %+v, %v", p, err)
	}
	info, err := st.Head(ctx, "train/a.bin")
	if err != nil || info.Size != 4 || info.ETag == "" {
		t.Fatalf("Head = %+v, %v", info, err)
	}
	if _, err := ufs.OpenStore(ctx, meta.Mount{URL: "file://" + dir + "/missing"}); err == nil {
		t.Fatal("OpenStore of a missing directory succeeded (and would have created it)")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("OpenStore created the missing directory")
	}
}

// TestOpenStoreS3: a mount's S3 store against versitygw, with its keys
// in a credentials file named by the record (the record holds no key).
func TestOpenStoreS3(t *testing.T) {
	ctx := context.Background()
	srv := versitygw.Start(t, versitygw.Options{})
	srv.Bucket(t, "data")
	w, err := s3.Open(ctx, s3.Options{Bucket: "data", Endpoint: srv.Endpoint, Region: versitygw.Region,
		AccessKey: versitygw.AccessKey, SecretKey: versitygw.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		must(t, w.Put(ctx, fmt.Sprintf("ds/train/%d.bin", i), []byte("x")))
	}
	must(t, w.Put(ctx, "ds/meta.json", []byte("{}")))
	creds := filepath.Join(t.TempDir(), "credentials")
	must(t, os.WriteFile(creds, []byte(fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		versitygw.AccessKey, versitygw.SecretKey)), 0o600))
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	st, err := ufs.OpenStore(ctx, meta.Mount{URL: "s3://data/ds", Endpoint: srv.Endpoint, Region: versitygw.Region,
		PathStyle: true, CredentialsFile: creds})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.ListDir(ctx, "", "", 0)
	if err != nil || fmt.Sprint(p.Prefixes) != "[train/]" || len(p.Objects) != 1 || p.Objects[0].Key != "meta.json" {
		t.Fatalf("ListDir = %+v, %v", p, err)
	}
	p, err = st.ListDir(ctx, "train/", "", 2)
	if err != nil || len(p.Objects) != 2 || p.Next == "" {
		t.Fatalf("ListDir(train/, limit 2) = %+v, %v", p, err)
	}
	if info, err := st.Head(ctx, "train/0.bin"); err != nil || info.ETag == "" {
		t.Fatalf("Head = %+v, %v", info, err)
	}
}

func TestPageRingKey(t *testing.T) {
	for _, tc := range []struct {
		mount meta.Ino
		key   string
		etag  string
		page  int64
		want  string
	}{
		{7, "train/part-0001.parquet", "9b2cf535f27731c974343645a3985328", 0, "ufs/7/0/9b2cf535f27731c974343645a3985328/train/part-0001.parquet"},
		{7, "train/part-0001.parquet", "9b2cf535f27731c974343645a3985328", 12, "ufs/7/12/9b2cf535f27731c974343645a3985328/train/part-0001.parquet"},
		{123456789, "a/b", "", 3, "ufs/123456789/3//a/b"},
	} {
		if got := ufs.PageRingKey(tc.mount, tc.key, tc.etag, tc.page); got != tc.want {
			t.Errorf("PageRingKey(%d, %q, %q, %d) = %q, want %q", tc.mount, tc.key, tc.etag, tc.page, got, tc.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
