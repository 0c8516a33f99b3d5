package server_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	shoal "github.com/shoalfs/shoal"
	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/rpc"
)

// rawConn is a gRPC connection without the SDK, as a hostile client has.
func rawConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(t, err)
	t.Cleanup(func() { cc.Close() })
	return cc
}

// asToken is a context whose calls carry token and, when sess is not 0,
// name session sess.
func asToken(token string, sess uint64) context.Context {
	kv := []string{"authorization", "Bearer " + token}
	if sess != 0 {
		kv = append(kv, "shoal-session", strconv.FormatUint(sess, 10))
	}
	return metadata.NewOutgoingContext(context.Background(), metadata.Pairs(kv...))
}

// ownerSecret has uid 1000 write a 0600 file and hold it open in a
// session of its own; it returns the inode, its first block's key and
// the owner's session.
func ownerSecret(t *testing.T, srv interface{ Addr() string }) (meta.Ino, string, uint64, []byte) {
	t.Helper()
	admin := dial(t, srv.Addr(), shoal.WithToken("super-token-1"))
	must(t, admin.Chmod(".", 0o777))
	owner := dial(t, srv.Addr(), shoal.WithToken("owner-token-1"))
	secret := bytes.Repeat([]byte("private"), 300000/7+1)[:300000]
	must(t, owner.WriteFile("mine", secret, 0o600))
	conn, err := rpc.Dial(context.Background(), []string{srv.Addr()}, rpc.ClientOptions{Token: "owner-token-1"})
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	ino, key, _ := firstBlock(t, conn, meta.Identity{Uid: 1000, Gid: 1000}, "/mine", os.O_RDONLY)
	return ino, key, conn.Session(), secret
}

// readGrantOf asks for chunk 0 of ino in session sess as token and
// returns the grant the answer carried ("" when refused).
func readGrantOf(t *testing.T, cc *grpc.ClientConn, token string, sess uint64, ino meta.Ino) string {
	t.Helper()
	var hdr metadata.MD
	_, err := pb.NewMetaClient(cc).ReadChunk(asToken(token, sess), &pb.ReadChunkRequest{Ino: uint64(ino)}, grpc.Header(&hdr))
	if err != nil {
		return ""
	}
	if g := hdr.Get("shoal-grant"); len(g) > 0 {
		return g[0]
	}
	return "(no grant)"
}

// A call naming another user's session is refused: otherwise uid 1001
// reads (and writes) through uid 1000's open handles, gets their grants
// and so the blocks of a 0600 file it cannot open.
func TestGrantsSessionOfAnotherUser(t *testing.T) {
	srv, _ := start(t, grantServerConfig(t))
	ino, key, ownerSess, secret := ownerSecret(t, srv)
	cc := rawConn(t, srv.Addr())
	if g := readGrantOf(t, cc, "other-token-1", ownerSess, ino); g != "" {
		st, b := blockReq(t, "GET", "http://"+srv.WorkerAddr()+"/v1/fs/default/blocks/"+key, "other-token-1", []string{g}, nil)
		t.Fatalf("uid 1001 read chunk 0 of uid 1000's 0600 file in uid 1000's session; GET of its block: %d (secret: %v)",
			st, st == http.StatusOK && bytes.HasPrefix(b, secret))
	}
	if _, err := pb.NewMetaClient(cc).Release(asToken("other-token-1", ownerSess), &pb.InoRequest{Ino: uint64(ino)}); err == nil {
		t.Errorf("uid 1001 released uid 1000's handle")
	}
	// The owner still holds it: its own session works.
	if g := readGrantOf(t, cc, "owner-token-1", ownerSess, ino); g == "" {
		t.Errorf("the owner's own session was refused")
	}
}
