// Package storetest is the conformance suite every objstore.Store
// implementation passes: Run(t, open) with a constructor of fresh, empty
// stores.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/shoalfs/shoal/internal/objstore"
)

// Run runs the suite. open returns a new empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) objstore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store)
	}{
		{"PutGet", testPutGet},
		{"Range", testRange},
		{"Missing", testMissing},
		{"Overwrite", testOverwrite},
		{"List", testList},
		{"ListNested", testListNested},
		{"Concurrent", testConcurrent},
		{"Empty", testEmpty},
		{"Large", testLarge},
		{"CallerBuffer", testCallerBuffer},
		{"Sync", testSync},
		{"ETag", testETag},
		{"ListDir", testListDir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

func put(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s objstore.Store, key string, off, n int64) []byte {
	t.Helper()
	b, err := s.Get(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", key, off, n, err)
	}
	return b
}

func testPutGet(t *testing.T, s objstore.Store) {
	put(t, s, "a/b/c", []byte("hello"))
	if got := get(t, s, "a/b/c", 0, -1); string(got) != "hello" {
		t.Fatalf("Get = %q, want hello", got)
	}
	info, err := s.Head(context.Background(), "a/b/c")
	if err != nil || info.Size != 5 || info.Key != "a/b/c" {
		t.Fatalf("Head = %+v, %v", info, err)
	}
}

func testRange(t *testing.T, s objstore.Store) {
	data := []byte("0123456789")
	put(t, s, "r", data)
	for _, tc := range []struct {
		off, n int64
		want   string
	}{
		{0, 3, "012"},
		{4, 3, "456"},
		{8, 5, "89"},
		{7, -1, "789"},
		{10, 1, ""},
		{20, -1, ""},
		{0, 0, ""},
		{0, -1, "0123456789"},
	} {
		if got := get(t, s, "r", tc.off, tc.n); string(got) != tc.want {
			t.Errorf("Get(r, %d, %d) = %q, want %q", tc.off, tc.n, got, tc.want)
		}
	}
}

func testMissing(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "nope/x", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get missing: %v, want ErrNotFound", err)
	}
	if _, err := s.Head(ctx, "nope/x"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head missing: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "nope/x"); err != nil {
		t.Errorf("Delete missing: %v", err)
	}
	put(t, s, "d/k", []byte("x"))
	if err := s.Delete(ctx, "d/k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "d/k", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get deleted: %v, want ErrNotFound", err)
	}
	if l, err := s.List(ctx, "", "", 0); err != nil || len(l) != 0 {
		t.Errorf("List after delete = %v, %v", l, err)
	}
}

func testOverwrite(t *testing.T, s objstore.Store) {
	put(t, s, "o", []byte("first version"))
	put(t, s, "o", []byte("second"))
	if got := get(t, s, "o", 0, -1); string(got) != "second" {
		t.Fatalf("Get = %q", got)
	}
	if l, _ := s.List(context.Background(), "", "", 0); len(l) != 1 || l[0].Size != 6 {
		t.Fatalf("List = %+v", l)
	}
}

func keys(l []objstore.Info) []string {
	var out []string
	for _, i := range l {
		out = append(out, i.Key)
	}
	return out
}

func testList(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	// No key is also a "directory" of other keys: the file store cannot
	// hold both, and Shoal's key schemes never need it.
	all := []string{"a.b", "a/x", "a/y/z", "a0", "a1", "b/1", "b/2", "b/3", "c"}
	for i := len(all) - 1; i >= 0; i-- {
		put(t, s, all[i], []byte(all[i]))
	}
	for _, tc := range []struct {
		prefix, after string
		limit         int
		want          []string
	}{
		{"", "", 0, all},
		{"", "", 3, all[:3]},
		{"a", "", 0, all[:5]},
		{"a", "a/", 4, all[1:5]},
		{"a/", "", 0, []string{"a/x", "a/y/z"}},
		{"a/y", "", 0, []string{"a/y/z"}},
		{"", "a/x", 0, all[2:]},
		{"", "a/", 0, all[1:]},
		{"b/", "b/1", 1, []string{"b/2"}},
		{"", "c", 0, nil},
		{"zz", "", 0, nil},
		{"", "a/y/z", 2, []string{"a0", "a1"}},
	} {
		l, err := s.List(ctx, tc.prefix, tc.after, tc.limit)
		if err != nil {
			t.Fatalf("List(%q, %q, %d): %v", tc.prefix, tc.after, tc.limit, err)
		}
		if got := keys(l); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("List(%q, %q, %d) = %q, want %q", tc.prefix, tc.after, tc.limit, got, tc.want)
		}
		for _, i := range l {
			if i.Size != int64(len(i.Key)) {
				t.Errorf("List: %q size %d", i.Key, i.Size)
			}
		}
	}
}

