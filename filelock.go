package shoal

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// LockType is the mode of an advisory lock.
type LockType = meta.LockType

// Lock types; UnlockType is what GetLock reports when nothing conflicts.
const (
	UnlockType = meta.Unlock
	ReadLock   = meta.ReadLock
	WriteLock  = meta.WriteLock
)

// FileLock describes an advisory lock on a file. Locks are kept by the
// metadata engine, so they hold between every client of the filesystem
// (mounts, SDKs, in-process and remote), and a client whose session
// expires loses its locks.
type FileLock struct {
	Type LockType
	// Start and Len are the byte range; Len 0 runs to the end of the
	// file and beyond (fcntl's l_len 0). Ignored for Flock.
	Start, Len int64
	// Flock selects flock(2) locks, whole-file and separate from record
	// (fcntl) locks: the two kinds never conflict.
	Flock bool
	// Owner is the holder; 0 is the File itself (each File is its own
	// owner, as Linux's open file description locks). A FUSE mount
	// passes the kernel's lock owner.
	Owner uint64
	// PID is reported to GetLock callers; on a GetLock result, the pid
	// the holder gave.
	PID int
}

func (f *File) locker(op string) (meta.Locker, error) {
	lk, ok := f.c.core.meta.(meta.Locker)
	if !ok {
		return nil, fserr.Errorf(op, fserr.NotSupported, "shoal: this backend keeps no file locks")
	}
	return lk, nil
}

func (f *File) metaLock(op string, l FileLock) (meta.Lock, error) {
	if l.Start < 0 || l.Len < 0 || (l.Len > 0 && l.Start > math.MaxInt64-l.Len) {
		return meta.Lock{}, fserr.Errorf(op, fserr.Invalid, "shoal: lock range %d+%d is invalid", l.Start, l.Len)
	}
	m := meta.Lock{Flock: l.Flock, Owner: l.Owner, Type: l.Type, Start: uint64(l.Start), End: meta.LockEOF, PID: uint32(l.PID)}
	if l.Len > 0 {
		m.End = uint64(l.Start + l.Len - 1)
	}
	if m.Owner == 0 {
		m.Owner = f.lockOwner
	}
	return m, nil
}

// Lock acquires l (Type ReadLock or WriteLock). A conflicting lock of
// another owner fails it with KindConflict (EAGAIN), unless wait is set:
// then it retries with backoff until granted or ctx is done.
func (f *File) Lock(ctx context.Context, l FileLock, wait bool) error {
	const op = "lock"
	if l.Type != ReadLock && l.Type != WriteLock {
		return wrap(op, f.name, fserr.Errorf(op, fserr.Invalid, "shoal: lock type %d is not read or write", l.Type))
	}
	return f.setLock(ctx, op, l, wait)
}

// Unlock releases the range of l (its Type is ignored) held by its owner.
func (f *File) Unlock(ctx context.Context, l FileLock) error {
	l.Type = UnlockType
	return f.setLock(ctx, "unlock", l, false)
}

func (f *File) setLock(ctx context.Context, op string, l FileLock, wait bool) error {
	if err := f.open(op); err != nil {
		return err
	}
	lk, err := f.locker(op)
	if err != nil {
		return wrap(op, f.name, err)
	}
	m, err := f.metaLock(op, l)
	if err != nil {
		return wrap(op, f.name, err)
	}
	// A waiter polls: the engine has no wake-up for lock releases, and a
	// lock is rarely contended for long. The backoff keeps a waiter's
	// load on the engine low while it stays responsive.
	if l.Type == UnlockType {
		// The next holder must see what was written under the lock
		// (close-to-open's rule applied to locks, as NFS flushes at
		// unlock).
		if err := f.c.flushOpen(f.ino); err != nil {
			return wrap(op, f.name, err)
		}
	}
	delay := time.Millisecond
	for {
		if err = f.trySetLock(ctx, op, lk, m, l.Owner == 0 && l.Type != UnlockType); err != nil && fserr.Is(fserr.Closed, err) {
			return err
		}
		if err == nil && l.Type != UnlockType {
			// A granted lock revalidates the file: the data another
			// client wrote and flushed before unlocking is read, not
			// this client's cached view of it.
			if a, aerr := f.c.core.meta.GetAttr(ctx, f.ino); aerr == nil {
				f.c.core.data.Revalidate(f.ino, a)
			}
		}
		if !wait || !fserr.Is(fserr.Conflict, err) {
			return wrap(op, f.name, err)
		}
		t := time.NewTimer(delay/2 + rand.N(delay))
		select {
		case <-ctx.Done():
			t.Stop()
			return wrap(op, f.name, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// trySetLock makes one attempt at m, holding f.mu shared so that Close
// (which takes it exclusively, then releases the File's own locks) runs
// either before it, failing it with KindClosed, or after it, releasing
// what it took: a File closed while its Lock waits is never granted a
// lock that nothing would release. own marks the File as a holder before
// the attempt, since a commit whose outcome is unknown may have taken it.
func (f *File) trySetLock(ctx context.Context, op string, lk meta.Locker, m meta.Lock, own bool) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fserr.E(op, f.name, fserr.Closed)
	}
	if own {
		f.locked.Store(true)
	}
	return lk.SetLock(ctx, f.ino, m)
}

// GetLock returns the first lock of another owner that conflicts with l,
// with Type UnlockType when none does (fcntl's F_GETLK).
func (f *File) GetLock(ctx context.Context, l FileLock) (FileLock, error) {
	const op = "getlock"
	if err := f.open(op); err != nil {
		return FileLock{}, err
	}
	lk, err := f.locker(op)
	if err != nil {
		return FileLock{}, wrap(op, f.name, err)
	}
	m, err := f.metaLock(op, l)
	if err != nil {
		return FileLock{}, wrap(op, f.name, err)
	}
	got, err := lk.GetLock(ctx, f.ino, m)
	if err != nil || got.Type == meta.Unlock {
		return FileLock{Type: UnlockType}, wrap(op, f.name, err)
	}
	out := FileLock{Type: got.Type, Flock: got.Flock, Owner: got.Owner, PID: int(got.PID), Start: int64(min(got.Start, math.MaxInt64))}
	if got.End != meta.LockEOF && got.End < math.MaxInt64 {
		out.Len = int64(got.End-got.Start) + 1
	}
	return out, nil
}

// open fails with KindClosed on a closed File.
func (f *File) open(op string) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fserr.E(op, f.name, fserr.Closed)
	}
	return nil
}

// releaseLocks drops every lock of the File's own owner, at Close.
func (f *File) releaseLocks(ctx context.Context) error {
	lk, ok := f.c.core.meta.(meta.Locker)
	if !ok || !f.locked.Load() {
		return nil
	}
	for _, flock := range []bool{false, true} {
		if err := lk.SetLock(ctx, f.ino, meta.Lock{Flock: flock, Owner: f.lockOwner, Type: meta.Unlock, End: meta.LockEOF}); err != nil {
			return err
		}
	}
	return nil
}

func newLockOwner() uint64 { return rand.Uint64() | 1 }
