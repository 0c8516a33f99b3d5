package rpc

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
)

// kill ends a client as a crash would: no Session.Close.
func kill(c *Conn) {
	c.closed.Store(true)
	c.cancel()
	c.wg.Wait()
	c.closeConns()
}

// Two servers over one engine: when the first dies the client moves to
// the second, which resumes its session with the files it holds open.
func TestFailoverResumesSession(t *testing.T) {
	eng := mem.New()
	ctx := context.Background()
	bA, bB := newBackend(t, eng), newBackend(t, eng)
	a := startServer(t, bA, ServerOptions{})
	b := startServer(t, bB, ServerOptions{})
	c := dial(t, []string{a.addr, b.addr}, ClientOptions{})
	m := c.Meta()
	f, err := m.Create(ctx, root, meta.RootIno, "f", 0644, os.O_RDWR, true)
	ok(t, err, "create")
	_, err = m.Open(ctx, root, f.Ino, os.O_RDONLY)
	ok(t, err, "open")
	sess := c.Session()

	a.g.Stop()
	ok(t, m.Unlink(ctx, root, meta.RootIno, "f"), "unlink after failover")
	if c.Session() != sess {
		t.Fatalf("session replaced (%d -> %d), want resumed", sess, c.Session())
	}
	fsB, err := bB.FS(ctx, DefaultFS)
	ok(t, err, "fs B")
	infos, err := fsB.Sessions(ctx)
	ok(t, err, "sessions")
	for _, in := range infos {
		if in.ID == sess && in.Open != 1 {
			t.Errorf("resumed session holds %d inodes, want 1", in.Open)
		}
	}
	// Still open twice: readable until the last release.
	_, err = m.GetAttr(ctx, f.Ino)
	ok(t, err, "getattr unlinked open file")
	ok(t, m.Release(ctx, f.Ino), "release 1")
	_, err = m.GetAttr(ctx, f.Ino)
	ok(t, err, "getattr after first release")
	ok(t, m.Release(ctx, f.Ino), "release 2")
	_, err = m.GetAttr(ctx, f.Ino)
	wantErrno(t, err, syscall.ENOENT, "getattr after last release")
	_, err = m.NewSliceID(ctx)
	ok(t, err, "slice id after failover")
	ok(t, c.Close(), "close")
	checkFS(t, fsB)
}

// With every address down, a call gives up after RetryTimeout with EIO.
func TestAllServersDown(t *testing.T) {
	b := newBackend(t, mem.New())
	srv := startServer(t, b, ServerOptions{})
	c := dial(t, []string{srv.addr}, ClientOptions{RetryTimeout: 300 * time.Millisecond})
	srv.g.Stop()
	start := time.Now()
	_, err := c.Meta().GetAttr(context.Background(), meta.RootIno)
	wantErrno(t, err, syscall.EIO, "getattr with no server")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, mem.New())
	srv := startServer(t, b, ServerOptions{Tokens: map[string]Token{
		"alice-token": {Uid: 1000, Gid: 1000, Gids: []uint32{1000}},
		"admin-token": {Super: true},
	}})
	addrs := []string{srv.addr}
	for _, tok := range []string{"", "wrong"} {
		_, err := Dial(ctx, addrs, ClientOptions{Token: tok, RetryTimeout: time.Second})
		if !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("dial with token %q: %v, want a permission error", tok, err)
		}
	}
	admin := dial(t, addrs, ClientOptions{Token: "admin-token"})
	// alice claims root, but her token says uid 1000.
	al := dial(t, addrs, ClientOptions{Token: "alice-token"})
	_, err := al.Meta().Mkdir(ctx, root, meta.RootIno, "x", 0755)
	wantErrno(t, err, syscall.EACCES, "non-super token acting as root")
	_, err = al.Meta().SetAttr(ctx, root, meta.RootIno, meta.SetMode, meta.Attr{Mode: 0777})
	wantErrno(t, err, syscall.EPERM, "non-super chmod /")
	_, err = admin.Meta().SetAttr(ctx, root, meta.RootIno, meta.SetMode, meta.Attr{Mode: 0777})
	ok(t, err, "super token acting as root")
	d, err := al.Meta().Mkdir(ctx, root, meta.RootIno, "x", 0755)
	ok(t, err, "mkdir as alice")
	if d.Uid != 1000 || d.Gid != 1000 {
		t.Fatalf("alice's dir owned by %d:%d", d.Uid, d.Gid)
	}
	// A super token may act as anyone.
	d, err = admin.Meta().Mkdir(ctx, meta.Identity{Uid: 1234, Gid: 99}, meta.RootIno, "y", 0755)
	ok(t, err, "mkdir as 1234")
	if d.Uid != 1234 || d.Gid != 99 {
		t.Fatalf("super token's dir owned by %d:%d", d.Uid, d.Gid)
	}
	_, err = al.Admin().CreateFS(ctx, "mine")
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("createfs with a non-super token: %v", err)
	}
	_, err = admin.Admin().CreateFS(ctx, "mine")
	ok(t, err, "createfs with a super token")
}