// testListNested pages through a deeper tree in small pages.
func testListNested(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	var want []string
	for i := range 5 {
		for j := range 4 {
			k := fmt.Sprintf("chunks/%d/%d/%d_%d", i, i*10+j, i*100+j, j)
			want = append(want, k)
			put(t, s, k, nil)
		}
	}
	var got []string
	after := ""
	for {
		l, err := s.List(ctx, "chunks/", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) == 0 {
			break
		}
		got = append(got, keys(l)...)
		after = l[len(l)-1].Key
	}
	// want is built in numeric order, which here equals key order.
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged List = %q\nwant %q", got, want)
	}
}

func testConcurrent(t *testing.T, s objstore.Store) {
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			for j := range 8 {
				k := fmt.Sprintf("c/%02d/%d", i, j)
				if err := s.Put(context.Background(), k, []byte(k)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l, err := s.List(context.Background(), "c/", "", 0)
	if err != nil || len(l) != n*8 {
		t.Fatalf("List = %d keys, %v", len(l), err)
	}
	for _, i := range l {
		if got := get(t, s, i.Key, 0, -1); string(got) != i.Key {
			t.Fatalf("Get(%q) = %q", i.Key, got)
		}
	}
}

func testEmpty(t *testing.T, s objstore.Store) {
	put(t, s, "e", nil)
	if got := get(t, s, "e", 0, -1); len(got) != 0 {
		t.Fatalf("Get empty = %q", got)
	}
	if got := get(t, s, "e", 5, 3); len(got) != 0 {
		t.Fatalf("Get empty past end = %q", got)
	}
	if info, err := s.Head(context.Background(), "e"); err != nil || info.Size != 0 {
		t.Fatalf("Head = %+v, %v", info, err)
	}
}

func testLarge(t *testing.T, s objstore.Store) {
	data := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	put(t, s, "big/obj", data)
	if got := get(t, s, "big/obj", 0, -1); !bytes.Equal(got, data) {
		t.Fatal("Get of 4 MiB object differs")
	}
	if got := get(t, s, "big/obj", 3<<20+7, 1000); !bytes.Equal(got, data[3<<20+7:3<<20+1007]) {
		t.Fatal("range Get of 4 MiB object differs")
	}
}

// testCallerBuffer checks that the store does not keep the caller's slice.
func testCallerBuffer(t *testing.T, s objstore.Store) {
	buf := []byte("abc")
	put(t, s, "buf", buf)
	buf[0] = 'X'
	got := get(t, s, "buf", 0, -1)
	if string(got) != "abc" {
		t.Fatalf("store kept the caller's buffer: %q", got)
	}
	got[1] = 'Y'
	if again := get(t, s, "buf", 0, -1); string(again) != "abc" {
		t.Fatalf("store returned its own buffer: %q", again)
	}
}

// testSync runs for stores that implement objstore.Syncer.
func testSync(t *testing.T, s objstore.Store) {
	sy, ok := s.(objstore.Syncer)
	if !ok {
		t.Skip("store does not implement objstore.Syncer")
	}
	ctx := context.Background()
	if err := sy.Sync(ctx, nil); err != nil {
		t.Fatalf("Sync(nil): %v", err)
	}
	var ks []string
	for i := range 40 {
		k := fmt.Sprintf("s/%d/%d/k%d", i%3, i%7, i)
		put(t, s, k, []byte(k))
		ks = append(ks, k)
	}
	put(t, s, "top", []byte("x"))
	ks = append(ks, "top", "s/0/0/k0") // a duplicate is fine
	if err := sy.Sync(ctx, ks); err != nil {
		t.Fatalf("Sync of existing keys: %v", err)
	}
	if err := sy.Sync(ctx, ks); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	for _, missing := range [][]string{{"nope"}, {"s/0/0/k0", "nope/deeper/x"}, {"s/0"}} {
		err := sy.Sync(ctx, missing)
		if !errors.Is(err, objstore.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Sync(%q) = %v, want ErrNotFound", missing, err)
		}
	}
	if got := get(t, s, "s/1/1/k1", 0, -1); string(got) != "s/1/1/k1" {
		t.Fatalf("Get after Sync = %q", got)
	}
}

// testETag runs for stores that implement objstore.DirLister (the ones a
// dataset can be mounted from): their ETag must change with the object.
func testETag(t *testing.T, s objstore.Store) {
	if _, ok := s.(objstore.DirLister); !ok {
		t.Skip("store does not implement objstore.DirLister")
	}
	ctx := context.Background()
	put(t, s, "v/obj", []byte("version one"))
	h1, err := s.Head(ctx, "v/obj")
	if err != nil || h1.ETag == "" {
		t.Fatalf("Head = %+v, %v; want an ETag", h1, err)
	}
	l, err := s.List(ctx, "v/", "", 0)
	if err != nil || len(l) != 1 || l[0].ETag != h1.ETag {
		t.Fatalf("List = %+v, %v; want ETag %q", l, err, h1.ETag)
	}
	put(t, s, "v/obj", []byte("version two!"))
	h2, err := s.Head(ctx, "v/obj")
	if err != nil || h2.ETag == "" || h2.ETag == h1.ETag {
		t.Fatalf("Head after overwrite = %+v, %v; want an ETag other than %q", h2, err, h1.ETag)
	}
}

// testListDir runs for stores that implement objstore.DirLister.
func testListDir(t *testing.T, s objstore.Store) {
	dl, ok := s.(objstore.DirLister)
	if !ok {
		t.Skip("store does not implement objstore.DirLister")
	}
	ctx := context.Background()
	for _, k := range []string{"d/a", "d/b/x", "d/b/y", "d/c", "d/e/f/g", "d0", "top"} {
		put(t, s, k, []byte(k))
	}
	list := func(prefix string, limit int) (objs, pfx []string, pages int) {
		cont := ""
		for {
			p, err := dl.ListDir(ctx, prefix, cont, limit)
			if err != nil {
				t.Fatalf("ListDir(%q, %q, %d): %v", prefix, cont, limit, err)
			}
			pages++
			if len(p.Objects)+len(p.Prefixes) > max(limit, 1) && limit > 0 {
				t.Fatalf("ListDir(%q, limit %d) returned %d entries", prefix, limit, len(p.Objects)+len(p.Prefixes))
			}
			for _, o := range p.Objects {
				objs = append(objs, o.Key)
				if o.Size != int64(len(o.Key)) || o.ETag == "" {
					t.Errorf("ListDir: %+v: want size %d and an ETag", o, len(o.Key))
				}
			}
			pfx = append(pfx, p.Prefixes...)
			if p.Next == "" {
				return objs, pfx, pages
			}
			if pages > 100 {
				t.Fatalf("ListDir(%q) does not end", prefix)
			}
			cont = p.Next
		}
	}
	for _, tc := range []struct {
		prefix     string
		limit      int
		objs, pfxs string
	}{
		{"d/", 0, "[d/a d/c]", "[d/b/ d/e/]"},
		{"d/", 1, "[d/a d/c]", "[d/b/ d/e/]"},
		{"d/", 3, "[d/a d/c]", "[d/b/ d/e/]"},
		{"", 0, "[d0 top]", "[d/]"},
		{"d/e/", 0, "[]", "[d/e/f/]"},
		{"d/b/", 0, "[d/b/x d/b/y]", "[]"},
		{"nope/", 0, "[]", "[]"},
	} {
		objs, pfxs, pages := list(tc.prefix, tc.limit)
		if fmt.Sprint(objs) != tc.objs && !(objs == nil && tc.objs == "[]") || fmt.Sprint(pfxs) != tc.pfxs && !(pfxs == nil && tc.pfxs == "[]") {
			t.Errorf("ListDir(%q, limit %d) = %q %q, want %s %s", tc.prefix, tc.limit, objs, pfxs, tc.objs, tc.pfxs)
		}
		if tc.limit == 1 && pages < 4 {
			t.Errorf("ListDir(%q, limit 1) took %d pages for 4 entries", tc.prefix, pages)
		}
	}
}
