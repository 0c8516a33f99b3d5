package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/rpc"
	"github.com/shoalfs/shoal/internal/server"
	"github.com/shoalfs/shoal/internal/testserver/pg"
	"github.com/shoalfs/shoal/internal/testserver/versitygw"
)

// Two meta servers over one PostgreSQL engine and two workers over one S3
// store, each its own server.Server: the workers hold leases every meta
// lists, a client given both meta addresses writes and reads through the
// ring, keeps working when a meta and then a worker stop, only one meta
// collects the garbage, and the metadata checks clean.
func TestClusterTwoMetaTwoWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and versitygw")
	}
	gw := versitygw.Start(t, versitygw.Options{})
	gw.Bucket(t, "blocks")
	t.Setenv("AWS_ACCESS_KEY_ID", versitygw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", versitygw.SecretKey)
	db := pg.Start(t)
	storeURL := "s3://blocks/cluster?endpoint=" + gw.Endpoint
	var workerAddrs, workerURLs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		workerAddrs = append(workerAddrs, ln.Addr().String())
		workerURLs = append(workerURLs, "http://"+ln.Addr().String())
		ln.Close()
	}
	var metas []*server.Server
	var stopMeta []func() error
	for range 2 {
		m, stop := start(t, server.Config{Roles: server.RoleMeta, MetaURL: db.URL(""), WorkerURLs: workerURLs, GCInterval: 50 * time.Millisecond})
		metas, stopMeta = append(metas, m), append(stopMeta, stop)
	}
	metaAddrs := []string{metas[0].Addr(), metas[1].Addr()}
	var stopWorker []func() error
	for i, a := range workerAddrs {
		_, stop := start(t, server.Config{Roles: server.RoleWorker, StoreURL: storeURL, WorkerListen: a, MetaAddrs: metaAddrs,
			WorkerID: fmt.Sprintf("w%d", i+1), LeaseTTL: time.Second})
		stopWorker = append(stopWorker, stop)
	}
	ctx := context.Background()
	conn, err := rpc.Dial(ctx, metaAddrs[1:], rpc.ClientOptions{})
	must(t, err)
	defer conn.Close()
	members := func(want int) rpc.Members {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			m, err := conn.Cluster().Members(ctx, false)
			must(t, err)
			if len(m.Workers) == want {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("members: %+v, want %d workers", m.Workers, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Leases taken through meta 0 or 1 are in the shared engine: the
	// other meta lists them too.
	m := members(2)
	if m.Workers[0].ID != "w1" || m.Workers[0].URL != workerURLs[0] || m.Workers[1].ID != "w2" {
		t.Fatalf("members: %+v", m.Workers)
	}

	c := dial(t, strings.Join(metaAddrs, ","))
	data := bytes.Repeat([]byte("cluster "), 1<<20) // two blocks
	for i := range 4 {
		must(t, c.WriteFile(fmt.Sprintf("f%d", i), data, 0o644))
	}
	// A meta server stops: the client fails over to the other.
	must(t, stopMeta[0]())
	must(t, c.WriteFile("after-meta", data[:1000], 0o644))
	// A worker stops (and leaves): its share moves to the other.
	must(t, stopWorker[0]())
	members(1)
	for i := range 4 {
		got, err := c.ReadFile(fmt.Sprintf("f%d", i))
		must(t, err)
		if !bytes.Equal(got, data) {
			t.Fatalf("f%d differs after a worker stopped", i)
		}
	}
	for i := range 4 {
		must(t, c.Remove(fmt.Sprintf("f%d", i)))
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		keys := blockKeys(t, gw.Dir, "blocks/cluster/1")
		if len(keys) <= 1 { // after-meta's one block stays
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("blocks left after GC: %v", keys)
		}
		time.Sleep(50 * time.Millisecond)
	}
	problems, err := c.Check(false)
	must(t, err)
	if len(problems) > 0 {
		t.Fatalf("check: %v", problems)
	}
	got, err := c.ReadFile("after-meta")
	must(t, err)
	if !bytes.Equal(got, data[:1000]) {
		t.Fatal("after-meta differs")
	}
}
