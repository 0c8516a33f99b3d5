package cli

import (
	"context"
	"path"
	"strings"
	"testing"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/datadir"
	etcdserver "github.com/shoalfs/shoal/internal/testserver/etcd"
	"github.com/shoalfs/shoal/internal/testserver/pg"
)

// admin and fsck open storage by URL: a filesystem created with
// `admin fs create --meta URL --store URL` is there for the SDK, and
// fsck checks it clean.
func TestAdminFsckByURL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	db := pg.Start(t)
	metaURL := db.URL("") + "&table=cli"
	storeURL := "file://" + t.TempDir()
	dir := t.TempDir() // holds only the lock
	loc := []string{"--data", dir, "--meta", metaURL, "--store", storeURL}
	if r := run(t, nil, append([]string{"admin", "fs", "create", "proj"}, loc...)...); r.code != 0 || !strings.Contains(r.stdout, "created filesystem proj") {
		t.Fatalf("admin fs create: %+v", r)
	}
	if r := run(t, nil, append([]string{"admin", "fs", "list"}, loc...)...); r.code != 0 || !strings.Contains(r.stdout, "proj") {
		t.Fatalf("admin fs list: %+v", r)
	}
	c, err := shoal.OpenLocal(context.Background(), dir, shoal.WithStorage(metaURL, storeURL), shoal.WithFS("proj"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile("f", []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, append([]string{"fsck", "--fs", "proj", "--verify-data"}, loc...)...); r.code != 0 || !strings.Contains(r.stdout, "fsck: clean") {
		t.Fatalf("fsck: %+v", r)
	}
	if r := run(t, nil, "fsck", "--addr", "127.0.0.1:1", "--meta", metaURL); r.code != ExitUsage {
		t.Fatalf("fsck --addr with --meta: %+v", r)
	}
	if r := run(t, nil, "fsck", "--data", dir, "--meta", "mysql://x"); r.code == 0 || !strings.Contains(r.stderr, "unknown scheme") {
		t.Fatalf("fsck with a bad URL: %+v", r)
	}
}

// admin migrate copies a data directory's metadata to PostgreSQL and
// etcd; the SDK over the copy and the directory's blocks reads every
// file, and fsck is clean. A second migrate into the same engine is
// refused.
func TestAdminMigrate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and etcd")
	}
	ctx := context.Background()
	dir := t.TempDir()
	files := map[string]map[string]string{"default": {"a": "alpha", "d/b": "beta"}, "proj": {"c": strings.Repeat("gamma", 100_000)}}
	if r := run(t, nil, "admin", "fs", "create", "proj", "--data", dir); r.code != 0 {
		t.Fatalf("admin fs create: %+v", r)
	}
	for fsName, fm := range files {
		c, err := shoal.OpenLocal(ctx, dir, shoal.WithFS(fsName))
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range fm {
			if err := c.MkdirAll(path.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := c.WriteFile(name, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	blocks := "file://" + datadir.BlocksRoot(dir)
	for _, to := range []string{
		pg.Start(t).URL("") + "&table=migrated",
		"etcd://" + strings.TrimPrefix(etcdserver.Start(t)[0], "http://") + "/migrated",
	} {
		r := run(t, nil, "admin", "migrate", "--data", dir, "--to", to)
		if r.code != 0 || !strings.Contains(r.stdout, "verified") || !strings.Contains(r.stdout, "migrate: done") {
			t.Fatalf("admin migrate --to %s: %+v", to, r)
		}
		if r := run(t, nil, "admin", "migrate", "--data", dir, "--to", to); r.code == 0 || !strings.Contains(r.stderr, "not empty") {
			t.Fatalf("second migrate into the same engine: %+v", r)
		}
		lockDir := t.TempDir()
		for fsName, fm := range files {
			c, err := shoal.OpenLocal(ctx, lockDir, shoal.WithStorage(to, blocks), shoal.WithFS(fsName), shoal.WithGCInterval(0))
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range fm {
				if got, err := c.ReadFile(name); err != nil || string(got) != data {
					t.Errorf("%s %s/%s after migrate: %d bytes, %v", to, fsName, name, len(got), err)
				}
			}
			if problems, err := c.Check(true); err != nil || len(problems) > 0 {
				t.Errorf("check %s: %v %v", fsName, problems, err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r := run(t, nil, "admin", "migrate", "--data", dir); r.code != ExitUsage {
		t.Fatalf("migrate without --to: %+v", r)
	}
}
