package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shoalfs/shoal/internal/server"
	"github.com/shoalfs/shoal/internal/testserver/pg"
	"github.com/shoalfs/shoal/internal/testserver/versitygw"
)

// A server over PostgreSQL and S3 prints both without secrets, serves,
// and its data outlives it: a second server on other data directories
// but the same URLs reads it back.
func TestServerOnPostgresAndS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and versitygw")
	}
	gw := versitygw.Start(t, versitygw.Options{})
	gw.Bucket(t, "blocks")
	t.Setenv("AWS_ACCESS_KEY_ID", versitygw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", versitygw.SecretKey)
	db := pg.Start(t)
	metaURL := strings.Replace(db.URL(""), "postgres@", "postgres:hunter2@", 1)
	storeURL := "s3://blocks/shoal?endpoint=" + gw.Endpoint
	cfg := server.Config{MetaURL: metaURL, StoreURL: storeURL, GCInterval: -1}

	srv, stop := start(t, cfg)
	var banner bytes.Buffer
	srv.Banner(&banner)
	if b := banner.String(); !strings.Contains(b, "engine:    postgres://postgres@"+db.Addr+"/postgres?sslmode=disable") ||
		!strings.Contains(b, "store:     "+storeURL) || strings.Contains(b, "hunter2") {
		t.Errorf("banner:\n%s", b)
	}
	c := dial(t, srv.Addr())
	data := bytes.Repeat([]byte("shoal "), 1<<20) // two blocks
	must(t, c.WriteFile("f", data, 0o644))
	must(t, c.Close())
	must(t, stop())

	srv, _ = start(t, cfg) // a fresh data directory: nothing is local
	c = dial(t, srv.Addr())
	got, err := c.ReadFile("f")
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("read back through a second server differs")
	}
	problems, err := c.Check(false)
	must(t, err)
	if len(problems) > 0 {
		t.Fatalf("check: %v", problems)
	}
}
