package meta_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
)

func newTestFS(t *testing.T, exclusive bool) *meta.FS {
	t.Helper()
	eng := mem.New()
	t.Cleanup(func() { eng.Close() })
	f, err := meta.New(context.Background(), eng, meta.Config{Exclusive: exclusive})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func checkClean(t *testing.T, f *meta.FS) {
	t.Helper()
	probs, err := f.Check(context.Background())
	if err != nil || len(probs) > 0 {
		t.Fatalf("check: %v %v", err, probs)
	}
}

func TestReadDirByName(t *testing.T) {
	for _, excl := range []bool{false, true} {
		f := newTestFS(t, excl)
		ctx := context.Background()
		d, err := f.Mkdir(ctx, meta.Root, meta.RootIno, "d", 0o750)
		if err != nil {
			t.Fatal(err)
		}
		names := []string{"b", "a", "a-b", "a.b", "a0", "\xff", "a b", "Z", "a/"[:1] + "x", "zz", "m"}
		rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		for i, n := range names {
			if i%3 == 0 {
				_, err = f.Mkdir(ctx, meta.Root, d.Ino, n, 0o755)
			} else {
				_, err = f.Mknod(ctx, meta.Root, d.Ino, n, meta.TypeRegular, 0o644, 0)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		want := append([]string(nil), names...)
		sort.Strings(want)
		var got []string
		after := ""
		for {
			ents, err := f.ReadDirByName(ctx, meta.Root, d.Ino, after, 3, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) == 0 {
				break
			}
			for _, e := range ents {
				if e.Attr == nil || e.Attr.Ino != e.Ino {
					t.Fatalf("entry %q without attributes", e.Name)
				}
				got = append(got, e.Name)
			}
			after = ents[len(ents)-1].Name
		}
		if !equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
		// after need not exist.
		ents, err := f.ReadDirByName(ctx, meta.Root, d.Ino, "a-", 2, false)
		if err != nil || len(ents) != 2 || ents[0].Name != "a-b" || ents[1].Name != "a.b" || ents[0].Attr != nil {
			t.Fatalf("after a-: %v %+v", err, ents)
		}
		// Permission: uid 1000 is "other" with mode 0750.
		if _, err := f.ReadDirByName(ctx, meta.Identity{Uid: 1000, Gid: 1000}, d.Ino, "", 10, false); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("want permission error, got %v", err)
		}
		// Xattrs ride along, hidden from those who may not read them.
		a, _ := f.Lookup(ctx, meta.Root, d.Ino, "b")
		if err := f.SetXattr(ctx, meta.Root, a.Ino, "user.s3.object", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		ents, vals, err := f.ReadDirByNameXattr(ctx, meta.Root, d.Ino, "ax", 2, "user.s3.object")
		if err != nil || len(ents) != 2 || ents[0].Name != "b" || !bytes.Equal(vals[0], []byte("v")) || vals[1] != nil {
			t.Fatalf("xattr listing: %v %+v %q", err, ents, vals)
		}
		if _, err := f.SetAttr(ctx, meta.Root, a.Ino, meta.SetMode, meta.Attr{Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.SetAttr(ctx, meta.Root, d.Ino, meta.SetMode, meta.Attr{Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
		_, vals, err = f.ReadDirByNameXattr(ctx, meta.Identity{Uid: 1000, Gid: 1000}, d.Ino, "ax", 1, "user.s3.object")
		if err != nil || vals[0] != nil {
			t.Fatalf("unreadable xattr shown: %v %q", err, vals)
		}
		checkClean(t, f)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
