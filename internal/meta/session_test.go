package meta_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta"
)

// clock is a fake clock moved by hand.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(1_700_000_000_000_000_000)
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var owner = meta.Root

func memEngine(t testing.TB) kv.Engine { return engines["mem"](t) }

func newFS(t testing.TB, eng kv.Engine, cfg meta.Config) *meta.FS {
	t.Helper()
	fs, err := meta.New(context.Background(), eng, cfg)
	if err != nil {
		t.Fatalf("meta.New: %v", err)
	}
	return fs
}

func check(t testing.TB, fs *meta.FS) {
	t.Helper()
	probs, err := fs.Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	for _, p := range probs {
		t.Errorf("fsck: %s", p)
	}
}

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErrno(t testing.TB, err error, want syscall.Errno, what string) {
	t.Helper()
	if got := fserr.Errno(err); got != want {
		t.Fatalf("%s: errno %v (%v), want %v", what, got, err, want)
	}
}

func writeSlice(t testing.TB, s meta.Service, ino meta.Ino, n uint32) uint64 {
	t.Helper()
	ctx := context.Background()
	id, err := s.NewSliceID(ctx)
	must(t, err, "NewSliceID")
	_, err = s.Write(ctx, ino, []meta.ChunkWrite{{Slice: meta.Slice{ID: id, Size: n, Len: n}}}, time.Unix(1, 0))
	must(t, err, "write")
	return id
}

func modes() []meta.Config {
	return []meta.Config{{}, {Exclusive: true}}
}

func modeName(c meta.Config) string {
	if c.Exclusive {
		return "exclusive"
	}
	return "shared"
}

// TestTwoSessions: a file open in session A and unlinked by session B
// stays readable through A until A releases it.
func TestTwoSessions(t *testing.T) {
	for name, newEngine := range engines {
		for _, cfg := range modes() {
			t.Run(name+"/"+modeName(cfg), func(t *testing.T) {
				ctx := context.Background()
				fs := newFS(t, newEngine(t), cfg)
				defer fs.Close()
				a, err := fs.NewSession(ctx, meta.SessionInfo{Host: "h", PID: 1, Client: "test/a"}, 0)
				must(t, err, "session a")
				b, err := fs.NewSession(ctx, meta.SessionInfo{Client: "test/b"}, 0)
				must(t, err, "session b")
				if a.ID() == b.ID() || a.ID() == fs.Session() {
					t.Fatalf("session ids %d %d %d", a.ID(), b.ID(), fs.Session())
				}
				f, err := a.Create(ctx, owner, meta.RootIno, "f", 0644, os.O_RDWR, true)
				must(t, err, "create")
				writeSlice(t, a, f.Ino, 100)
				_, err = b.Open(ctx, owner, f.Ino, os.O_RDONLY)
				must(t, err, "open in b")
				must(t, b.Release(ctx, f.Ino), "release in b")
				wantErrno(t, b.Release(ctx, f.Ino), syscall.EBADF, "b releases a's handle")
				must(t, b.Unlink(ctx, owner, meta.RootIno, "f"), "unlink in b")
				check(t, fs)
				got, err := a.GetAttr(ctx, f.Ino)
				if err != nil || got.Nlink != 0 || got.Size != 100 {
					t.Fatalf("unlinked open file: %+v %v", got, err)
				}
				if sl, err := a.ReadChunk(ctx, f.Ino, 0); err != nil || len(sl) != 1 {
					t.Fatalf("read unlinked open file: %v %v", sl, err)
				}
				infos, err := fs.Sessions(ctx)
				must(t, err, "sessions")
				found := false
				for _, in := range infos {
					if in.ID == a.ID() {
						found = true
						if in.Open != 1 || in.Host != "h" || in.PID != 1 || in.Client != "test/a" || in.Expires.IsZero() {
							t.Errorf("session info %+v", in)
						}
					}
				}
				if !found || len(infos) != 3 {
					t.Errorf("sessions %+v", infos)
				}
				if n, _ := fs.Reclaim(ctx, 10); n != 0 {
					t.Fatalf("reclaimed %d while open", n)
				}
				must(t, a.Release(ctx, f.Ino), "release in a")
				_, err = fs.GetAttr(ctx, f.Ino)
				wantErrno(t, err, syscall.ENOENT, "after last release")
				if n, err := fs.Reclaim(ctx, 10); n != 1 || err != nil {
					t.Fatalf("reclaim %d %v", n, err)
				}
				check(t, fs)
				must(t, a.Close(), "close a")
				must(t, b.Close(), "close b")
				_, err = a.Open(ctx, owner, meta.RootIno, os.O_RDONLY)
				wantErrno(t, err, syscall.ENOENT, "open in closed session")
				check(t, fs)
			})
		}
	}
}

