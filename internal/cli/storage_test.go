package cli

import (
	"context"
	"strings"
	"testing"

	shoal "github.com/shoalfs/shoal"
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
