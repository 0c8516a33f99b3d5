package shoal

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestFileLocks: two Files are two lock owners, on one client (local) and
// on two clients (remote); a waiter is granted the lock once the holder
// closes; flock and record locks are separate spaces.
func TestFileLocks(t *testing.T) { eachBackend(t, testFileLocks) }

func testFileLocks(t *testing.T, b backend) {
	ctx := context.Background()
	env := b.fresh(t)
	c1, err := env.client(t)
	must(t, err)
	c2 := c1
	if b.remote {
		c2, err = env.client(t)
		must(t, err)
	}
	f1, err := c1.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	f2, err := c2.OpenFile("/f", os.O_RDWR, 0)
	must(t, err)

	must(t, f1.Lock(ctx, FileLock{Type: WriteLock, Start: 100, Len: 10, PID: 7}, false))
	err = f2.Lock(ctx, FileLock{Type: ReadLock, Start: 105, Len: 1}, false)
	wantErrno(t, err, syscall.EAGAIN, "read lock over a write lock")
	got, err := f2.GetLock(ctx, FileLock{Type: ReadLock})
	must(t, err)
	if got.Type != WriteLock || got.Start != 100 || got.Len != 10 || got.PID != 7 {
		t.Fatalf("getlock: %+v", got)
	}
	must(t, f2.Lock(ctx, FileLock{Type: WriteLock, Start: 0, Len: 100}, false))
	must(t, f2.Lock(ctx, FileLock{Flock: true, Type: WriteLock}, false)) // another lock space
	err = f1.Lock(ctx, FileLock{Flock: true, Type: ReadLock}, false)
	wantErrno(t, err, syscall.EAGAIN, "flock under another's exclusive flock")
	must(t, f2.Unlock(ctx, FileLock{Flock: true}))
	must(t, f1.Lock(ctx, FileLock{Flock: true, Type: ReadLock}, false))

	// A blocked waiter wakes when the holder closes (close releases).
	done := make(chan error, 1)
	go func() { done <- f2.Lock(ctx, FileLock{Type: WriteLock, Start: 100}, true) }()
	select {
	case err := <-done:
		t.Fatalf("waiter granted while the lock is held: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	must(t, f1.Close())
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not granted after the holder closed")
	}

	// A cancelled waiter returns the context's error.
	f3, err := c1.OpenFile("/f", os.O_RDONLY, 0)
	must(t, err)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := f3.Lock(cctx, FileLock{Type: ReadLock, Start: 150, Len: 1}, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	wantErrno(t, f3.Lock(ctx, FileLock{Type: ReadLock, Start: -1}, false), syscall.EINVAL, "negative start")
	must(t, f2.Close())
	must(t, f3.Lock(ctx, FileLock{Type: ReadLock, Start: 150, Len: 1}, false))
	must(t, f3.Close())
	wantErrno(t, f3.Lock(ctx, FileLock{Type: ReadLock}, false), syscall.EBADF, "lock on a closed file")
}

// TestFileLockCloseWhileWaiting: a File closed while one of its Lock
// calls waits must not be granted the lock afterwards. Its Close already
// ran releaseLocks, and no one else can name its owner, so a lock granted
// then would be held by nobody until the session ends.
func TestFileLockCloseWhileWaiting(t *testing.T) { eachBackend(t, testFileLockCloseWhileWaiting) }

func testFileLockCloseWhileWaiting(t *testing.T, b backend) {
	ctx := context.Background()
	env := b.fresh(t)
	c, err := env.client(t)
	must(t, err)
	holder, err := c.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	waiter, err := c.OpenFile("/f", os.O_RDWR, 0)
	must(t, err)
	must(t, holder.Lock(ctx, FileLock{Type: WriteLock}, false))

	done := make(chan error, 1)
	go func() { done <- waiter.Lock(ctx, FileLock{Type: WriteLock}, true) }()
	// Let the waiter fail its first attempt and start polling; the test
	// holds whichever way the scheduling falls (the waiter either sees
	// the close before its first try or while polling).
	time.Sleep(20 * time.Millisecond)
	must(t, waiter.Close())
	must(t, holder.Close())
	select {
	case err := <-done:
		wantErrno(t, err, syscall.EBADF, "waiter whose File was closed")
	case <-time.After(10 * time.Second):
		t.Fatal("waiter still waiting after its File was closed")
	}
	probe, err := c.OpenFile("/f", os.O_RDWR, 0)
	must(t, err)
	defer probe.Close()
	got, err := probe.GetLock(ctx, FileLock{Type: WriteLock})
	must(t, err)
	if got.Type != UnlockType {
		t.Fatalf("a lock outlived the File that waited for it: %+v", got)
	}
}
