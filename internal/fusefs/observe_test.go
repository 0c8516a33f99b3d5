package fusefs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestObserve checks the hook sees the kernel's requests by names of Ops
// only, with the errno a refused request was answered.
func TestObserve(t *testing.T) {
	needFUSE(t)
	var mu sync.Mutex
	seen := map[string]int{}
	var enoent int
	o := Options{Observe: func(op string, start time.Time, err error) {
		mu.Lock()
		defer mu.Unlock()
		seen[op]++
		if errors.Is(err, syscall.ENOENT) && op == OpLookup {
			enoent++
		}
		if start.IsZero() || time.Since(start) < 0 {
			t.Errorf("op %s: start %v", op, start)
		}
	}}
	dir := mountFresh(t, backends[0], o)
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat missing: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for op := range seen {
		if !slices.Contains(Ops, op) {
			t.Errorf("op %q is not in Ops", op)
		}
	}
	for _, op := range []string{OpCreate, OpWrite, OpOpen, OpOpendir, OpReaddir, OpLookup} {
		if seen[op] == 0 {
			t.Errorf("no %s observed (saw %v)", op, seen)
		}
	}
	if enoent == 0 {
		t.Errorf("the failed lookup was not observed with ENOENT (saw %v)", seen)
	}
}
