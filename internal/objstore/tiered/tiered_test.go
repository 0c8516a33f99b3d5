package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv/badger"
	kvmem "github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/file"
	"github.com/shoalfs/shoal/internal/objstore/kvstore"
	"github.com/shoalfs/shoal/internal/objstore/mem"
	"github.com/shoalfs/shoal/internal/objstore/storetest"
	"github.com/shoalfs/shoal/internal/objstore/tiered"
)

var ctx = context.Background()

// suiteThreshold splits storetest's objects between the tiers: its List
// case stores each key's name as data (1 to 5 bytes), Overwrite moves a
// key from large to small.
const suiteThreshold = 3

func newTiered(t *testing.T, threshold int) (*tiered.Store, *kvstore.Store, *file.Store) {
	t.Helper()
	small := kvstore.New(kvmem.New(), []byte("B"), kvstore.Options{})
	large, err := file.Open(t.TempDir(), file.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s := tiered.New(small, large, threshold)
	t.Cleanup(func() { s.Close() })
	return s, small, large
}

func TestSuiteFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store {
		s, _, _ := newTiered(t, suiteThreshold)
		return s
	})
}

func TestSuiteBadgerMem(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store {
		eng, err := badger.Open(t.TempDir(), badger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		return tiered.New(kvstore.New(eng, []byte("B"), kvstore.Options{}), mem.New(), suiteThreshold)
	})
}

func mustGet(t *testing.T, s objstore.Store, key string) string {
	t.Helper()
	b, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(b)
}

func has(t *testing.T, s objstore.Store, key string) bool {
	t.Helper()
	_, err := s.Head(ctx, key)
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestRouting(t *testing.T) {
	s, small, large := newTiered(t, 4)
	if err := s.Put(ctx, "k/s", []byte("abcd")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k/l", []byte("abcde")); err != nil {
		t.Fatal(err)
	}
	if !has(t, small, "k/s") || has(t, large, "k/s") || has(t, small, "k/l") || !has(t, large, "k/l") {
		t.Fatal("objects not routed by size")
	}
}

// TestMoveBetweenTiers overwrites a key with sizes on either side of the
// threshold and checks every read path sees only the newest object.
func TestMoveBetweenTiers(t *testing.T) {
	s, small, large := newTiered(t, 4)
	check := func(want string) {
		t.Helper()
		if got := mustGet(t, s, "m"); got != want {
			t.Fatalf("Get = %q, want %q", got, want)
		}
		info, err := s.Head(ctx, "m")
		if err != nil || info.Size != int64(len(want)) {
			t.Fatalf("Head = %+v, %v", info, err)
		}
		l, err := s.List(ctx, "", "", 0)
		if err != nil || len(l) != 1 || l[0].Size != int64(len(want)) {
			t.Fatalf("List = %+v, %v", l, err)
		}
		f, err := s.OpenFile(ctx, "m")
		if len(want) <= 4 {
			if !errors.Is(err, fs.ErrNotExist) || !fserr.Is(fserr.NotExist, err) {
				t.Fatalf("OpenFile of a small object = %v, want NotExist", err)
			}
		} else {
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(f)
			f.Close()
			if string(b) != want {
				t.Fatalf("OpenFile read %q, want %q", b, want)
			}
		}
		if err := s.Sync(ctx, []string{"m"}); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	for _, v := range []string{"large1", "sm", "large22", "large333", "s", "x"} {
		if err := s.Put(ctx, "m", []byte(v)); err != nil {
			t.Fatal(err)
		}
		check(v)
	}
	if err := s.Delete(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	if has(t, s, "m") || has(t, small, "m") || has(t, large, "m") {
		t.Fatal("Delete left a copy")
	}
}

func TestListMerge(t *testing.T) {
	s, _, _ := newTiered(t, 1)
	var all []string
	for i := range 30 {
		k := fmt.Sprintf("p/%02d", i)
		all = append(all, k)
		data := []byte("x")
		if i%3 == 0 {
			data = []byte("large")
		}
		if err := s.Put(ctx, k, data); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{1, 2, 4, 7, 30, 0} {
		var got []string
		after := ""
		for {
			l, err := s.List(ctx, "p/", after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(l) == 0 {
				break
			}
			if limit > 0 && len(l) > limit {
				t.Fatalf("List returned %d > limit %d", len(l), limit)
			}
			for _, i := range l {
				got = append(got, i.Key)
			}
			after = l[len(l)-1].Key
		}
		if fmt.Sprint(got) != fmt.Sprint(all) {
			t.Fatalf("limit %d: paged List = %v", limit, got)
		}
	}
}

func TestSyncMissing(t *testing.T) {
	s, _, _ := newTiered(t, 4)
	if err := s.Put(ctx, "a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "b", []byte("bbbbbbb")); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	err := s.Sync(ctx, []string{"a", "nope", "b"})
	if !errors.Is(err, objstore.ErrNotFound) || !fserr.Is(fserr.NotExist, err) {
		t.Fatalf("Sync with a missing key = %v", err)
	}
}

func TestThresholdClamped(t *testing.T) {
	small := kvstore.New(kvmem.New(), nil, kvstore.Options{MaxObject: 10})
	s := tiered.New(small, mem.New(), 1<<20)
	defer s.Close()
	if s.Threshold() != 10 {
		t.Fatalf("Threshold = %d, want 10", s.Threshold())
	}
	if err := s.Put(ctx, "k", make([]byte, 11)); err != nil {
		t.Fatal(err)
	}
}

// TestOpenFileNoFiles: a large tier without files gives NotExist for
// every key, so the caller falls back to Get.
func TestOpenFileNoFiles(t *testing.T) {
	s := tiered.New(kvstore.New(kvmem.New(), nil, kvstore.Options{}), mem.New(), 4)
	defer s.Close()
	if err := s.Put(ctx, "k", []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenFile(ctx, "k"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("OpenFile = %v", err)
	}
}
