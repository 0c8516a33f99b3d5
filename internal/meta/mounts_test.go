package meta_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/meta/metatest"
)

func wantKind(t *testing.T, what string, err error, k fserr.Kind) {
	t.Helper()
	if !fserr.Is(k, err) {
		t.Errorf("%s: %v, want kind %v", what, err, k)
	}
}

func TestMounts(t *testing.T) {
	for _, cfg := range []meta.Config{{}, {Exclusive: true}} {
		eng := mem.New()
		t.Cleanup(func() { eng.Close() })
		e := metatest.NewFS(t, eng, cfg)
		fs, ctx := e.FS, context.Background()
		root, user := meta.Root, meta.Identity{Uid: 1000, Gid: 1000}
		d, err := fs.Mkdir(ctx, root, meta.RootIno, "datasets", 0o777)
		if err != nil {
			t.Fatal(err)
		}
		full, _ := fs.Mkdir(ctx, root, d.Ino, "full", 0o755)
		if _, err := fs.Mkdir(ctx, root, full.Ino, "child", 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Create(ctx, root, d.Ino, "file", 0o644, 0, true); err != nil {
			t.Fatal(err)
		}
		fs.Release(ctx, 0)
		m := meta.Mount{URL: "s3://bucket/train", Path: "/datasets/x", Endpoint: "http://127.0.0.1:9000", SyncInterval: 30 * time.Second}

		_, err = fs.Mount(ctx, user, m)
		wantKind(t, "Mount as a user", err, fserr.NotPermitted)
		for _, bad := range []meta.Mount{
			{URL: "http://x/y", Path: "/datasets/y"},
			{URL: "s3:///nobucket", Path: "/datasets/y"},
			{URL: "file://host/dir", Path: "/datasets/y"},
			{URL: "s3://b/p?secret=1", Path: "/datasets/y"},
			{URL: "s3://b", Path: "relative"},
			{URL: "s3://b", Path: "/"},
			{URL: "s3://b", Path: "/datasets/y", Mode: 0o4755},
		} {
			_, err := fs.Mount(ctx, root, bad)
			wantKind(t, "Mount "+bad.URL+" on "+bad.Path, err, fserr.Invalid)
		}
		_, err = fs.Mount(ctx, root, meta.Mount{URL: "file:///tmp", Path: "/datasets/full"})
		wantKind(t, "Mount on a non-empty directory", err, fserr.NotEmpty)
		_, err = fs.Mount(ctx, root, meta.Mount{URL: "file:///tmp", Path: "/datasets/file"})
		wantKind(t, "Mount on a file", err, fserr.Exist)
		_, err = fs.Mount(ctx, root, meta.Mount{URL: "file:///tmp", Path: "/nope/x"})
		wantKind(t, "Mount under a missing directory", err, fserr.NotExist)
		if l, _ := fs.Mounts(ctx); len(l) != 0 {
			t.Fatalf("failed mounts left records: %+v", l)
		}

		got, err := fs.Mount(ctx, root, m)
		if err != nil {
			t.Fatal(err)
		}
		a, err := fs.Resolve(ctx, root, "/datasets/x", false)
		if err != nil || a.Type != meta.TypeDir || a.Flags&meta.FlagMounted == 0 || a.Ino != got.Root {
			t.Fatalf("mount root = %+v, %v (mount %+v)", a, err, got)
		}
		if got.Mode != 0o444 || got.SyncInterval != 30*time.Second {
			t.Errorf("defaults: %+v", got)
		}
		_, err = fs.Mount(ctx, root, m)
		wantKind(t, "Mount twice", err, fserr.Busy)
		_, err = fs.Mount(ctx, root, meta.Mount{URL: "file:///tmp", Path: "/datasets/x/in"})
		if !fserr.Is(fserr.Busy, err) && !fserr.Is(fserr.ReadOnly, err) {
			t.Errorf("nested Mount: %v, want Busy", err)
		}

		// Read-only: every namespace change in the mount fails with EROFS,
		// and its root cannot be removed or renamed away.
		_, err = fs.Mkdir(ctx, root, a.Ino, "d", 0o755)
		wantKind(t, "Mkdir in a mount", err, fserr.ReadOnly)
		_, err = fs.Create(ctx, root, a.Ino, "f", 0o644, 0, true)
		wantKind(t, "Create in a mount", err, fserr.ReadOnly)
		_, err = fs.Symlink(ctx, root, a.Ino, "l", "/x")
		wantKind(t, "Symlink in a mount", err, fserr.ReadOnly)
		_, err = fs.Mknod(ctx, root, a.Ino, "p", meta.TypeFIFO, 0o644, 0)
		wantKind(t, "Mknod in a mount", err, fserr.ReadOnly)
		f, _ := fs.Resolve(ctx, root, "/datasets/file", false)
		_, err = fs.Link(ctx, root, f.Ino, a.Ino, "hard")
		wantKind(t, "Link into a mount", err, fserr.ReadOnly)
		err = fs.Rename(ctx, root, d.Ino, "file", a.Ino, "moved", 0)
		wantKind(t, "Rename into a mount", err, fserr.ReadOnly)
		err = fs.Rmdir(ctx, root, d.Ino, "x")
		wantKind(t, "Rmdir of a mount root", err, fserr.Busy)
		err = fs.Rename(ctx, root, d.Ino, "x", d.Ino, "y", 0)
		wantKind(t, "Rename of a mount root", err, fserr.Busy)
		if _, err := fs.SetAttr(ctx, root, a.Ino, meta.SetFlags, meta.Attr{}); err != nil {
			t.Fatal(err)
		}
		if a2, _ := fs.GetAttr(ctx, a.Ino); a2.Flags&meta.FlagMounted == 0 {
			t.Error("SetAttr cleared FlagMounted")
		}
		if _, err := fs.SetAttr(ctx, root, full.Ino, meta.SetFlags, meta.Attr{Flags: meta.FlagMounted}); err != nil {
			t.Fatal(err)
		}
		if a2, _ := fs.GetAttr(ctx, full.Ino); a2.Flags&meta.FlagMounted != 0 {
			t.Error("SetAttr set FlagMounted")
		}

		l, err := fs.Mounts(ctx)
		if err != nil || len(l) != 1 || l[0].URL != m.URL || l[0].Endpoint != m.Endpoint || l[0].Root != a.Ino {
			t.Fatalf("Mounts = %+v, %v", l, err)
		}
		if mo, err := fs.MountOf(ctx, a.Ino); err != nil || mo.Path != "/datasets/x" {
			t.Fatalf("MountOf = %+v, %v", mo, err)
		}

		_, err = fs.Unmount(ctx, user, "/datasets/x")
		wantKind(t, "Unmount as a user", err, fserr.NotPermitted)
		_, err = fs.Unmount(ctx, root, "/datasets/full")
		wantKind(t, "Unmount of a plain directory", err, fserr.Invalid)
		if _, err := fs.Unmount(ctx, root, "/datasets/x"); err != nil {
			t.Fatal(err)
		}
		if l, _ := fs.Mounts(ctx); len(l) != 0 {
			t.Fatalf("Mounts after Unmount = %+v", l)
		}
		if _, err := fs.Mkdir(ctx, root, a.Ino, "d", 0o755); err != nil {
			t.Fatalf("Mkdir in an unmounted directory: %v", err)
		}
		// An existing empty directory can be mounted.
		if _, err := fs.Mount(ctx, root, meta.Mount{URL: "file:///srv/data", Path: "/datasets/x/d"}); err != nil {
			t.Fatalf("Mount on an empty directory: %v", err)
		}
		if problems, err := fs.Check(ctx); err != nil || len(problems) != 0 {
			t.Fatalf("Check = %q, %v", problems, err)
		}
	}
}