// With tokens, the data-path calls need the inode open in the caller's
// session (for writing, to change it), and garbage collection needs a
// super token: a token holder cannot write or drop data it could not open.
func TestDataPathGrants(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, mem.New())
	srv := startServer(t, b, ServerOptions{Tokens: map[string]Token{
		"alice-token": {Uid: 1000, Gid: 1000},
		"bob-token":   {Uid: 2000, Gid: 2000},
		"admin-token": {Super: true},
	}})
	addrs := []string{srv.addr}
	al := dial(t, addrs, ClientOptions{Token: "alice-token"}).Meta()
	bob := dial(t, addrs, ClientOptions{Token: "bob-token"}).Meta()
	admin := dial(t, addrs, ClientOptions{Token: "admin-token"}).Meta()
	_, err := admin.SetAttr(ctx, root, meta.RootIno, meta.SetMode, meta.Attr{Mode: 0777})
	ok(t, err, "chmod / 0777")
	alice := meta.Identity{Uid: 1000, Gid: 1000}
	f, err := al.Create(ctx, alice, meta.RootIno, "f", 0644, os.O_RDWR, true)
	ok(t, err, "alice creates f")
	id, err := al.NewSliceID(ctx)
	ok(t, err, "slice id")
	w := []meta.ChunkWrite{{Index: 0, Slice: meta.Slice{ID: id, Size: 1, Len: 1}}}
	_, err = al.Write(ctx, f.Ino, w, time.Now())
	ok(t, err, "alice writes the file she holds open")

	// Bob never opened f: no write, no chunk read. After opening it
	// read-only (0644 lets him) he may read chunks but still not write.
	_, err = bob.Write(ctx, f.Ino, w, time.Now())
	wantErrno(t, err, syscall.EBADF, "bob writes f without opening it")
	_, err = bob.ReadChunk(ctx, f.Ino, 0)
	wantErrno(t, err, syscall.EBADF, "bob reads f's chunks without opening it")
	_, err = bob.Open(ctx, meta.Identity{Uid: 2000, Gid: 2000}, f.Ino, os.O_RDONLY)
	ok(t, err, "bob opens f read-only")
	_, err = bob.ReadChunk(ctx, f.Ino, 0)
	ok(t, err, "bob reads chunks of f opened read-only")
	_, err = bob.Write(ctx, f.Ino, w, time.Now())
	wantErrno(t, err, syscall.EBADF, "bob writes f opened read-only")

	_, err = bob.Reclaim(ctx, 10)
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("reclaim with a non-super token: %v", err)
	}
	_, err = admin.Reclaim(ctx, 10)
	ok(t, err, "reclaim with a super token")
	ok(t, bob.Release(ctx, f.Ino), "bob releases f")
	ok(t, al.Release(ctx, f.Ino), "alice releases f")
	_, err = al.Write(ctx, f.Ino, w, time.Now())
	wantErrno(t, err, syscall.EBADF, "alice writes f after closing it")
}

