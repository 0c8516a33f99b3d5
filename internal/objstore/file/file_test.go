package file_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/file"
	"github.com/shoalfs/shoal/internal/objstore/storetest"
)

func TestConformance(t *testing.T) {
	for name, opts := range map[string]file.Options{
		"Default":      {},
		"SyncEveryPut": {SyncEveryPut: true},
		"NoSync":       {NoSync: true},
	} {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) objstore.Store {
				s, err := file.Open(t.TempDir(), opts)
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}

func TestBadKeys(t *testing.T) {
	s, err := file.Open(t.TempDir(), file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, k := range []string{"", "/abs", "a//b", "a/../b", "..", "a/./b", "a/", ".tmp.x", "a/.tmp.1"} {
		if err := s.Put(ctx, k, []byte("x")); !fserr.Is(fserr.Invalid, err) {
			t.Errorf("Put(%q) = %v, want Invalid", k, err)
		}
		if _, err := s.Get(ctx, k, 0, -1); !fserr.Is(fserr.Invalid, err) {
			t.Errorf("Get(%q) = %v, want Invalid", k, err)
		}
	}
}

func TestNotFoundKind(t *testing.T) {
	s, err := file.Open(t.TempDir(), file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(context.Background(), "x/y", 0, -1)
	if !errors.Is(err, objstore.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Get missing = %v", err)
	}
}

func TestOpenRemovesTempFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "a", ".tmp.123")
	if err := os.WriteFile(tmp, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := file.Open(dir, file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temp file survived Open: %v", err)
	}
	if l, err := s.List(context.Background(), "", "", 0); err != nil || len(l) != 0 {
		t.Fatalf("List = %v, %v", l, err)
	}
}

func TestKeyDirConflict(t *testing.T) {
	s, err := file.Open(t.TempDir(), file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "a/b", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a", nil); !fserr.Is(fserr.Exist, err) {
		t.Errorf("Put over a directory = %v, want Exist", err)
	}
	if err := s.Put(ctx, "a/b/c", nil); !fserr.Is(fserr.Exist, err) {
		t.Errorf("Put under an object = %v, want Exist", err)
	}
}
