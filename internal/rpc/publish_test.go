package rpc

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
)

// TestPublishOverWire: the remote meta is a meta.Publisher, and a
// publish through it is one transaction on the server's engine, as it is
// in-process; a stale target comes back as meta.ErrStale having changed
// nothing.
func TestPublishOverWire(t *testing.T) {
	ctx := context.Background()
	eng := mem.New()
	b := newBackend(t, eng)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	ok(t, err, "listen")
	s := NewServer(b, ServerOptions{})
	g := grpc.NewServer(s.GRPCOptions()...)
	s.Register(g)
	s.RegisterClone(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	c := dial(t, []string{lis.Addr().String()}, ClientOptions{})
	m := c.Meta()
	t.Cleanup(func() {
		f, err := b.FS(ctx, DefaultFS)
		ok(t, err, "fs")
		checkFS(t, f)
	})
	pub, isPub := m.(meta.Publisher)
	if !isPub {
		t.Fatal("the remote meta is not a meta.Publisher")
	}
	stage := func(name string) meta.Attr {
		t.Helper()
		a, err := m.Create(ctx, meta.Root, meta.RootIno, name, 0o644, os.O_RDWR, true)
		ok(t, err, "create "+name)
		ok(t, m.Release(ctx, a.Ino), "release "+name)
		return a
	}
	a := stage("tmp1")
	// A read of the inode waits for its Release, sent in the background,
	// so that only the publish commits below.
	_, err = m.GetAttr(ctx, a.Ino)
	ok(t, err, "getattr")
	before := eng.Stats().Updates[kv.Committed]
	got, err := pub.Publish(ctx, meta.Root, meta.RootIno, "tmp1", meta.RootIno, "obj",
		meta.PublishOptions{Ino: a.Ino, Mtime: 4242, Xattr: "user.o", Value: []byte("v1"), Check: true})
	ok(t, err, "publish")
	if n := eng.Stats().Updates[kv.Committed] - before; n != 1 {
		t.Fatalf("publish over the wire committed %d transactions, want 1", n)
	}
	if got.Ino != a.Ino || got.Mtime != 4242 {
		t.Fatalf("published %+v", got)
	}
	if v, err := m.GetXattr(ctx, meta.Root, a.Ino, "user.o"); err != nil || string(v) != "v1" {
		t.Fatalf("xattr after publish: %q %v", v, err)
	}
	if _, err := m.Lookup(ctx, meta.Root, meta.RootIno, "tmp1"); !fserr.Is(fserr.NotExist, err) {
		t.Fatalf("staged name after publish: %v", err)
	}

	// If-None-Match against an existing target: stale, nothing moved.
	a2 := stage("tmp2")
	_, err = pub.Publish(ctx, meta.Root, meta.RootIno, "tmp2", meta.RootIno, "obj",
		meta.PublishOptions{Ino: a2.Ino, Xattr: "user.o", Value: []byte("v2"), Check: true})
	if !errors.Is(err, meta.ErrStale) || !fserr.Is(fserr.Exist, err) {
		t.Fatalf("publish over an existing target: %v, want Exist and meta.ErrStale", err)
	}
	if la, err := m.Lookup(ctx, meta.Root, meta.RootIno, "obj"); err != nil || la.Ino != a.Ino {
		t.Fatalf("target after a stale publish: %+v %v", la, err)
	}
	if _, err := m.GetXattr(ctx, meta.Root, a2.Ino, "user.o"); !fserr.Is(fserr.NoData, err) {
		t.Fatalf("the stale publish set its xattr: %v", err)
	}
	// Expect names the current target: it wins.
	cur, err := m.Lookup(ctx, meta.Root, meta.RootIno, "obj")
	ok(t, err, "lookup obj")
	if _, err := pub.Publish(ctx, meta.Root, meta.RootIno, "tmp2", meta.RootIno, "obj",
		meta.PublishOptions{Ino: a2.Ino, Mtime: time.Now().UnixNano(), Check: true, Expect: cur.Ino, ExpectCtime: cur.Ctime}); err != nil {
		t.Fatalf("publish with a current expectation: %v", err)
	}
}