// A heartbeating client's session outlives its TTL; a dead client's
// expires, and the file it held open after unlinking it is reclaimed.
func TestSessionExpiry(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, mem.New())
	srv := startServer(t, b, ServerOptions{})
	fsys, err := b.FS(ctx, DefaultFS)
	ok(t, err, "fs")
	const ttl = 500 * time.Millisecond
	live := dial(t, []string{srv.addr}, ClientOptions{SessionTTL: ttl, HeartbeatEvery: 50 * time.Millisecond})
	dead := dial(t, []string{srv.addr}, ClientOptions{SessionTTL: ttl, HeartbeatEvery: time.Hour})
	lm, dm := live.Meta(), dead.Meta()
	f, err := lm.Create(ctx, root, meta.RootIno, "f", 0644, os.O_RDWR, true)
	ok(t, err, "create f")
	g, err := dm.Create(ctx, root, meta.RootIno, "g", 0644, os.O_RDWR, true)
	ok(t, err, "create g")
	ok(t, lm.Unlink(ctx, root, meta.RootIno, "f"), "unlink f")
	ok(t, dm.Unlink(ctx, root, meta.RootIno, "g"), "unlink g")
	deadID := dead.Session()
	kill(dead)

	time.Sleep(2 * ttl)
	n, err := fsys.ExpireSessions(ctx)
	ok(t, err, "expire")
	if n != 1 {
		t.Fatalf("expired %d sessions, want 1", n)
	}
	infos, err := fsys.Sessions(ctx)
	ok(t, err, "sessions")
	for _, in := range infos {
		if in.ID == deadID {
			t.Fatalf("dead session %d still listed", deadID)
		}
	}
	_, err = lm.GetAttr(ctx, g.Ino)
	wantErrno(t, err, syscall.ENOENT, "dead client's unlinked file")
	_, err = lm.GetAttr(ctx, f.Ino)
	ok(t, err, "live client's unlinked open file")
	ok(t, lm.Release(ctx, f.Ino), "release f")
	_, err = fsys.Reclaim(ctx, 100)
	ok(t, err, "reclaim")
	ok(t, live.Close(), "close live")
	checkFS(t, fsys)
}

// A client whose session expired (it stopped heartbeating, say while the
// network was down) gets a new session on its next call.
func TestExpiredSessionReplaced(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, mem.New())
	srv := startServer(t, b, ServerOptions{})
	fsys, err := b.FS(ctx, DefaultFS)
	ok(t, err, "fs")
	c := dial(t, []string{srv.addr}, ClientOptions{SessionTTL: 200 * time.Millisecond, HeartbeatEvery: time.Hour})
	m := c.Meta()
	_, err = m.NewSliceID(ctx)
	ok(t, err, "slice id")
	old := c.Session()
	time.Sleep(400 * time.Millisecond)
	n, err := fsys.ExpireSessions(ctx)
	ok(t, err, "expire")
	if n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	f, err := m.Create(ctx, root, meta.RootIno, "f", 0644, os.O_RDWR, true)
	ok(t, err, "create on an expired session")
	if c.Session() == old {
		t.Fatalf("session %d not replaced", old)
	}
	id, err := m.NewSliceID(ctx)
	ok(t, err, "slice id after replacement")
	_, err = m.Write(ctx, f.Ino, []meta.ChunkWrite{{Slice: meta.Slice{ID: id, Size: 1, Len: 1}}}, time.Now())
	ok(t, err, "write")
	ok(t, m.Release(ctx, f.Ino), "release")
	ok(t, c.Close(), "close")
	checkFS(t, fsys)
}