// TestExpireSessions: a session that stops beating is cleaned: its
// unlinked open inode is reclaimed and its slice ranges are swept.
func TestExpireSessions(t *testing.T) {
	for _, cfg := range modes() {
		t.Run(modeName(cfg), func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			cfg.Clock = clk.Now
			fs := newFS(t, memEngine(t), cfg)
			defer fs.Close()
			a, err := fs.NewSession(ctx, meta.SessionInfo{Client: "a"}, 10*time.Second)
			must(t, err, "session a")
			b, err := fs.NewSession(ctx, meta.SessionInfo{Client: "b"}, 0) // Config.SessionTTL: 30s
			must(t, err, "session b")
			f, err := a.Create(ctx, owner, meta.RootIno, "f", 0644, os.O_RDWR, true)
			must(t, err, "create")
			writeSlice(t, a, f.Ino, 10)
			lo, hi, err := a.AllocSliceIDs(ctx, 50)
			must(t, err, "alloc")
			if hi-lo != 50 {
				t.Fatalf("alloc [%d, %d)", lo, hi)
			}
			must(t, fs.Unlink(ctx, owner, meta.RootIno, "f"), "unlink")
			clk.Advance(9 * time.Second)
			must(t, a.Heartbeat(ctx), "beat a")
			if n, err := fs.ExpireSessions(ctx); n != 0 || err != nil {
				t.Fatalf("expired %d %v before the TTL", n, err)
			}
			clk.Advance(11 * time.Second) // a: 11s after its beat; b: 20s after its start
			if n, err := fs.ExpireSessions(ctx); n != 1 || err != nil {
				t.Fatalf("expired %d %v, want 1", n, err)
			}
			_, err = fs.GetAttr(ctx, f.Ino)
			wantErrno(t, err, syscall.ENOENT, "inode of the expired session")
			if n, _ := fs.Reclaim(ctx, 10); n != 1 {
				t.Fatalf("reclaimed %d", n)
			}
			sw, err := fs.SweepRanges(ctx, 0)
			must(t, err, "sweep ranges")
			covered := false
			for _, r := range sw {
				covered = covered || r[0] <= lo && hi <= r[1]
			}
			if !covered {
				t.Fatalf("sweep ranges %v do not cover [%d, %d)", sw, lo, hi)
			}
			wantErrno(t, a.Heartbeat(ctx), syscall.ENOENT, "beat after expiry")
			_, err = fs.ResumeSession(ctx, a.ID(), nil)
			wantErrno(t, err, syscall.ENOENT, "resume after expiry")
			_, _, err = a.AllocSliceIDs(ctx, 1)
			wantErrno(t, err, syscall.ENOENT, "alloc after expiry")
			must(t, b.Heartbeat(ctx), "b is alive")
			check(t, fs)
		})
	}
}

