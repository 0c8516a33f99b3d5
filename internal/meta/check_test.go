package meta

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/mem"
)

// TestCheckFindsDamage breaks each invariant by hand and expects Check to
// name it.
func TestCheckFindsDamage(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		damage func(fs *FS, tx kv.Txn, f, d Ino) error
		want   string
	}{
		{"dangling dentry", func(fs *FS, tx kv.Txn, f, d Ino) error { return tx.Delete(fs.k.inode(f)) }, "does not exist"},
		{"missing index", func(fs *FS, tx kv.Txn, f, d Ino) error {
			start, end := fs.k.under(tagDirIdx, uint64(RootIno))
			pairs, _ := tx.Scan(start, end, 1, false)
			return tx.Delete(pairs[0].Key)
		}, "no readdir index"},
		{"nlink", func(fs *FS, tx kv.Txn, f, d Ino) error {
			var n node
			getNode(tx, &fs.k, f, &n)
			n.Nlink = 3
			return putNode(tx, &fs.k, &n)
		}, "nlink 3"},
		{"usage", func(fs *FS, tx kv.Txn, f, d Ino) error {
			var u usageDelta
			u.add(f, 1, 0)
			return u.apply(tx, &fs.k)
		}, "usage counters"},
		{"range of no session", func(fs *FS, tx kv.Txn, f, d Ino) error {
			return tx.Put(fs.k.alloc(4242, 10), u64bytes(20))
		}, "session 4242 has slice id range"},
		{"request of no session", func(fs *FS, tx kv.Txn, f, d Ino) error {
			return tx.Put(fs.k.request(4242, 1), nil)
		}, "request record"},
		{"open without reverse", func(fs *FS, tx kv.Txn, f, d Ino) error {
			return tx.Put(fs.k.sessionOpen(fs.Session(), f), nil)
		}, "open record is missing"},
		{"bad sweep range", func(fs *FS, tx kv.Txn, f, d Ino) error {
			return tx.Put(fs.k.sweep(10), u64bytes(5))
		}, "sweep range record"},
		{"orphan chunk", func(fs *FS, tx kv.Txn, f, d Ino) error {
			return tx.Put(fs.k.chunk(999, 0), appendSlice(nil, Slice{ID: 77, Size: 1, Len: 1}))
		}, "belongs to no live"},
		{"freed but live", func(fs *FS, tx kv.Txn, f, d Ino) error {
			v, _ := tx.Get(fs.k.chunk(f, 0))
			recs, _ := decodeSlices(v)
			return tx.Put(fs.k.freed(recs[0].ID), binaryU32(1))
		}, "freed list but still referenced"},
		{"wrong parent", func(fs *FS, tx kv.Txn, f, d Ino) error {
			var n node
			getNode(tx, &fs.k, d, &n)
			n.Parent = f
			return putNode(tx, &fs.k, &n)
		}, "parent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eng := mem.New()
			defer eng.Close()
			fs, err := New(ctx, eng, Config{})
			if err != nil {
				t.Fatal(err)
			}
			f, _ := fs.Mknod(ctx, Root, RootIno, "f", TypeRegular, 0644, 0)
			d, _ := fs.Mkdir(ctx, Root, RootIno, "d", 0755)
			id, _ := fs.NewSliceID(ctx)
			if _, err := fs.Write(ctx, f.Ino, []ChunkWrite{{Slice: Slice{ID: id, Size: 4, Len: 4}}}, fs.cfg.Clock()); err != nil {
				t.Fatal(err)
			}
			if probs, _ := fs.Check(ctx); len(probs) != 0 {
				t.Fatalf("healthy fs has problems: %q", probs)
			}
			if err := eng.Update(ctx, func(tx kv.Txn) error { return c.damage(fs, tx, f.Ino, d.Ino) }); err != nil {
				t.Fatal(err)
			}
			probs, err := fs.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, p := range probs {
				found = found || strings.Contains(p, c.want)
			}
			if !found {
				t.Errorf("Check = %q, want a problem containing %q", probs, c.want)
			}
		})
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	n := node{Attr: Attr{Ino: 9, Type: TypeChar, Mode: 07777, Uid: 1, Gid: 2, Size: 1 << 49, Nlink: 3,
		Atime: -5, Mtime: 6, Ctime: 7, Flags: FlagAppend, Rdev: 0x103, Parent: 4}, next: 11}
	var got node
	if err := decodeNode(9, encodeNode(&n), &got); err != nil || got != n {
		t.Fatalf("round trip %+v -> %+v, %v", n, got, err)
	}
	if err := decodeNode(9, []byte{2}, &got); err == nil {
		t.Fatal("bad version accepted")
	}
	s := Slice{ID: 1 << 60, Size: 3, Off: 4, Len: 5, Pos: 6}
	out, err := decodeSlices(appendSlice(appendSlice(nil, s), s))
	if err != nil || len(out) != 2 || out[1] != s {
		t.Fatalf("slices %+v %v", out, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodeNode(&node{Attr: Attr{Type: TypeDir}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var n node
		if decodeNode(1, b, &n) == nil {
			if got := encodeNode(&n); string(got) != string(b[:attrLen]) && b[2]&0xf0 == 0 {
				t.Fatalf("re-encode differs")
			}
		}
		decodeSlices(b)
		decodeDentry(b)
		decodeDirIdx(b)
	})
}

func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	eng := mem.New()
	defer eng.Close()
	fs, _ := New(ctx, eng, Config{})
	dirs := make([]Ino, 16)
	for i := range dirs {
		a, _ := fs.Mkdir(ctx, Root, RootIno, string(rune('a'+i)), 0755)
		dirs[i] = a.Ino
	}
	b.ResetTimer()
	var i int
	for b.Loop() {
		i++
		if _, err := fs.Mknod(ctx, Root, dirs[i%16], "f"+strconv.Itoa(i), TypeRegular, 0644, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	ctx := context.Background()
	eng := mem.New()
	defer eng.Close()
	fs, _ := New(ctx, eng, Config{})
	a, _ := fs.Mkdir(ctx, Root, RootIno, "a", 0755)
	c, _ := fs.Mkdir(ctx, Root, a.Ino, "b", 0755)
	fs.Mknod(ctx, Root, c.Ino, "f", TypeRegular, 0644, 0)
	for b.Loop() {
		if _, err := fs.Resolve(ctx, Root, "/a/b/f", true); err != nil {
			b.Fatal(err)
		}
	}
}
