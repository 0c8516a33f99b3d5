package meta_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// lockMap shows the lock on each of the first 12 bytes of ino as a third
// owner's GetLock finds it: "." none, 'a'+n-1 a read lock of owner n,
// 'A'+n-1 a write lock.
func lockMap(t *testing.T, s meta.Locker, ino meta.Ino, flock bool) string {
	t.Helper()
	ctx := context.Background()
	out := make([]byte, 12)
	for off := range out {
		l, err := s.GetLock(ctx, ino, meta.Lock{Flock: flock, Owner: 999, Type: meta.WriteLock, Start: uint64(off), End: uint64(off)})
		must(t, err, "getlock")
		switch l.Type {
		case meta.Unlock:
			out[off] = '.'
		case meta.ReadLock:
			out[off] = 'a' + byte(l.Owner-1)
		default:
			out[off] = 'A' + byte(l.Owner-1)
		}
	}
	return string(out)
}

// TestLockTable: conflicts between owners, and the split and merge of
// one owner's ranges, POSIX style.
func TestLockTable(t *testing.T) {
	type op struct {
		owner      uint64
		typ        meta.LockType
		start, end uint64
		conflict   bool
	}
	R, W, U := meta.ReadLock, meta.WriteLock, meta.Unlock
	cases := []struct {
		name string
		ops  []op
		want string
	}{
		{"single", []op{{1, W, 2, 4, false}}, "..AAA......."},
		{"read shared", []op{{1, R, 0, 3, false}, {2, R, 2, 5, false}}, "aaaabb......"},
		{"write conflicts with read", []op{{1, R, 0, 3, false}, {2, W, 3, 5, true}}, "aaaa........"},
		{"read conflicts with write", []op{{1, W, 5, 5, false}, {2, R, 0, 9, true}}, ".....A......"},
		{"disjoint writes", []op{{1, W, 0, 1, false}, {2, W, 2, 3, false}}, "AABB........"},
		{"split by unlock", []op{{1, W, 0, 9, false}, {1, U, 3, 5, false}}, "AAA...AAAA.."},
		{"split by type change", []op{{1, R, 0, 5, false}, {1, W, 2, 3, false}}, "aaAAaa......"},
		{"merge adjacent", []op{{1, W, 0, 2, false}, {1, W, 3, 5, false}, {1, U, 6, 6, false}}, "AAAAAA......"},
		{"upgrade own", []op{{1, R, 0, 3, false}, {1, W, 0, 3, false}}, "AAAA........"},
		{"to EOF", []op{{1, W, 4, meta.LockEOF, false}}, "....AAAAAAAA"},
		{"unlock all", []op{{1, W, 0, 3, false}, {1, R, 6, 8, false}, {1, U, 0, meta.LockEOF, false}}, "............"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			fs := newTestFS(t, false)
			f, err := fs.Create(ctx, owner, meta.RootIno, "f", 0o644, os.O_RDWR, true)
			must(t, err, "create")
			for i, o := range c.ops {
				err := fs.SetLock(ctx, f.Ino, meta.Lock{Owner: o.owner, Type: o.typ, Start: o.start, End: o.end, PID: 7})
				if o.conflict != fserr.Is(fserr.Conflict, err) || (!o.conflict && err != nil) {
					t.Fatalf("op %d %+v: %v", i, o, err)
				}
			}
			if got := lockMap(t, fs, f.Ino, false); got != c.want {
				t.Fatalf("locks %s, want %s", got, c.want)
			}
			// flock is a separate space: a whole-file flock of another owner
			// is granted whatever POSIX locks are held.
			must(t, fs.SetLock(ctx, f.Ino, meta.Lock{Flock: true, Owner: 50, Type: W}), "flock")
			checkClean(t, fs)
		})
	}
}

// TestLockSessions: the same owner id in two sessions is two owners; a
// session's close or expiry releases its locks; GetLock names the holder.
func TestLockSessions(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	fs := newFS(t, memEngine(t), meta.Config{Clock: clk.Now})
	defer fs.Close()
	a, err := fs.NewSession(ctx, meta.SessionInfo{Client: "a"}, 10*time.Second)
	must(t, err, "session a")
	b, err := fs.NewSession(ctx, meta.SessionInfo{Client: "b"}, time.Hour)
	must(t, err, "session b")
	f, err := a.Create(ctx, owner, meta.RootIno, "f", 0o644, os.O_RDWR, true)
	must(t, err, "create")

	for _, flock := range []bool{false, true} {
		must(t, a.SetLock(ctx, f.Ino, meta.Lock{Flock: flock, Owner: 1, Type: meta.WriteLock, End: 100, PID: 11}), "lock a")
		err = b.SetLock(ctx, f.Ino, meta.Lock{Flock: flock, Owner: 1, Type: meta.ReadLock, Start: 50, End: 60})
		if !fserr.Is(fserr.Conflict, err) {
			t.Fatalf("flock %v: b locked over a: %v", flock, err)
		}
		l, err := b.GetLock(ctx, f.Ino, meta.Lock{Flock: flock, Owner: 1, Type: meta.ReadLock, Start: 50, End: 60})
		must(t, err, "getlock")
		if l.Type != meta.WriteLock || l.Session != a.ID() || l.PID != 11 || l.Owner != 1 {
			t.Fatalf("getlock: %+v", l)
		}
	}
	probs, err := fs.Check(ctx)
	if err != nil || len(probs) > 0 {
		t.Fatalf("check: %v %v", err, probs)
	}
	clk.Advance(11 * time.Second)
	if n, err := fs.ExpireSessions(ctx); n != 1 || err != nil {
		t.Fatalf("expired %d %v", n, err)
	}
	for _, flock := range []bool{false, true} {
		must(t, b.SetLock(ctx, f.Ino, meta.Lock{Flock: flock, Owner: 1, Type: meta.WriteLock, End: 100}), "lock after expiry")
	}
	if err := a.SetLock(ctx, f.Ino, meta.Lock{Owner: 1, Type: meta.ReadLock}); !fserr.Is(fserr.NotExist, err) {
		t.Fatalf("expired session locked: %v", err)
	}
	must(t, b.Close(), "close b")
	l, err := fs.GetLock(ctx, f.Ino, meta.Lock{Owner: 1, Type: meta.WriteLock, End: meta.LockEOF})
	if err != nil || l.Type != meta.Unlock {
		t.Fatalf("after close: %+v %v", l, err)
	}
	probs, err = fs.Check(ctx)
	if err != nil || len(probs) > 0 {
		t.Fatalf("check: %v %v", err, probs)
	}
	bad := fs.SetLock(ctx, f.Ino, meta.Lock{Owner: 1, Type: meta.WriteLock, Start: 5, End: 4})
	if !fserr.Is(fserr.Invalid, bad) {
		t.Fatalf("reversed range: %v", bad)
	}
}