// TestResumeAfterRestart: an exclusive FS restarted over the same engine
// keeps the client sessions; until one resumes it may hold anything, and
// resuming rebuilds its handles.
func TestResumeAfterRestart(t *testing.T) {
	for name, newEngine := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			eng := newEngine(t)
			cfg := meta.Config{Exclusive: true, Clock: clk.Now, SessionTTL: 10 * time.Second}
			fs1 := newFS(t, eng, cfg)
			a, err := fs1.NewSession(ctx, meta.SessionInfo{Client: "a"}, 0)
			must(t, err, "session")
			f, err := a.Create(ctx, owner, meta.RootIno, "f", 0644, os.O_RDWR, true)
			must(t, err, "create f")
			writeSlice(t, a, f.Ino, 10)
			g, err := a.Create(ctx, owner, meta.RootIno, "g", 0644, os.O_RDWR, true)
			must(t, err, "create g")
			_, err = a.Open(ctx, owner, g.Ino, os.O_RDONLY)
			must(t, err, "open g")
			dead, err := fs1.NewSession(ctx, meta.SessionInfo{Client: "dead"}, 0)
			must(t, err, "session dead")
			_, _, err = dead.AllocSliceIDs(ctx, 8)
			must(t, err, "alloc")

			// fs1's process dies: a new one takes the engine.
			fs2 := newFS(t, eng, cfg)
			defer fs2.Close()
			check(t, fs2)
			must(t, fs2.Unlink(ctx, owner, meta.RootIno, "f"), "unlink f before a resumes")
			check(t, fs2)
			if _, err := fs2.GetAttr(ctx, f.Ino); err != nil {
				t.Fatalf("f dropped while a had not resumed: %v", err)
			}
			_, err = fs2.ResumeSession(ctx, 9999, nil)
			wantErrno(t, err, syscall.ENOENT, "resume unknown")
			_, err = fs2.ResumeSession(ctx, fs1.Session(), nil)
			wantErrno(t, err, syscall.ENOENT, "resume a dead built-in session")
			a2, err := fs2.ResumeSession(ctx, a.ID(), []meta.Ino{f.Ino, g.Ino, g.Ino})
			must(t, err, "resume")
			check(t, fs2)
			must(t, a2.Release(ctx, f.Ino), "release f")
			if _, err := fs2.GetAttr(ctx, f.Ino); err != nil {
				t.Fatalf("f dropped while the dead session had not resumed: %v", err)
			}
			must(t, a2.Release(ctx, g.Ino), "release g")
			must(t, a2.Release(ctx, g.Ino), "release g again")
			wantErrno(t, a2.Release(ctx, g.Ino), syscall.EBADF, "third release of g")

			// The session that never resumes gets a TTL from the restart.
			clk.Advance(5 * time.Second)
			must(t, a2.Heartbeat(ctx), "beat")
			if n, _ := fs2.ExpireSessions(ctx); n != 0 {
				t.Fatalf("expired %d within the grace", n)
			}
			clk.Advance(6 * time.Second)
			if n, _ := fs2.ExpireSessions(ctx); n != 1 {
				t.Fatalf("expired %d, want the dead session", n)
			}
			if sw, _ := fs2.SweepRanges(ctx, 0); len(sw) == 0 {
				t.Fatalf("dead session's ranges not swept")
			}
			_, err = fs2.GetAttr(ctx, f.Ino)
			wantErrno(t, err, syscall.ENOENT, "f once nobody can hold it")
			if n, _ := fs2.Reclaim(ctx, 10); n != 1 {
				t.Fatalf("reclaimed %d", n)
			}
			// Resuming a live session reconciles its handles with the list.
			_, err = a2.Open(ctx, owner, g.Ino, os.O_RDONLY)
			must(t, err, "open g")
			a3, err := fs2.ResumeSession(ctx, a.ID(), nil)
			must(t, err, "resume live")
			if a3 != a2 {
				t.Fatalf("resume of a live session made a new one")
			}
			wantErrno(t, a3.Release(ctx, g.Ino), syscall.EBADF, "handle dropped by resume")
			must(t, a3.Close(), "close")
			check(t, fs2)
		})
	}
}

