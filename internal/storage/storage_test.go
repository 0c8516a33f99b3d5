package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalfs/shoal/internal/datadir"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/storage"
	etcdserver "github.com/shoalfs/shoal/internal/testserver/etcd"
	"github.com/shoalfs/shoal/internal/testserver/pg"
	"github.com/shoalfs/shoal/internal/testserver/versitygw"
)

// roundTrip writes and reads one key through an engine.
func roundTrip(t *testing.T, e kv.Engine) {
	t.Helper()
	ctx := context.Background()
	if err := e.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	err := e.View(ctx, func(r kv.ReadTxn) error {
		v, err := r.Get([]byte("k"))
		if err == nil && string(v) != "v" {
			err = fmt.Errorf("got %q", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDefaultsUnderDataDir(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.Open(context.Background(), storage.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if want := "badger://" + datadir.Meta(dir); st.Engine.URL != want || st.Engine.Shared {
		t.Errorf("engine %q shared=%v, want %q unshared", st.Engine.URL, st.Engine.Shared, want)
	}
	if want := "file://" + datadir.BlocksRoot(dir); st.Blocks.URL != want {
		t.Errorf("store %q, want %q", st.Blocks.URL, want)
	}
	roundTrip(t, st.Engine.KV)
	// The directory is locked while open.
	if _, err := storage.Open(context.Background(), storage.Config{DataDir: dir}); !fserr.Is(fserr.Busy, err) {
		t.Errorf("second open = %v, want kind Busy", err)
	}
	bs, err := st.Blocks.Open(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Put(context.Background(), "chunks/x", []byte("data")); err != nil {
		t.Fatal(err)
	}
	bs.Close()
	if _, err := os.Stat(datadir.SmallBlocks(dir, 3)); err != nil {
		t.Errorf("small blocks not in the data directory's layout: %v", err)
	}
	if err := st.Blocks.Remove(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(datadir.SmallBlocks(dir, 3)); !os.IsNotExist(err) {
		t.Errorf("Remove left %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBadURLs(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{
		"", "/just/a/path", "badger://", "badger:///x?nosuch=1", "badger:///x?sync=maybe",
		"mysql://h/db", "etcd://", "etcd://h:2379/p?bogus=1", "etcd://h:2379/?tls=perhaps",
		"etcd://h:2379/?cert=/nonexistent", "etcd://h:2379/?commit_timeout=soon", "etcd://h:2379/?commit_timeout=-1s", "postgres://u@h:5432/db?table=Bad-Name",
	} {
		_, err := storage.OpenEngine(ctx, u, storage.EngineOptions{})
		if !fserr.Is(fserr.Invalid, err) {
			t.Errorf("engine %q: %v, want kind Invalid", u, err)
		}
	}
	for _, u := range []string{
		"", "dir", "file://", "file:///x?y=1", "ftp://h/x", "s3://", "s3://key:secret@bucket/p",
		"s3://b/p?endpoint=h:9000", "s3://b/p?nosuch=1", "s3://b/p?path_style=sometimes", "s3://b/p?max_attempts=0",
	} {
		_, err := storage.OpenBlocks(ctx, u, nil)
		if !fserr.Is(fserr.Invalid, err) {
			t.Errorf("store %q: %v, want kind Invalid", u, err)
		}
	}
	if _, err := storage.Open(ctx, storage.Config{}); !fserr.Is(fserr.Invalid, err) {
		t.Errorf("no data dir, no URLs: %v", err)
	}
	// A secret never shows in the message about a bad URL.
	_, err := storage.OpenEngine(ctx, "etcd://u:hunter2@h:2379/p?bogus=1", storage.EngineOptions{})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestBadgerURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	e, err := storage.OpenEngine(context.Background(), "badger://"+dir+"?sync=true", storage.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.URL != "badger://"+dir || e.Syncer() == nil {
		t.Errorf("URL %q syncer %v", e.URL, e.Syncer())
	}
	roundTrip(t, e.KV)
}

func TestEtcdURL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	eps := etcdserver.Start(t)
	hosts := strings.TrimPrefix(eps[0], "http://")
	e, err := storage.OpenEngine(context.Background(), "etcd://"+hosts+","+hosts+"/fs1", storage.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if want := "etcd://" + hosts + "," + hosts + "/fs1/"; e.URL != want || !e.Shared {
		t.Errorf("URL %q shared=%v, want %q shared", e.URL, e.Shared, want)
	}
	roundTrip(t, e.KV)
	// A commit_timeout bounds each commit: one too short to be met fails
	// the commit with kind IO (outcome unknown), and reads still work.
	short, err := storage.OpenEngine(context.Background(), "etcd://"+hosts+"/fs1?commit_timeout=1ns", storage.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = short.KV.Update(context.Background(), func(tx kv.Txn) error { return tx.Put([]byte("k"), []byte("v")) })
	if !fserr.Is(fserr.IO, err) || !strings.Contains(err.Error(), "commit timeout") {
		t.Errorf("commit under a 1ns commit_timeout: %v, want kind IO naming the commit timeout", err)
	}
	if err := short.KV.View(context.Background(), func(tx kv.ReadTxn) error { _, err := tx.Get([]byte("k")); return err }); err != nil && !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("read under a 1ns commit_timeout: %v", err)
	}
	short.Close()
	// With authentication on, the user and password of the URL (or of
	// $SHOAL_ETCD_PASSWORD) are what etcd checks, and the password shows
	// nowhere.
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	for _, step := range []func() error{
		func() error { _, err := cli.RoleAdd(ctx, "root"); return err },
		func() error { _, err := cli.UserAdd(ctx, "root", "hunter2"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	a, err := storage.OpenEngine(ctx, "etcd://root:hunter2@"+hosts+"/auth", storage.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(a.URL, "hunter2") || a.URL != "etcd://root@"+hosts+"/auth/" {
		t.Errorf("URL %q", a.URL)
	}
	roundTrip(t, a.KV)
	a.Close()
	t.Setenv(storage.EnvEtcdPassword, "hunter2")
	a, err = storage.OpenEngine(ctx, "etcd://root@"+hosts+"/auth", storage.EngineOptions{})
	if err != nil {
		t.Fatalf("password from $%s: %v", storage.EnvEtcdPassword, err)
	}
	a.Close()
	_, err = storage.OpenEngine(ctx, "etcd://root:badpass123@"+hosts+"/auth", storage.EngineOptions{})
	if err == nil || strings.Contains(err.Error(), "badpass123") {
		t.Errorf("wrong password: %v", err)
	}
}

func TestPostgresURL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	srv := pg.Start(t)
	u := "postgres://postgres:hunter2@" + srv.Addr + "/postgres?sslmode=disable&table=shoal_test"
	e, err := storage.OpenEngine(context.Background(), u, storage.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if want := "postgres://postgres@" + srv.Addr + "/postgres?sslmode=disable&table=shoal_test"; e.URL != want || !e.Shared {
		t.Errorf("URL %q shared=%v, want %q shared", e.URL, e.Shared, want)
	}
	roundTrip(t, e.KV)
	_, err = storage.OpenEngine(context.Background(), "postgres://postgres:hunter2@"+srv.Addr+"/nosuchdb?sslmode=disable", storage.EngineOptions{})
	if !fserr.Is(fserr.IO, err) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("missing database: %v", err)
	}
}

func TestS3URL(t *testing.T) {
	srv := versitygw.Start(t, versitygw.Options{})
	srv.Bucket(t, "blocks")
	t.Setenv("AWS_ACCESS_KEY_ID", versitygw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", versitygw.SecretKey)
	ctx := context.Background()
	u := "s3://blocks/shoal?endpoint=" + srv.Endpoint + "&region=" + versitygw.Region
	b, err := storage.OpenBlocks(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.URL != u || !b.Shared {
		t.Errorf("URL %q shared=%v, want %q shared", b.URL, b.Shared, u)
	}
	s1, err := b.Open(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b.Open(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"chunks/0/0/1_0_10", "chunks/0/0/2_0_10"} {
		if err := s1.Put(ctx, k, []byte("one")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s2.Put(ctx, "chunks/0/0/1_0_10", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got, err := s1.Get(ctx, "chunks/0/0/1_0_10", 0, -1); err != nil || string(got) != "one" {
		t.Fatalf("fs 1 reads %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, "blocks", "shoal", "2", "chunks")); err != nil {
		t.Errorf("fs 2's blocks not under prefix/2/: %v", err)
	}
	if err := b.Remove(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if l, err := s1.List(ctx, "", "", 0); err != nil || len(l) != 0 {
		t.Errorf("after Remove fs 1 lists %v, %v", l, err)
	}
	if _, err := s2.Get(ctx, "chunks/0/0/1_0_10", 0, -1); err != nil {
		t.Errorf("Remove of fs 1 took fs 2's block: %v", err)
	}
	// A missing bucket and refused credentials fail at open.
	if _, err := storage.OpenBlocks(ctx, "s3://nosuchbucket?endpoint="+srv.Endpoint, nil); !fserr.Is(fserr.NotExist, err) {
		t.Errorf("missing bucket: %v", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	if _, err := storage.OpenBlocks(ctx, u, nil); !fserr.Is(fserr.Permission, err) {
		t.Errorf("wrong secret: %v, want kind Permission", err)
	}

	// Credentials from a file named in the URL, none in the environment;
	// and with neither, a clear error at open.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	creds := filepath.Join(t.TempDir(), "credentials")
	ini := "[shoal]\naws_access_key_id = " + versitygw.AccessKey + "\naws_secret_access_key = " + versitygw.SecretKey + "\n"
	if err := os.WriteFile(creds, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	fu := u + "&credentials_file=" + creds + "&profile=shoal"
	fb, err := storage.OpenBlocks(ctx, fu, nil)
	if err != nil {
		t.Fatalf("credentials from a file: %v", err)
	}
	if strings.Contains(fb.URL, creds) {
		t.Errorf("URL shows the credentials file: %s", fb.URL)
	}
	fs1, err := fb.Open(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fs1.Get(ctx, "chunks/0/0/1_0_10", 0, -1); err != nil || string(got) != "two" {
		t.Errorf("read with file credentials: %q, %v", got, err)
	}
	if _, err := storage.OpenBlocks(ctx, u, nil); !fserr.Is(fserr.Permission, err) || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("no credentials: %v", err)
	}
}

// etcd over TLS with a client certificate: ca, cert and key in the URL
// reach it; without the client certificate, or without TLS, it refuses.
func TestEtcdTLSURL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	tc := etcdserver.NewTLS(t, true)
	eps := etcdserver.StartTLS(t, tc)
	host := strings.TrimPrefix(eps[0], "https://")
	ctx := context.Background()
	u := "etcd://" + host + "/tls?ca=" + tc.CA + "&cert=" + tc.ClientCert + "&key=" + tc.ClientKey + "&timeout=3s"
	e, err := storage.OpenEngine(ctx, u, storage.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "etcd://" + host + "/tls/?tls=true"; e.URL != want {
		t.Errorf("URL %q, want %q", e.URL, want)
	}
	roundTrip(t, e.KV)
	e.Close()
	for _, bad := range []string{
		"etcd://" + host + "/tls?ca=" + tc.CA + "&timeout=2s",                                             // no client certificate
		"etcd://" + host + "/tls?timeout=2s",                                                              // no TLS
		"etcd://" + host + "/tls?tls=true&cert=" + tc.ClientCert + "&key=" + tc.ClientKey + "&timeout=2s", // unknown CA
	} {
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		e, err := storage.OpenEngine(tctx, bad, storage.EngineOptions{})
		cancel()
		if err == nil {
			e.Close()
			t.Errorf("%s: opened", bad)
		}
	}
	if _, err := storage.OpenEngine(ctx, "etcd://"+host+"/tls?cert="+tc.ClientCert, storage.EngineOptions{}); !fserr.Is(fserr.Invalid, err) {
		t.Errorf("cert without key: %v", err)
	}
}

// An etcd URL naming every member of a 3-member cluster keeps working
// with any one member down.
func TestEtcdClusterURL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 etcd members")
	}
	c := etcdserver.StartCluster(t, 3)
	var hosts []string
	for _, ep := range c.Endpoints {
		hosts = append(hosts, strings.TrimPrefix(ep, "http://"))
	}
	e, err := storage.OpenEngine(context.Background(), "etcd://"+strings.Join(hosts, ",")+"/cluster", storage.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	roundTrip(t, e.KV)
	for i := range c.Endpoints {
		c.Stop(i)
		roundTrip(t, e.KV)
		c.Restart(t, i)
	}
}
