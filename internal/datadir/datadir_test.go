package datadir

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
)

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	if err := Migrate(dir); err != nil { // new directory: nothing to do
		t.Fatal(err)
	}
	old := filepath.Join(dir, "blocks", "chunks", "0", "1")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "blk"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(Blocks(dir, 1), "chunks", "0", "1", "blk")); err != nil || string(b) != "x" {
		t.Fatalf("after migrate: %q %v", b, err)
	}
	if err := Migrate(dir); err != nil { // idempotent
		t.Fatal(err)
	}
	// Both layouts present: refuse rather than guess.
	if err := os.MkdirAll(filepath.Join(dir, "blocks", "chunks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(dir); fserr.KindOf(err) != fserr.Exist {
		t.Fatalf("both layouts: %v", err)
	}
}