// TestRequestDedup: a mutation retried with the same request id returns
// the first result and is not applied twice.
func TestRequestDedup(t *testing.T) {
	for _, cfg := range modes() {
		t.Run(modeName(cfg), func(t *testing.T) {
			ctx := context.Background()
			eng := memEngine(t)
			fs := newFS(t, eng, cfg)
			defer fs.Close()
			s, err := fs.NewSession(ctx, meta.SessionInfo{}, 0)
			must(t, err, "session")
			req := uint64(0)
			twice := func(what string, fn func(ctx context.Context) error) {
				t.Helper()
				req++
				rctx := meta.WithRequest(ctx, s.ID(), req)
				must(t, fn(rctx), what)
				must(t, fn(rctx), what+" (retry)")
			}
			var f1, f2 meta.Attr
			twice("create", func(ctx context.Context) (err error) {
				a, err := s.Create(ctx, owner, meta.RootIno, "f", 0644, os.O_RDWR, true)
				if f1.Ino == 0 {
					f1 = a
				}
				f2 = a
				return err
			})
			if f1.Ino != f2.Ino {
				t.Fatalf("retried create made %d and %d", f1.Ino, f2.Ino)
			}
			var d meta.Attr
			twice("mkdir", func(ctx context.Context) (err error) {
				d, err = s.Mkdir(ctx, owner, meta.RootIno, "d", 0755)
				return err
			})
			twice("symlink", func(ctx context.Context) error {
				_, err := s.Symlink(ctx, owner, meta.RootIno, "l", "f")
				return err
			})
			twice("mknod", func(ctx context.Context) error {
				_, err := s.Mknod(ctx, owner, d.Ino, "n", meta.TypeRegular, 0644, 0)
				return err
			})
			twice("link", func(ctx context.Context) error {
				a, err := s.Link(ctx, owner, f1.Ino, d.Ino, "hard")
				if err == nil && a.Nlink != 2 {
					err = fmt.Errorf("nlink %d", a.Nlink)
				}
				return err
			})
			id, err := s.NewSliceID(ctx)
			must(t, err, "slice id")
			twice("write", func(ctx context.Context) error {
				_, err := s.Write(ctx, f1.Ino, []meta.ChunkWrite{{Slice: meta.Slice{ID: id, Size: 10, Len: 10}}}, time.Unix(1, 0))
				return err
			})
			if sl, _ := s.ReadChunk(ctx, f1.Ino, 0); len(sl) != 1 {
				t.Fatalf("retried write appended %d slices", len(sl))
			}
			twice("setxattr", func(ctx context.Context) error {
				return s.SetXattr(ctx, owner, f1.Ino, "user.a", []byte("v"), meta.XattrCreate)
			})
			twice("removexattr", func(ctx context.Context) error { return s.RemoveXattr(ctx, owner, f1.Ino, "user.a") })
			twice("setattr", func(ctx context.Context) error {
				_, err := s.SetAttr(ctx, owner, f1.Ino, meta.SetSize, meta.Attr{Size: 5})
				return err
			})
			twice("rename", func(ctx context.Context) error {
				return s.Rename(ctx, owner, meta.RootIno, "f", d.Ino, "g", 0)
			})
			twice("unlink", func(ctx context.Context) error { return s.Unlink(ctx, owner, d.Ino, "n") })
			twice("open", func(ctx context.Context) error {
				_, err := s.Open(ctx, owner, f1.Ino, os.O_RDONLY)
				return err
			})
			twice("release", func(ctx context.Context) error { return s.Release(ctx, f1.Ino) })
			twice("release", func(ctx context.Context) error { return s.Release(ctx, f1.Ino) })
			// One handle from Create, one from Open: both gone now.
			wantErrno(t, s.Release(ctx, f1.Ino), syscall.EBADF, "extra release")
			twice("rmdir-prep", func(ctx context.Context) error { return s.Unlink(ctx, owner, d.Ino, "g") })
			twice("unlink hard", func(ctx context.Context) error { return s.Unlink(ctx, owner, d.Ino, "hard") })
			twice("rmdir", func(ctx context.Context) error { return s.Rmdir(ctx, owner, meta.RootIno, "d") })
			_, err = fs.GetAttr(ctx, f1.Ino)
			wantErrno(t, err, syscall.ENOENT, "file after its last unlink")
			// A request that failed is not recorded: its retry fails the same way.
			req++
			rctx := meta.WithRequest(ctx, s.ID(), req)
			for range 2 {
				_, err = s.Mkdir(rctx, owner, meta.RootIno, "l", 0755)
				wantErrno(t, err, syscall.EEXIST, "mkdir over symlink")
			}
			// A request of an unknown session is refused.
			_, err = fs.Mkdir(meta.WithRequest(ctx, 777, 1), owner, meta.RootIno, "x", 0755)
			wantErrno(t, err, syscall.ENOENT, "request of no session")
			check(t, fs)
			must(t, s.Close(), "close")
			check(t, fs)
		})
	}
}

