package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/blockserver"
	"github.com/shoalfs/shoal/internal/datadir"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/rpc"
	"github.com/shoalfs/shoal/internal/server"
)

const grantTokens = `
super-token-1 0 0 super
root-token-1 0 0
owner-token-1 1000 1000
other-token-1 1001 1001
`

func grantServerConfig(t *testing.T) server.Config {
	t.Helper()
	toks, err := server.ParseTokens(strings.NewReader(grantTokens))
	must(t, err)
	return server.Config{Tokens: toks, GCInterval: 50 * time.Millisecond}
}

// blockReq sends one request to the block server and returns its status
// and body.
func blockReq(t *testing.T, method, url, token string, grants []string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	must(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, g := range grants {
		req.Header.Add(blockserver.GrantHeader, g)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func blockKey(id uint64, index, blen int) string {
	return fmt.Sprintf("chunks/%d/%d/%d_%d_%d", id/1_000_000, id/1_000, id, index, blen)
}

// firstBlock opens path through conn's session and returns the key of
// its first block and the grant the session got for it.
func firstBlock(t *testing.T, conn *rpc.Conn, id meta.Identity, path string, flags int) (meta.Ino, string, string) {
	t.Helper()
	ctx := context.Background()
	m := conn.Meta()
	a, err := m.Resolve(ctx, id, path, true)
	must(t, err)
	if _, err := m.Open(ctx, id, a.Ino, flags); err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	ss, err := m.ReadChunk(ctx, a.Ino, 0)
	must(t, err)
	if len(ss) == 0 {
		t.Fatalf("%s has no slices", path)
	}
	key := blockKey(ss[0].ID, 0, int(min(ss[0].Size, meta.BlockSize)))
	return a.Ino, key, conn.Grants().Grant(key)
}

// TestBlockGrants is issue 9 item 0: with tokens, a non-super token
// reaches only the blocks of files open in its own session.
func TestBlockGrants(t *testing.T) {
	cfg := grantServerConfig(t)
	srv, _ := start(t, cfg)
	ctx := context.Background()
	base := "http://" + srv.WorkerAddr() + "/v1/fs/default/blocks/"

	// Root writes a 0600 file of 300000 bytes (one block, past the
	// inline size, so its block sits in the block store).
	admin := dial(t, srv.Addr(), shoal.WithToken("super-token-1"))
	must(t, admin.Chmod(".", 0o777))
	secret := bytes.Repeat([]byte("secret!"), 300000/7+1)[:300000]
	must(t, admin.WriteFile("secret", secret, 0o600))

	superConn, err := rpc.Dial(ctx, []string{srv.Addr()}, rpc.ClientOptions{Token: "super-token-1"})
	must(t, err)
	defer superConn.Close()
	root := meta.Identity{}
	secretIno, secretKey, g := firstBlock(t, superConn, root, "/secret", os.O_RDONLY)
	if g != "" {
		t.Errorf("a super token got a grant it does not need")
	}
	must(t, superConn.Meta().Release(ctx, secretIno))
	if st, b := blockReq(t, "GET", base+secretKey, "super-token-1", nil, nil); st != 200 || !bytes.HasPrefix(b, secret) {
		t.Fatalf("super GET of %s: %d", secretKey, st)
	}

	// The three requests of the issue, by uid 1001: refused, nothing changes.
	st, b := blockReq(t, "GET", base+"?prefix=", "other-token-1", nil, nil)
	if st != http.StatusForbidden || bytes.Contains(b, []byte(secretKey)) {
		t.Errorf("list by a plain token: %d %s", st, b)
	}
	st, b = blockReq(t, "GET", base+secretKey, "other-token-1", nil, nil)
	if st != http.StatusForbidden || bytes.Contains(b, secret[:64]) {
		t.Errorf("GET of root's 0600 block by uid 1001: %d", st)
	}
	if st, _ := blockReq(t, "DELETE", base+secretKey, "other-token-1", nil, nil); st != http.StatusForbidden {
		t.Errorf("DELETE of root's block by uid 1001: %d", st)
	}
	// A token with uid 0 but no super right is no better.
	if st, _ := blockReq(t, "GET", base+secretKey, "root-token-1", nil, nil); st != http.StatusForbidden {
		t.Errorf("GET by a non-super uid 0 token: %d", st)
	}
	if st, _ := blockReq(t, "PUT", base+secretKey, "other-token-1", nil, []byte("overwritten")); st != http.StatusForbidden {
		t.Errorf("PUT over root's block by uid 1001: %d", st)
	}
	if got, err := admin.ReadFile("secret"); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("root's file after the refused requests: %v", err)
	}

	// Forged grants: garbage, and a well-formed grant signed with another key.
	fake, err := blockserver.NewGrantKey(bytes.Repeat([]byte{7}, 32))
	must(t, err)
	forged := fake.Sign(blockserver.Grant{FS: "default", Mode: blockserver.GrantWrite,
		IDs: [][2]uint64{{0, 1 << 62}}, Expires: time.Now().Add(time.Hour)})
	for _, g := range []string{"g1.AAAA.BBBB", "nonsense", forged} {
		if st, _ := blockReq(t, "GET", base+secretKey, "other-token-1", []string{g}, nil); st != http.StatusForbidden {
			t.Errorf("GET with forged grant %.20q: %d", g, st)
		}
		if st, _ := blockReq(t, "DELETE", base+secretKey, "other-token-1", []string{g}, nil); st != http.StatusForbidden {
			t.Errorf("DELETE with forged grant %.20q: %d", g, st)
		}
	}

	// The owner's reads and writes through the SDK work over Dial: 5 MiB
	// (two blocks through the block server), read back, rewritten.
	owner := dial(t, srv.Addr(), shoal.WithToken("owner-token-1"))
	big := make([]byte, 5<<20)
	rand.Read(big)
	must(t, owner.WriteFile("mine", big, 0o600))
	if got, err := owner.ReadFile("mine"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("owner reads back: %v", err)
	}
	f, err := owner.OpenFile("mine", os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt(bytes.Repeat([]byte("z"), 1<<20), 4<<20)
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	copy(big[4<<20:], bytes.Repeat([]byte("z"), 1<<20))
	if got, err := owner.ReadFile("mine"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("owner reads the rewrite back: %v", err)
	}
	// Another user cannot open it, so cannot read it either.
	other := dial(t, srv.Addr(), shoal.WithToken("other-token-1"))
	if _, err := other.ReadFile("mine"); err == nil {
		t.Fatal("uid 1001 read uid 1000's 0600 file")
	}

	// A real read grant: it reads its own blocks, and nothing else; it
	// cannot write or delete them.
	ownerID := meta.Identity{Uid: 1000, Gid: 1000}
	ownerConn, err := rpc.Dial(ctx, []string{srv.Addr()}, rpc.ClientOptions{Token: "owner-token-1"})
	must(t, err)
	defer ownerConn.Close()
	mineIno, mineKey, readGrant := firstBlock(t, ownerConn, ownerID, "/mine", os.O_RDONLY)
	if readGrant == "" {
		t.Fatal("ReadChunk of an open file issued no grant")
	}
	if st, b := blockReq(t, "GET", base+mineKey, "owner-token-1", []string{readGrant}, nil); st != 200 || !bytes.HasPrefix(b, big[:1<<20]) {
		t.Fatalf("GET under a read grant: %d", st)
	}
	if st, _ := blockReq(t, "GET", base+mineKey, "owner-token-1", nil, nil); st != http.StatusForbidden {
		t.Errorf("GET of the owner's block without its grant: %d", st)
	}
	if st, _ := blockReq(t, "GET", base+secretKey, "owner-token-1", []string{readGrant}, nil); st != http.StatusForbidden {
		t.Errorf("a read grant of one file reached another's block: %d", st)
	}
	for _, m := range []string{"PUT", "DELETE"} {
		if st, _ := blockReq(t, m, base+mineKey, "owner-token-1", []string{readGrant}, []byte("x")); st != http.StatusForbidden {
			t.Errorf("%s under a read grant: %d", m, st)
		}
	}
	// The grant is bound to its session's open handle: released, it is
	// not renewed (the server cannot take back a signed grant before it
	// expires, but it never extends it).
	must(t, ownerConn.Meta().Release(ctx, mineIno))

	// A write grant: ids reserved while a file is open for writing.
	wIno, _, _ := firstBlock(t, ownerConn, ownerID, "/mine", os.O_RDWR)
	id, err := ownerConn.Meta().NewSliceID(ctx)
	must(t, err)
	wkey := blockKey(id, 0, 5)
	writeGrant := ownerConn.Grants().Grant(wkey)
	if writeGrant == "" {
		t.Fatal("AllocSliceIDs with a file open for writing issued no write grant")
	}
	if st, _ := blockReq(t, "GET", base+"?prefix=", "owner-token-1", []string{writeGrant}, nil); st != http.StatusForbidden {
		t.Errorf("list under a write grant: %d", st)
	}
	if st, _ := blockReq(t, "DELETE", base+secretKey, "owner-token-1", []string{writeGrant}, nil); st != http.StatusForbidden {
		t.Errorf("a write grant deleted another slice's block: %d", st)
	}
	// Of another filesystem: refused; of this one: accepted.
	adminConn, err := rpc.Dial(ctx, []string{srv.Addr()}, rpc.ClientOptions{Token: "super-token-1"})
	must(t, err)
	defer adminConn.Close()
	_, err = adminConn.Admin().CreateFS(ctx, "models")
	must(t, err)
	modelsURL := "http://" + srv.WorkerAddr() + "/v1/fs/models/blocks/"
	if st, b := blockReq(t, "PUT", modelsURL+wkey, "owner-token-1", []string{writeGrant}, []byte("hello")); st != http.StatusForbidden {
		t.Errorf("PUT into another filesystem under default's write grant: %d %s", st, b)
	}
	if st, b := blockReq(t, "PUT", base+wkey, "owner-token-1", []string{writeGrant}, []byte("hello")); st != http.StatusNoContent {
		t.Errorf("PUT under a write grant: %d %s", st, b)
	}
	// Its own uncommitted block it may delete (the data layer deletes
	// what it will not commit).
	if st, b := blockReq(t, "DELETE", base+wkey, "owner-token-1", []string{writeGrant}, nil); st != http.StatusNoContent {
		t.Errorf("DELETE of its own uncommitted block: %d %s", st, b)
	}
	// A guessed key of the same range without the grant: refused.
	if st, _ := blockReq(t, "PUT", base+blockKey(id+1, 0, 5), "owner-token-1", nil, []byte("hello")); st != http.StatusForbidden {
		t.Errorf("PUT without a grant: %d", st)
	}
	must(t, ownerConn.Meta().Release(ctx, wIno))

	// GC (super) still deletes: root removes its file and the blocks go.
	must(t, admin.Remove("secret"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := blockReq(t, "HEAD", base+secretKey, "super-token-1", nil, nil)
		if st == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC left %s (HEAD %d)", secretKey, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBlockGrantsNoTokens: without tokens (loopback trust) nothing
// changes: any caller lists and reads blocks.
func TestBlockGrantsNoTokens(t *testing.T) {
	srv, _ := start(t, server.Config{})
	c := dial(t, srv.Addr())
	must(t, c.WriteFile("f", bytes.Repeat([]byte("a"), 300000), 0o600))
	st, b := blockReq(t, "GET", "http://"+srv.WorkerAddr()+"/v1/fs/default/blocks/?prefix=", "", nil, nil)
	if st != 200 || !bytes.Contains(b, []byte("chunks/")) {
		t.Fatalf("list without tokens: %d %s", st, b)
	}
}

// TestBlockGrantsExpire: a file open for longer than a grant lives keeps
// reading and writing (the client renews).
func TestBlockGrantsExpire(t *testing.T) {
	cfg := grantServerConfig(t)
	cfg.DataDir = t.TempDir()
	cfg.GrantTTL = 500 * time.Millisecond
	srv, _ := start(t, cfg)
	admin := dial(t, srv.Addr(), shoal.WithToken("super-token-1"))
	must(t, admin.Chmod(".", 0o777))
	owner := dial(t, srv.Addr(), shoal.WithToken("owner-token-1"))
	data := make([]byte, 9<<20)
	rand.Read(data)
	must(t, owner.WriteFile("long", data, 0o600))

	f, err := owner.OpenFile("long", os.O_RDONLY, 0)
	must(t, err)
	buf := make([]byte, 1<<20)
	_, err = f.ReadAt(buf, 0)
	must(t, err)
	time.Sleep(2 * cfg.GrantTTL) // the chunk's read grant expires
	_, err = f.ReadAt(buf, 8<<20)
	must(t, err)
	if !bytes.Equal(buf, data[8<<20:9<<20]) {
		t.Fatal("read after the grant expired returned other bytes")
	}
	must(t, f.Close())

	w, err := owner.OpenFile("long", os.O_WRONLY, 0)
	must(t, err)
	_, err = w.WriteAt(bytes.Repeat([]byte("w"), 5<<20), 0) // one block uploads now
	must(t, err)
	time.Sleep(2 * cfg.GrantTTL) // the write grant of its ids expires
	_, err = w.WriteAt(bytes.Repeat([]byte("v"), 1<<20), 5<<20)
	must(t, err)
	must(t, w.Close())
	copy(data, bytes.Repeat([]byte("w"), 5<<20))
	copy(data[5<<20:], bytes.Repeat([]byte("v"), 1<<20))
	if got, err := owner.ReadFile("long"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back after writes across an expiry: %v", err)
	}

}

// TestBlockGrantsRestart: the grant key survives a restart.
func TestBlockGrantsRestart(t *testing.T) {
	cfg := grantServerConfig(t)
	cfg.DataDir = t.TempDir()
	srv, stop := start(t, cfg)
	owner := dial(t, srv.Addr(), shoal.WithToken("super-token-1"))
	must(t, owner.Chmod(".", 0o777))
	ownerC := dial(t, srv.Addr(), shoal.WithToken("owner-token-1"))
	must(t, ownerC.WriteFile("f", bytes.Repeat([]byte("r"), 300000), 0o600))
	ctx := context.Background()
	conn, err := rpc.Dial(ctx, []string{srv.Addr()}, rpc.ClientOptions{Token: "owner-token-1"})
	must(t, err)
	defer conn.Close()
	_, key, g := firstBlock(t, conn, meta.Identity{Uid: 1000, Gid: 1000}, "/f", os.O_RDONLY)
	ownerC.Close()
	owner.Close()
	must(t, stop())
	srv2, _ := start(t, cfg)
	url := "http://" + srv2.WorkerAddr() + "/v1/fs/default/blocks/" + key
	if st, _ := blockReq(t, "GET", url, "owner-token-1", []string{g}, nil); st != 200 {
		t.Fatalf("GET under a grant issued before the restart: %d", st)
	}
}

// TestBlockGrantsRolesApart: meta and worker in two processes agree on
// the grant key through the peer token; the owner's I/O works and the
// meta role's GC deletes at the worker.
func TestBlockGrantsRolesApart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	workerAddr := ln.Addr().String()
	ln.Close()
	mcfg := grantServerConfig(t)
	mcfg.Roles, mcfg.WorkerURLs, mcfg.PeerToken = server.RoleMeta, []string{"http://" + workerAddr}, "super-token-1"
	metaSrv, _ := start(t, mcfg)
	wcfg := grantServerConfig(t)
	blocksDir := t.TempDir()
	wcfg.Roles, wcfg.DataDir, wcfg.WorkerListen, wcfg.MetaAddrs, wcfg.PeerToken =
		server.RoleWorker, blocksDir, workerAddr, []string{metaSrv.Addr()}, "super-token-1"
	start(t, wcfg)

	admin := dial(t, metaSrv.Addr(), shoal.WithToken("super-token-1"))
	must(t, admin.Chmod(".", 0o777))
	c := dial(t, metaSrv.Addr(), shoal.WithToken("owner-token-1"))
	data := bytes.Repeat([]byte("apart"), 300000)
	must(t, c.WriteFile("f", data, 0o644))
	if got, err := c.ReadFile("f"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	st, _ := blockReq(t, "GET", "http://"+workerAddr+"/v1/fs/default/blocks/?prefix=", "owner-token-1", nil, nil)
	if st != http.StatusForbidden {
		t.Errorf("list by a plain token at the worker: %d", st)
	}
	must(t, c.Remove("f"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		filepath.WalkDir(datadir.Blocks(blocksDir, 1), func(_ string, d fs.DirEntry, _ error) error {
			if d != nil && !d.IsDir() {
				n++
			}
			return nil
		})
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d blocks left at the worker after GC", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
