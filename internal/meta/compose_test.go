package meta_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// TestComposedCapabilities: the in-process PathCreator, OpenReader,
// Checker and Syncer, on the FS and on a session, behave as the calls
// they compose: a handle is open after CreatePath and a successful
// OpenRead, none after an OpenRead of a non-file, and an unlinked file
// goes only at its last Release.
func TestComposedCapabilities(t *testing.T) {
	ctx := context.Background()
	for _, excl := range []bool{false, true} {
		f := newTestFS(t, excl)
		sess, err := f.NewSession(ctx, meta.SessionInfo{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for name, svc := range map[string]meta.Service{"fs": f, "session": sess} {
			pc, or := svc.(meta.PathCreator), svc.(meta.OpenReader)
			dir := "/" + name
			if _, err := svc.Mkdir(ctx, meta.Root, meta.RootIno, name, 0o755); err != nil {
				t.Fatal(err)
			}
			r, err := pc.CreatePath(ctx, meta.Root, dir+"/f", 0o644, os.O_RDWR, true)
			if err != nil || r.ParentNotDir || r.Attr.Type != meta.TypeRegular {
				t.Fatalf("%s: CreatePath: %+v %v", name, r, err)
			}
			if _, err := pc.CreatePath(ctx, meta.Root, dir+"/f", 0o644, os.O_RDWR, true); !fserr.Is(fserr.Exist, err) {
				t.Fatalf("%s: exclusive CreatePath of an existing file: %v", name, err)
			}
			if r, err := pc.CreatePath(ctx, meta.Root, dir+"/f/g", 0o644, os.O_RDWR, false); err != nil || !r.ParentNotDir {
				t.Fatalf("%s: CreatePath under a file: %+v %v", name, r, err)
			}
			if _, err := pc.CreatePath(ctx, meta.Root, "/", 0o644, os.O_RDWR, false); !fserr.Is(fserr.Invalid, err) {
				t.Fatalf("%s: CreatePath of the root: %v", name, err)
			}
			ino := r.Attr.Ino
			id, err := svc.NewSliceID(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Write(ctx, ino, []meta.ChunkWrite{{Slice: meta.Slice{ID: id, Size: 5, Len: 5}}}, time.Now()); err != nil {
				t.Fatal(err)
			}
			o, err := or.OpenRead(ctx, meta.Root, dir+"/f", true, os.O_RDONLY, 1<<20)
			if err != nil || !o.Opened || o.Attr.Ino != ino || len(o.Slices) != 1 || o.Keys != nil {
				t.Fatalf("%s: OpenRead: %+v %v", name, o, err)
			}
			if o, err := or.OpenRead(ctx, meta.Root, dir, true, os.O_RDONLY, 0); err != nil || o.Opened || o.Attr.Type != meta.TypeDir {
				t.Fatalf("%s: OpenRead of a directory: %+v %v", name, o, err)
			}
			d, err := svc.Lookup(ctx, meta.Root, meta.RootIno, name)
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Unlink(ctx, meta.Root, d.Ino, "f"); err != nil {
				t.Fatal(err)
			}
			// Two handles (CreatePath's, OpenRead's): the data stays
			// until both go.
			for i := 0; i < 2; i++ {
				if _, err := svc.GetAttr(ctx, ino); err != nil {
					t.Fatalf("%s: inode gone with %d handles left: %v", name, 2-i, err)
				}
				if err := svc.Release(ctx, ino); err != nil {
					t.Fatal(err)
				}
			}
			if probs, err := svc.(meta.Checker).Check(ctx); err != nil || len(probs) != 0 {
				t.Fatalf("%s: Check: %q %v", name, probs, err)
			}
			if err := svc.(meta.Syncer).Sync(); err != nil {
				t.Fatalf("%s: Sync: %v", name, err)
			}
		}
		if err := sess.Close(); err != nil {
			t.Fatal(err)
		}
		checkClean(t, f)
	}
}
