package server_test

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/objstore/remote"

	"github.com/shoalfs/shoal/internal/rpc"
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

// shoal meta over a shared engine (--meta URL) and two shoal workers over
// one S3 store (--store URL): a file written through one worker reads
// back through the other, and the meta role's GC deletes its blocks from
// the bucket.
func TestRolesApartByURL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and versitygw")
	}
	gw := versitygw.Start(t, versitygw.Options{})
	gw.Bucket(t, "blocks")
	t.Setenv("AWS_ACCESS_KEY_ID", versitygw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", versitygw.SecretKey)
	db := pg.Start(t)
	storeURL := "s3://blocks/apart?endpoint=" + gw.Endpoint
	var workerAddrs, workerURLs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		workerAddrs = append(workerAddrs, ln.Addr().String())
		workerURLs = append(workerURLs, "http://"+ln.Addr().String())
		ln.Close()
	}
	metaSrv, _ := start(t, server.Config{Roles: server.RoleMeta, MetaURL: db.URL(""), WorkerURLs: workerURLs[:1], GCInterval: 50 * time.Millisecond})
	for _, a := range workerAddrs {
		start(t, server.Config{Roles: server.RoleWorker, StoreURL: storeURL, WorkerListen: a, MetaAddrs: []string{metaSrv.Addr()}})
	}
	c := dial(t, metaSrv.Addr())
	data := bytes.Repeat([]byte("apart"), 300000)
	must(t, c.WriteFile("f", data, 0o644))
	// The second worker serves what the first stored: both read one
	// bucket.
	got, err := rpcGet(workerURLs[1], "default", blockKeys(t, gw.Dir, "blocks/apart/1")[0])
	must(t, err)
	if len(got) == 0 {
		t.Fatal("second worker served an empty block")
	}
	must(t, c.Remove("f"))
	deadline := time.Now().Add(10 * time.Second)
	for len(blockKeys(t, gw.Dir, "blocks/apart/1")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("blocks left in the bucket after GC: %v", blockKeys(t, gw.Dir, "blocks/apart/1"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// blockKeys lists the block objects under dir/sub of the gateway's
// backend, as keys relative to sub.
func blockKeys(t *testing.T, dir, sub string) []string {
	t.Helper()
	root := filepath.Join(dir, sub)
	var keys []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	return keys
}

// rpcGet reads a whole block from a worker's block HTTP server.
func rpcGet(workerURL, fsName, key string) ([]byte, error) {
	st := remote.New(workerURL, fsName, remote.Options{})
	defer st.Close()
	return st.Get(context.Background(), key, 0, -1)
}

// Admin Status reports the engine and store URLs as the banner prints
// them: the PostgreSQL password never leaves the server.
func TestStatusURLsWithoutSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	db := pg.Start(t)
	metaURL := strings.Replace(db.URL(""), "postgres@", "postgres:hunter2@", 1)
	storeURL := "file://" + t.TempDir()
	srv, _ := start(t, server.Config{MetaURL: metaURL, StoreURL: storeURL, GCInterval: -1})
	conn, err := rpc.Dial(context.Background(), []string{srv.Addr()}, rpc.ClientOptions{})
	must(t, err)
	defer conn.Close()
	st, err := conn.Admin().Status(context.Background())
	must(t, err)
	if st.EngineURL != "postgres://postgres@"+db.Addr+"/postgres?sslmode=disable" || st.StoreURL != storeURL {
		t.Fatalf("status: engine %q, store %q", st.EngineURL, st.StoreURL)
	}
}
