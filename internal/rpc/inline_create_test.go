package rpc

import (
	"context"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
)

func TestCreatePath(t *testing.T) {
	ctx := context.Background()
	e := startInline(t, newBackend(t, mem.New()), true, ServerOptions{})
	mc := dial(t, []string{e.addr}, ClientOptions{}).Meta().(*metaClient)
	d, err := mc.Mkdir(ctx, root, meta.RootIno, "d", 0o755)
	ok(t, err, "mkdir")
	_, err = mc.Symlink(ctx, root, meta.RootIno, "ld", "d")
	ok(t, err, "symlink ld -> d")
	_, err = mc.Symlink(ctx, root, d.Ino, "lf", "f")
	ok(t, err, "symlink d/lf -> f")

	// Through a symlink in the middle, as Resolve follows it.
	r, err := mc.CreatePath(ctx, root, "/ld/f", 0o640, os.O_RDWR, true)
	ok(t, err, "CreatePath /ld/f")
	if r.ParentNotDir || r.Attr.Type != meta.TypeRegular || r.Attr.Mode&0o777 != 0o640 {
		t.Fatalf("CreatePath: %+v", r)
	}
	if l, err := mc.Lookup(ctx, root, d.Ino, "f"); err != nil || l.Ino != r.Attr.Ino {
		t.Fatalf("d/f: %+v %v", l, err)
	}
	_, err = mc.Write(ctx, r.Attr.Ino, nil, time.Now())
	ok(t, err, "write the created file (granted as by Create)")
	ok(t, mc.Release(ctx, r.Attr.Ino), "release")

	_, err = mc.CreatePath(ctx, root, "/d/f", 0o644, os.O_RDWR, true)
	wantErrno(t, err, syscall.EEXIST, "exclusive CreatePath of an existing file")
	r2, err := mc.CreatePath(ctx, root, "/d/f", 0o644, os.O_RDWR, false)
	ok(t, err, "CreatePath of an existing file")
	if r2.Attr.Ino != r.Attr.Ino {
		t.Fatalf("CreatePath opened %d, want %d", r2.Attr.Ino, r.Attr.Ino)
	}
	ok(t, mc.Release(ctx, r2.Attr.Ino), "release")

	// A final symlink is opened as Create opens it, not followed.
	r, err = mc.CreatePath(ctx, root, "/d/lf", 0o644, os.O_RDWR, false)
	ok(t, err, "CreatePath of a symlink")
	if r.Attr.Type != meta.TypeSymlink {
		t.Fatalf("CreatePath of a symlink: %+v", r)
	}
	ok(t, mc.Release(ctx, r.Attr.Ino), "release the symlink")

	r, err = mc.CreatePath(ctx, root, "/d/f/g", 0o644, os.O_RDWR, false)
	ok(t, err, "CreatePath under a file")
	if !r.ParentNotDir {
		t.Fatalf("CreatePath under a file: %+v", r)
	}
	_, err = mc.CreatePath(ctx, root, "/nope/g", 0o644, os.O_RDWR, false)
	wantErrno(t, err, syscall.ENOENT, "CreatePath in a missing directory")
	_, err = mc.CreatePath(ctx, root, "/", 0o644, os.O_RDWR, false)
	wantErrno(t, err, syscall.EINVAL, "CreatePath of the root")
	if n := e.n(pb.Meta_Resolve_FullMethodName) + e.n(pb.Meta_Create_FullMethodName); n != 0 {
		t.Fatalf("CreatePath made %d Meta calls", n)
	}
}

func TestCreatePathOldServer(t *testing.T) {
	e := startInline(t, newBackend(t, mem.New()), false, ServerOptions{})
	mc := dial(t, []string{e.addr}, ClientOptions{}).Meta().(*metaClient)
	_, err := mc.CreatePath(context.Background(), root, "/f", 0o644, os.O_RDWR, false)
	if !fserr.Is(fserr.NotSupported, err) {
		t.Fatalf("CreatePath against a server without Inline: %v", err)
	}
}

// A CreatePath whose reply is lost is applied once: the retry opens no
// second handle and an exclusive create does not fail with EEXIST.
func TestCreatePathLostReply(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	lost := 0
	lose := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && info.FullMethod == pb.Inline_CreatePath_FullMethodName && lost == 0 {
			lost++
			return nil, status.Error(codes.Unavailable, "test: reply lost")
		}
		return resp, err
	}
	e := startInline(t, newBackend(t, mem.New()), true, ServerOptions{}, lose)
	mc := dial(t, []string{e.addr}, ClientOptions{}).Meta().(*metaClient)
	r, err := mc.CreatePath(ctx, root, "/f", 0o644, os.O_RDWR, true)
	ok(t, err, "exclusive CreatePath with a lost reply")
	if lost != 1 || e.n(pb.Inline_CreatePath_FullMethodName) != 2 {
		t.Fatalf("reply lost %d times, %d calls", lost, e.n(pb.Inline_CreatePath_FullMethodName))
	}
	ok(t, mc.Release(ctx, r.Attr.Ino), "release")
	ok(t, mc.Unlink(ctx, root, meta.RootIno, "f"), "unlink")
}
