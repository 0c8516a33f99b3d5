package rpc

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/shoalfs/shoal/api/shoalv1"

	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
)

// grantEnv is a server with tokens and a grant key, and alice's
// connection holding a file open for writing.
func grantEnv(t *testing.T) (*blockserver.GrantKey, *Conn, *server) {
	t.Helper()
	key, err := blockserver.NewGrantKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, newBackend(t, mem.New()), ServerOptions{Grants: key, Tokens: map[string]Token{
		"alice-token": {Uid: 1000, Gid: 1000},
		"bob-token":   {Uid: 2000, Gid: 2000},
		"admin-token": {Super: true},
	}})
	admin := dial(t, []string{srv.addr}, ClientOptions{Token: "admin-token"}).Meta()
	ctx := context.Background()
	_, err = admin.SetAttr(ctx, root, meta.RootIno, meta.SetMode, meta.Attr{Mode: 0o777})
	ok(t, err, "chmod / 0777")
	al := dial(t, []string{srv.addr}, ClientOptions{Token: "alice-token"})
	_, err = al.Meta().Create(ctx, meta.Identity{Uid: 1000, Gid: 1000}, meta.RootIno, "f", 0o644, os.O_RDWR, true)
	ok(t, err, "alice creates f")
	return key, al, srv
}

func sliceKey(id uint64) string {
	return fmt.Sprintf("chunks/%d/%d/%d_0_%d", id/1_000_000, id/1_000, id, 4)
}

// renewOne has conn renew tok (a grant for slice id) and returns the
// renewed grant.
func renewOne(t *testing.T, conn *Conn, tok string, id uint64) (blockserver.Grant, error) {
	t.Helper()
	conn.grants.add(metadata.Pairs(mdGrant, tok))
	if err := conn.grants.Renew(context.Background(), []string{sliceKey(id)}, time.Now()); err != nil {
		return blockserver.Grant{}, err
	}
	g, err := blockserver.ParseGrant(conn.grants.Grant(sliceKey(id)))
	if err != nil {
		t.Fatal(err)
	}
	return g, nil
}

func TestWriteGrantMaxAge(t *testing.T) {
	key, al, _ := grantEnv(t)
	sess := al.session.Load()
	now := time.Now()
	write := func(id uint64, issued time.Time) string {
		return key.Sign(blockserver.Grant{FS: DefaultFS, FSID: 1, Session: sess, Mode: blockserver.GrantWrite,
			IDs: [][2]uint64{{id, id + 1}}, Expires: now.Add(-time.Second), Issued: issued})
	}
	// A young write grant is renewed, keeping its first issue time.
	issued := now.Add(-MaxWriteGrantAge / 2)
	g, err := renewOne(t, al, write(10, issued), 10)
	ok(t, err, "renew a young write grant")
	if !g.Issued.Equal(issued) || !g.Expires.After(now) {
		t.Fatalf("renewed grant issued %v expires %v, want issued %v and a later expiry", g.Issued, g.Expires, issued)
	}
	// One first issued longer ago than MaxWriteGrantAge is not, though
	// the session still holds a file open for writing.
	if _, err := renewOne(t, al, write(20, now.Add(-MaxWriteGrantAge-time.Minute)), 20); !fserr.Is(fserr.Permission, err) {
		t.Fatalf("renew a write grant past its maximum age: %v, want kind Permission", err)
	}
	// Nor one without an issue time (a version 1 grant).
	if _, err := renewOne(t, al, write(30, time.Time{}), 30); !fserr.Is(fserr.Permission, err) {
		t.Fatalf("renew a write grant without an issue time: %v, want kind Permission", err)
	}
	// Nor one of another filesystem id: "default" deleted and created
	// again (sessions and slice ids start over) is not the one it was
	// issued for.
	other := key.Sign(blockserver.Grant{FS: DefaultFS, FSID: 2, Session: sess, Mode: blockserver.GrantWrite,
		IDs: [][2]uint64{{40, 41}}, Expires: now.Add(-time.Second), Issued: now})
	if _, err := renewOne(t, al, other, 40); !fserr.Is(fserr.Permission, err) {
		t.Fatalf("renew a grant of another filesystem id: %v, want kind Permission", err)
	}
}

// TestResumeHoldsOnlyAccessible: Resume's open list is the client's word,
// so an inode the caller may neither read nor write is not held for its
// session: otherwise any user could keep another's unlinked file (and its
// blocks) from being reclaimed for as long as its session lives.
func TestResumeHoldsOnlyAccessible(t *testing.T) {
	ctx := context.Background()
	_, al, srv := grantEnv(t)
	bob := dial(t, []string{srv.addr}, ClientOptions{Token: "bob-token"})
	alice := meta.Identity{Uid: 1000, Gid: 1000}
	admin := dial(t, []string{srv.addr}, ClientOptions{Token: "admin-token"}).Meta()
	for _, name := range []string{"private", "shared"} {
		mode := uint32(0o600)
		if name == "shared" {
			mode = 0o644
		}
		a, err := al.Meta().Create(ctx, alice, meta.RootIno, name, mode, os.O_RDWR, true)
		ok(t, err, "alice creates "+name)
		err = bob.invoke(ctx, "test.Resume", false, nil, callOpts{}, func(ctx context.Context, cc *grpc.ClientConn, sess uint64) error {
			_, err := pb.NewSessionClient(cc).Resume(ctx, &pb.ResumeSessionRequest{Id: sess, Open: []uint64{uint64(a.Ino)}})
			return err
		})
		ok(t, err, "bob resumes his session claiming "+name+" open")
		ok(t, al.Meta().Unlink(ctx, alice, meta.RootIno, name), "alice unlinks "+name)
		ok(t, al.Meta().Release(ctx, a.Ino), "alice releases "+name)
		_, err = admin.GetAttr(ctx, a.Ino)
		// The release may land a moment after Release returns (the
		// client sends releases in the background), so wait for it.
		for end := time.Now().Add(5 * time.Second); name == "private" && err == nil && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
			_, err = admin.GetAttr(ctx, a.Ino)
		}
		if name == "private" && !fserr.Is(fserr.NotExist, err) {
			t.Errorf("alice's private file, unlinked and closed, after bob's Resume listed it: %v, want reclaimed (NotExist)", err)
		}
		if name == "shared" && err != nil {
			t.Errorf("a file bob may read, listed in his Resume: %v, want held for his session", err)
		}
	}
}