// TestRequestAfterRestart: a Create applied before a restart and retried
// after the session resumed (without the handle, whose reply was lost)
// counts the handle again without creating anything.
func TestRequestAfterRestart(t *testing.T) {
	ctx := context.Background()
	eng := memEngine(t)
	cfg := meta.Config{Exclusive: true}
	fs1 := newFS(t, eng, cfg)
	s, err := fs1.NewSession(ctx, meta.SessionInfo{}, 0)
	must(t, err, "session")
	rctx := meta.WithRequest(ctx, s.ID(), 1)
	a, err := s.Create(rctx, owner, meta.RootIno, "f", 0644, os.O_RDWR, true)
	must(t, err, "create")
	fs2 := newFS(t, eng, cfg)
	defer fs2.Close()
	s2, err := fs2.ResumeSession(ctx, s.ID(), nil)
	must(t, err, "resume")
	b, err := s2.Create(rctx, owner, meta.RootIno, "f", 0644, os.O_RDWR, true)
	must(t, err, "retried create")
	if b.Ino != a.Ino {
		t.Fatalf("retry made %d, first %d", b.Ino, a.Ino)
	}
	must(t, s2.Unlink(meta.WithRequest(ctx, s.ID(), 2), owner, meta.RootIno, "f"), "unlink")
	if _, err := fs2.GetAttr(ctx, a.Ino); err != nil {
		t.Fatalf("open file dropped: %v", err)
	}
	must(t, s2.Release(ctx, a.Ino), "release")
	_, err = fs2.GetAttr(ctx, a.Ino)
	wantErrno(t, err, syscall.ENOENT, "after release")
	check(t, fs2)
}

