package meta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

func TestPublish(t *testing.T) {
	for _, excl := range []bool{false, true} {
		f := newTestFS(t, excl)
		ctx := context.Background()
		user := meta.Identity{Uid: 1000, Gid: 1000}
		stage, err := f.Mkdir(ctx, meta.Root, meta.RootIno, "stage", 0o777)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := f.Mkdir(ctx, meta.Root, meta.RootIno, "dst", 0o777)
		if err != nil {
			t.Fatal(err)
		}
		staged := func(name string) meta.Attr {
			t.Helper()
			a, err := f.Mknod(ctx, user, stage.Ino, name, meta.TypeRegular, 0o644, 0)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}

		// Plain publish: renamed, stamped, xattr set, cache agrees.
		a1 := staged("t1")
		got, err := f.Publish(ctx, user, stage.Ino, "t1", dst.Ino, "obj", meta.PublishOptions{
			Ino: a1.Ino, Mtime: 12345, Xattr: "user.s3.object", Value: []byte("v1"), Check: true})
		if err != nil {
			t.Fatal(err)
		}
		if got.Ino != a1.Ino || got.Mtime != 12345 {
			t.Fatalf("published attr %+v", got)
		}
		if _, err := f.Lookup(ctx, user, stage.Ino, "t1"); !fserr.Is(fserr.NotExist, err) {
			t.Fatalf("staged name still there: %v", err)
		}
		la, err := f.Lookup(ctx, user, dst.Ino, "obj")
		if err != nil || la.Ino != a1.Ino || la.Mtime != 12345 {
			t.Fatalf("lookup after publish: %+v %v", la, err)
		}
		if v, err := f.GetXattr(ctx, user, a1.Ino, "user.s3.object"); err != nil || string(v) != "v1" {
			t.Fatalf("xattr %q %v", v, err)
		}

		// If-None-Match: the target exists now.
		a2 := staged("t2")
		_, err = f.Publish(ctx, user, stage.Ino, "t2", dst.Ino, "obj", meta.PublishOptions{Check: true})
		if !errors.Is(err, meta.ErrStale) || !fserr.Is(fserr.Exist, err) {
			t.Fatalf("publish over existing with Expect 0: %v", err)
		}
		// If-Match with a stale ctime fails; with the current one, replaces.
		_, err = f.Publish(ctx, user, stage.Ino, "t2", dst.Ino, "obj", meta.PublishOptions{Check: true, Expect: a1.Ino, ExpectCtime: la.Ctime - 1})
		if !errors.Is(err, meta.ErrStale) {
			t.Fatalf("publish with stale ctime: %v", err)
		}
		if _, err := f.Publish(ctx, user, stage.Ino, "t2", dst.Ino, "obj", meta.PublishOptions{Check: true, Expect: a1.Ino, ExpectCtime: la.Ctime, Ino: a2.Ino}); err != nil {
			t.Fatal(err)
		}
		if la, err := f.Lookup(ctx, user, dst.Ino, "obj"); err != nil || la.Ino != a2.Ino {
			t.Fatalf("lookup after replace: %+v %v", la, err)
		}
		if _, err := f.GetAttr(ctx, a1.Ino); !fserr.Is(fserr.NotExist, err) {
			t.Fatalf("replaced inode still there: %v", err)
		}

		// Wrong staged inode, a directory target, another's file.
		a3 := staged("t3")
		if _, err := f.Publish(ctx, user, stage.Ino, "t3", dst.Ino, "x", meta.PublishOptions{Ino: a3.Ino + 100}); !fserr.Is(fserr.NotExist, err) {
			t.Fatalf("wrong ino: %v", err)
		}
		if _, err := f.Mkdir(ctx, user, dst.Ino, "dir", 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Publish(ctx, user, stage.Ino, "t3", dst.Ino, "dir", meta.PublishOptions{Check: true}); !fserr.Is(fserr.IsDir, err) {
			t.Fatalf("onto a directory: %v", err)
		}
		other := meta.Identity{Uid: 2000, Gid: 2000}
		if _, err := f.Publish(ctx, other, stage.Ino, "t3", dst.Ino, "y", meta.PublishOptions{Mtime: 1}); err == nil {
			t.Fatal("publish of another's file with an mtime succeeded")
		}
		if _, err := f.Lookup(ctx, user, stage.Ino, "t3"); err != nil {
			t.Fatalf("failed publish moved the file: %v", err)
		}
		checkClean(t, f)
	}
}
