package rpc

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
)

// TestLocksRemote: two clients' sessions are two lock holders; a client
// that dies holding a lock loses it when its session expires.
func TestLocksRemote(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, mem.New())
	srv := startServer(t, b, ServerOptions{})
	fsys, err := b.FS(ctx, DefaultFS)
	ok(t, err, "fs")
	const ttl = 300 * time.Millisecond
	live := dial(t, []string{srv.addr}, ClientOptions{SessionTTL: ttl, HeartbeatEvery: 50 * time.Millisecond})
	dead := dial(t, []string{srv.addr}, ClientOptions{SessionTTL: ttl, HeartbeatEvery: time.Hour})
	lm, dm := live.Meta().(meta.Locker), dead.Meta().(meta.Locker)
	f, err := live.Meta().Create(ctx, root, meta.RootIno, "f", 0o644, os.O_RDWR, true)
	ok(t, err, "create")

	ok(t, dm.SetLock(ctx, f.Ino, meta.Lock{Owner: 1, Type: meta.WriteLock, Start: 10, End: 19, PID: 42}), "lock dead")
	err = lm.SetLock(ctx, f.Ino, meta.Lock{Owner: 1, Type: meta.ReadLock, Start: 0, End: 10})
	if !fserr.Is(fserr.Conflict, err) {
		t.Fatalf("conflicting lock: %v", err)
	}
	l, err := lm.GetLock(ctx, f.Ino, meta.Lock{Owner: 1, Type: meta.ReadLock, Start: 0, End: meta.LockEOF})
	ok(t, err, "getlock")
	if l.Type != meta.WriteLock || l.Start != 10 || l.End != 19 || l.PID != 42 || l.Session != dead.Session() {
		t.Fatalf("getlock: %+v (dead session %d)", l, dead.Session())
	}
	ok(t, lm.SetLock(ctx, f.Ino, meta.Lock{Owner: 1, Type: meta.ReadLock, Start: 0, End: 9}), "lock beside")

	kill(dead)
	time.Sleep(2 * ttl)
	n, err := fsys.ExpireSessions(ctx)
	ok(t, err, "expire")
	if n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	ok(t, lm.SetLock(ctx, f.Ino, meta.Lock{Owner: 1, Type: meta.WriteLock, Start: 0, End: meta.LockEOF}), "lock after expiry")
	ok(t, live.Meta().Release(ctx, f.Ino), "release")
	ok(t, live.Close(), "close")
	checkFS(t, fsys)
}
