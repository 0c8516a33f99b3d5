package rpc

import (
	"context"
	"net"
	"syscall"
	"testing"

	"google.golang.org/grpc"

	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
)

// TestUfsTokens: Mount and Unmount need a super token, Mounts any token;
// the record crosses the wire whole.
func TestUfsTokens(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, mem.New())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	ok(t, err, "listen")
	s := NewServer(b, ServerOptions{Tokens: map[string]Token{"user": {Uid: 1000, Gid: 1000}, "root": {}, "admin": {Super: true}}})
	g := grpc.NewServer(s.GRPCOptions()...)
	s.Register(g)
	s.RegisterUfs(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	addrs := []string{lis.Addr().String()}
	admin := dial(t, addrs, ClientOptions{Token: "admin"}).Meta().(meta.MountAdmin)
	for _, tok := range []string{"user", "root"} {
		ma := dial(t, addrs, ClientOptions{Token: tok}).Meta().(meta.MountAdmin)
		_, err := ma.Mount(ctx, meta.Root, meta.Mount{URL: "s3://b/p", Path: "/x"})
		wantErrno(t, err, syscall.EACCES, tok+" token mounts")
	}
	want := meta.Mount{URL: "s3://b/p", Path: "/x", Endpoint: "http://e", Region: "r", PathStyle: true,
		CredentialsFile: "/c", SyncInterval: 5e9, Uid: 7, Gid: 8, Mode: 0o440}
	got, err := admin.Mount(ctx, meta.Root, want)
	ok(t, err, "admin mounts")
	want.Root, want.Created = got.Root, got.Created
	if got != want || got.Root == 0 {
		t.Fatalf("Mount = %+v, want %+v", got, want)
	}
	user := dial(t, addrs, ClientOptions{Token: "user"}).Meta().(meta.MountAdmin)
	l, err := user.Mounts(ctx)
	ok(t, err, "user lists mounts")
	if len(l) != 1 || l[0] != want {
		t.Fatalf("Mounts = %+v", l)
	}
	_, err = user.Unmount(ctx, meta.Root, "/x")
	wantErrno(t, err, syscall.EACCES, "user unmounts")
	_, err = admin.Unmount(ctx, meta.Root, "/x")
	ok(t, err, "admin unmounts")
}