// TestExclusiveOpenUnlinkRace hammers one inode with opens, releases,
// unlinks and re-creates from several sessions of an exclusive FS.
func TestExclusiveOpenUnlinkRace(t *testing.T) {
	ctx := context.Background()
	fs := newFS(t, memEngine(t), meta.Config{Exclusive: true})
	defer fs.Close()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := fs.NewSession(ctx, meta.SessionInfo{}, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			for i := range 60 {
				a, err := s.Create(ctx, owner, meta.RootIno, "f", 0644, os.O_RDWR, false)
				if err != nil {
					t.Error(err)
					return
				}
				if w%2 == 0 {
					_ = s.Unlink(ctx, owner, meta.RootIno, "f")
				} else if i%3 == 0 {
					_ = s.Rename(ctx, owner, meta.RootIno, "tmp"+fmt.Sprint(w), meta.RootIno, "f", 0)
				}
				if _, err := s.GetAttr(ctx, a.Ino); err != nil {
					t.Errorf("open inode %d gone: %v", a.Ino, err)
				}
				if i%2 == 0 {
					if _, err := s.Mknod(ctx, owner, meta.RootIno, "tmp"+fmt.Sprint(w), meta.TypeRegular, 0644, 0); err != nil && !errors.Is(err, os.ErrExist) {
						t.Error(err)
					}
				}
				if err := s.Release(ctx, a.Ino); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	check(t, fs)
}

// countingEngine counts write transactions.
type countingEngine struct {
	kv.Engine
	updates atomic.Int64
}

func (e *countingEngine) Update(ctx context.Context, fn func(kv.Txn) error) error {
	e.updates.Add(1)
	return e.Engine.Update(ctx, fn)
}

// TestCreateCost: creating and closing a file is one write transaction
// in exclusive mode, two when handles are persisted.
func TestCreateCost(t *testing.T) {
	for _, c := range []struct {
		cfg  meta.Config
		want int64
	}{{meta.Config{}, 2}, {meta.Config{Exclusive: true}, 1}} {
		ctx := context.Background()
		eng := &countingEngine{Engine: mem.New()}
		fs := newFS(t, eng, c.cfg)
		if _, err := fs.Mknod(ctx, owner, meta.RootIno, "warm", meta.TypeRegular, 0644, 0); err != nil {
			t.Fatal(err) // reserves the inode id batch
		}
		before := eng.updates.Load()
		a, err := fs.Create(ctx, owner, meta.RootIno, "f", 0644, os.O_RDWR, true)
		must(t, err, "create")
		must(t, fs.Release(ctx, a.Ino), "release")
		if got := eng.updates.Load() - before; got != c.want {
			t.Errorf("%s: create+release took %d write transactions, want %d", modeName(c.cfg), got, c.want)
		}
		check(t, fs)
		fs.Close()
		eng.Close()
	}
}

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	for name, newEngine := range engines {
		t.Run(name, func(t *testing.T) {
			eng := newEngine(t)
			def, err := meta.EnsureDefaultFS(ctx, eng)
			if err != nil || def.ID != 1 || def.Name != meta.DefaultFS {
				t.Fatalf("default %+v %v", def, err)
			}
			if again, _ := meta.EnsureDefaultFS(ctx, eng); again != def {
				t.Fatalf("ensure again %+v", again)
			}
			_, err = meta.CreateFS(ctx, eng, meta.DefaultFS)
			wantErrno(t, err, syscall.EEXIST, "create default")
			a, err := meta.CreateFS(ctx, eng, "a.b-c_1")
			must(t, err, "create a")
			if a.ID != 2 || a.Created.IsZero() {
				t.Fatalf("created %+v", a)
			}
			_, err = meta.CreateFS(ctx, eng, "a.b-c_1")
			wantErrno(t, err, syscall.EEXIST, "create twice")
			for _, bad := range []string{"", "a/b", "sp ace", "..", string(make([]byte, 65))} {
				_, err = meta.CreateFS(ctx, eng, bad)
				wantErrno(t, err, syscall.EINVAL, fmt.Sprintf("create %q", bad))
			}
			// An id formatted outside the registry is skipped.
			fs3 := newFS(t, eng, meta.Config{ID: 3})
			fs3.Close()
			b, err := meta.CreateFS(ctx, eng, "b")
			must(t, err, "create b")
			if b.ID != 4 {
				t.Fatalf("b got id %d", b.ID)
			}
			list, err := meta.ListFS(ctx, eng)
			must(t, err, "list")
			if got := fmt.Sprintf("%s %s %s %d", list[0].Name, list[1].Name, list[2].Name, len(list)); got != "a.b-c_1 b default 3" {
				t.Fatalf("list %+v", list)
			}
			got, err := meta.LookupFS(ctx, eng, "b")
			if err != nil || got != b {
				t.Fatalf("lookup %+v %v", got, err)
			}
			_, err = meta.LookupFS(ctx, eng, "nope")
			wantErrno(t, err, syscall.ENOENT, "lookup missing")

			fs := newFS(t, eng, meta.Config{ID: b.ID, Name: "b"})
			_, err = meta.New(ctx, eng, meta.Config{ID: b.ID, Name: "other"})
			wantErrno(t, err, syscall.EINVAL, "open b under another name")
			f, err := fs.Mknod(ctx, owner, meta.RootIno, "f", meta.TypeRegular, 0644, 0)
			must(t, err, "mknod")
			writeSlice(t, fs, f.Ino, 10)
			wantErrno(t, meta.DeleteFS(ctx, eng, "b"), syscall.ENOTEMPTY, "delete non-empty")
			must(t, fs.Unlink(ctx, owner, meta.RootIno, "f"), "unlink")
			check(t, fs)
			must(t, fs.Close(), "close")
			must(t, meta.DeleteFS(ctx, eng, "b"), "delete b")
			wantErrno(t, meta.DeleteFS(ctx, eng, "b"), syscall.ENOENT, "delete b again")
			wantErrno(t, meta.DeleteFS(ctx, eng, meta.DefaultFS), syscall.EPERM, "delete default")
			_, err = meta.LookupFS(ctx, eng, "b")
			wantErrno(t, err, syscall.ENOENT, "lookup deleted")
			err = eng.View(ctx, func(tx kv.ReadTxn) error {
				pfx := []byte{'F', 0, 0, 0, byte(b.ID)}
				pairs, err := tx.Scan(pfx, kv.PrefixEnd(pfx), 0, false)
				if err == nil && len(pairs) != 0 {
					err = fmt.Errorf("%d keys of the deleted fs remain", len(pairs))
				}
				return err
			})
			must(t, err, "keys of b")
			if list, _ := meta.ListFS(ctx, eng); len(list) != 2 {
				t.Fatalf("list after delete %+v", list)
			}
			// The default filesystem keeps working under its registry name.
			d := newFS(t, eng, meta.Config{Name: meta.DefaultFS})
			check(t, d)
			d.Close()
		})
	}
}

// BenchmarkCreateRelease is the SDK's create path (OpenFile(O_CREATE) +
// Close) on Badger: one write transaction in exclusive mode, two when
// handles are persisted.
func BenchmarkCreateRelease(b *testing.B) {
	for _, cfg := range modes() {
		b.Run(modeName(cfg), func(b *testing.B) {
			ctx := context.Background()
			fs := newFS(b, engines["badger"](b), cfg)
			defer fs.Close()
			i := 0
			for b.Loop() {
				i++
				a, err := fs.Create(ctx, owner, meta.RootIno, fmt.Sprint("f", i), 0644, os.O_RDWR, true)
				if err != nil {
					b.Fatal(err)
				}
				if err := fs.Release(ctx, a.Ino); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
