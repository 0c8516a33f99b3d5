package fusefs

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	shoal "github.com/shoalfs/shoal"
)

// TestLocks: flock and fcntl locks taken through a mount hold against a
// second mount (remote: two clients) and against the SDK, and close
// releases them.
func TestLocks(t *testing.T) {
	needFUSE(t)
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		e := b.fresh(t)
		mnt, c := e.mount(t, Options{})
		other := c // local: one process holds the directory
		if b.remote {
			other = e.client(t)
			t.Cleanup(func() { other.Close() })
		}
		must(t, os.WriteFile(filepath.Join(mnt, "f"), []byte("data"), 0o644))
		f1, err := os.OpenFile(filepath.Join(mnt, "f"), os.O_RDWR, 0)
		must(t, err)
		defer f1.Close()
		must(t, syscall.Flock(int(f1.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
		wr := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 10}
		must(t, syscall.FcntlFlock(f1.Fd(), syscall.F_SETLK, &wr))

		sf, err := other.OpenFile("f", os.O_RDWR, 0)
		must(t, err)
		defer sf.Close()
		if err := sf.Lock(ctx, shoal.FileLock{Flock: true, Type: shoal.WriteLock}, false); shoal.Errno(err) != syscall.EAGAIN {
			t.Fatalf("SDK flock under the mount's: %v", err)
		}
		if err := sf.Lock(ctx, shoal.FileLock{Type: shoal.ReadLock, Start: 5, Len: 1}, false); shoal.Errno(err) != syscall.EAGAIN {
			t.Fatalf("SDK record lock under the mount's: %v", err)
		}
		got, err := sf.GetLock(ctx, shoal.FileLock{Type: shoal.ReadLock})
		must(t, err)
		if got.Type != shoal.WriteLock || got.Start != 0 || got.Len != 10 || got.PID != os.Getpid() {
			t.Fatalf("SDK getlock: %+v (pid %d)", got, os.Getpid())
		}

		if b.remote {
			m2, _ := e.mount(t, Options{})
			f2, err := os.OpenFile(filepath.Join(m2, "f"), os.O_RDWR, 0)
			must(t, err)
			defer f2.Close()
			if err := syscall.Flock(int(f2.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != syscall.EWOULDBLOCK {
				t.Fatalf("flock on the second mount: %v, want EWOULDBLOCK", err)
			}
			rd := syscall.Flock_t{Type: syscall.F_RDLCK, Start: 2, Len: 1}
			if err := syscall.FcntlFlock(f2.Fd(), syscall.F_SETLK, &rd); err != syscall.EAGAIN && err != syscall.EACCES {
				t.Fatalf("F_SETLK on the second mount: %v, want EAGAIN", err)
			}
			probe := syscall.Flock_t{Type: syscall.F_WRLCK, Start: 0, Len: 0}
			must(t, syscall.FcntlFlock(f2.Fd(), syscall.F_GETLK, &probe))
			if probe.Type != syscall.F_WRLCK || probe.Start != 0 || probe.Len != 10 {
				t.Fatalf("F_GETLK on the second mount: %+v", probe)
			}
			defer func() {
				// Once the first mount's descriptor is closed, the second
				// mount gets the lock. The kernel drops a flock in RELEASE,
				// which it sends after close(2) returned: poll a while.
				deadline := time.Now().Add(10 * time.Second)
				for {
					err := syscall.Flock(int(f2.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
					if err == nil {
						return
					}
					if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
						t.Fatalf("flock on the second mount after the first closed: %v", err)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
		must(t, f1.Close()) // releases both the flock and the record lock
		must(t, sf.Lock(ctx, shoal.FileLock{Type: shoal.WriteLock, Start: 0, Len: 10}, false))
		must(t, sf.Unlock(ctx, shoal.FileLock{}))
	})
}
