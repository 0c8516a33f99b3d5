package server_test

import (
	"context"
	"os"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	shoal "github.com/shoalfs/shoal"
	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/rpc"
)

// A session's owner outlives a restart of the server (another meta
// process on the engine is the same case): before its owner resumes it,
// another user may not resume, close, heartbeat or allocate in it.
// Resuming it with nothing open, or closing it, would drop the owner's
// holds, and a file the owner unlinked while holding it open would be
// reclaimed under its handle.
func TestGrantsSessionOwnerAfterRestart(t *testing.T) {
	cfg := grantServerConfig(t)
	cfg.DataDir = t.TempDir()
	srv, stop := start(t, cfg)
	admin := dial(t, srv.Addr(), shoal.WithToken("super-token-1"))
	must(t, admin.Chmod(".", 0o777))
	owner := dial(t, srv.Addr(), shoal.WithToken("owner-token-1"))
	must(t, owner.WriteFile("mine", []byte("precious"), 0o600))
	ctx := context.Background()
	conn, err := rpc.Dial(ctx, []string{srv.Addr()}, rpc.ClientOptions{Token: "owner-token-1"})
	must(t, err)
	ownerID := meta.Identity{Uid: 1000, Gid: 1000}
	a, err := conn.Meta().Resolve(ctx, ownerID, "/mine", true)
	must(t, err)
	_, err = conn.Meta().Open(ctx, ownerID, a.Ino, os.O_RDONLY)
	must(t, err)
	sess := conn.Session()
	must(t, conn.Meta().Unlink(ctx, ownerID, meta.RootIno, "mine"))
	// The owner's process goes quiet across the restart (no Close: its
	// connection stays on the old address).
	t.Cleanup(func() { conn.Close() })
	owner.Close()
	admin.Close()
	must(t, stop())

	srv2, _ := start(t, cfg)
	cc := rawConn(t, srv2.Addr())
	sc := pb.NewSessionClient(cc)
	other := asToken("other-token-1", 0)
	denied := func(what string, err error) {
		t.Helper()
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s of uid 1000's session by uid 1001: %v, want PermissionDenied", what, err)
		}
	}
	_, err = sc.Resume(other, &pb.ResumeSessionRequest{Id: sess})
	denied("Resume", err)
	_, err = sc.Close(other, &pb.SessionID{Id: sess})
	denied("Close", err)
	_, err = sc.Heartbeat(other, &pb.SessionID{Id: sess})
	denied("Heartbeat", err)
	_, err = sc.AllocSliceIDs(other, &pb.AllocRequest{Id: sess, N: 1})
	denied("AllocSliceIDs", err)

	// Its owner resumes it, still holding the unlinked file.
	mine := asToken("owner-token-1", 0)
	_, err = sc.Resume(mine, &pb.ResumeSessionRequest{Id: sess, Open: []uint64{uint64(a.Ino)}})
	must(t, err)
	if _, err := pb.NewMetaClient(cc).GetAttr(asToken("owner-token-1", sess), &pb.InoRequest{Ino: uint64(a.Ino)}); err != nil {
		t.Fatalf("the owner's unlinked open file after the restart: %v", err)
	}
	_, err = sc.Close(mine, &pb.SessionID{Id: sess})
	must(t, err)
}
