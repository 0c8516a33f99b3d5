package fusefs

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	shoal "github.com/shoalfs/shoal"
)

// handle is one open file: one shoal.File. The kernel may call it from
// several goroutines at once; shoal.File is safe for that.
type handle struct {
	n      *node
	f      *shoal.File
	append bool
	locks  lockOwners
}

var (
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileWriter    = (*handle)(nil)
	_ fs.FileFlusher   = (*handle)(nil)
	_ fs.FileFsyncer   = (*handle)(nil)
	_ fs.FileReleaser  = (*handle)(nil)
	_ fs.FileGetattrer = (*handle)(nil)
	_ fs.FileAllocater = (*handle)(nil)
)

// opened registers f as an open file of n.
func (n *node) opened(f *shoal.File, flags uint32) *handle {
	h := &handle{n: n, f: f, append: n.fs.openFlags(flags)&os.O_APPEND != 0}
	n.mu.Lock()
	if n.mu.open == nil {
		n.mu.open = map[*handle]struct{}{}
	}
	n.mu.open[h] = struct{}{}
	n.mu.Unlock()
	return h
}

// fuseFlags are the FOPEN_ flags of the open reply. O_APPEND and
// O_DIRECT handles bypass the page cache: an append lands at Shoal's end
// of file, which the kernel's cached size may not know, and a page
// cached at the kernel's guess would be wrong.
func (h *handle) fuseFlags(flags uint32, keep bool) uint32 {
	var out uint32
	if h.append || flags&syscall.O_DIRECT != 0 {
		out |= fuse.FOPEN_DIRECT_IO
	} else if keep {
		out |= fuse.FOPEN_KEEP_CACHE
	}
	return out
}

func (h *handle) getattr(out *fuse.AttrOut) syscall.Errno {
	fi, err := h.f.Stat()
	if err != nil {
		return shoal.Errno(err)
	}
	fillAttr(&out.Attr, attrOf(fi))
	return 0
}

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.getattr(out)
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.f.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, shoal.Errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if errno := h.n.writable(); errno != 0 {
		return 0, errno
	}
	var n int
	var err error
	if h.append {
		// The SDK appends at Shoal's end of file, whatever offset the
		// kernel computed from the size it caches.
		n, err = h.f.Write(data)
	} else {
		n, err = h.f.WriteAt(data, off)
	}
	if err != nil && n == 0 {
		return 0, shoal.Errno(err)
	}
	return uint32(n), 0
}

// Flush runs at every close(2) of a descriptor of the file: committing
// here gives close-to-open across clients.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	err := h.f.Flush()
	// POSIX: any close by a lock owner releases its record locks on the
	// file. With locks kept by the filesystem the kernel does not unlock
	// itself; it names the closing owner in FLUSH instead.
	if owner, ok := h.n.fs.flushOwner(ctx); ok && h.n.posixLocks.drop(owner) {
		if lerr := h.f.Unlock(ctx, shoal.FileLock{Owner: owner}); err == nil {
			err = lerr
		}
	}
	return shoal.Errno(err)
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return shoal.Errno(h.f.Sync())
}

// Release closes the file, after recording what the kernel's page cache
// now holds so the next open may keep it if nothing else changed it.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	err := h.f.Flush()
	var s stamp
	if err == nil {
		if fi, serr := h.f.Stat(); serr == nil {
			s = stampOf(attrOf(fi))
		}
	}
	if lerr := h.locks.release(h.f); err == nil {
		err = lerr
	}
	if cerr := h.f.Close(); err == nil {
		err = cerr
	}
	n := h.n
	n.mu.Lock()
	delete(n.mu.open, h)
	if h.append {
		s = stamp{} // its writes bypassed the page cache
	}
	n.mu.stamp = s
	n.mu.Unlock()
	return shoal.Errno(err)
}

// Linux fallocate modes.
const (
	fallocKeepSize  = 0x01
	fallocPunchHole = 0x02
)

// Allocate implements fallocate(2)'s default and keep-size modes. Shoal
// stores no unwritten extents: allocating is extending the size (the
// new range reads as zeros), and keep-size has nothing to do.
func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	if errno := h.n.writable(); errno != 0 {
		return errno
	}
	switch mode {
	case 0:
	case fallocKeepSize:
		return 0
	default:
		return syscall.EOPNOTSUPP
	}
	fi, err := h.f.Stat()
	if err != nil {
		return shoal.Errno(err)
	}
	end := int64(off + size)
	if end <= fi.Size() {
		return 0
	}
	_, err = h.f.SetAttr(shoal.SetAttrSize, shoal.Attr{Size: end})
	return shoal.Errno(err)
}

// Locks: the kernel forwards fcntl record locks and flock (EnableLocks)
// and Shoal keeps them in the engine, so they hold between mounts and
// SDK clients. The kernel's lock owner (its files_struct for a POSIX
// lock, its open file for a flock) is the SDK's lock owner; the kernel
// itself unlocks at close (locks_remove_posix, locks_remove_flock), and
// Release unlocks whatever owners used the handle in case it did not.

var (
	_ fs.FileGetlker  = (*handle)(nil)
	_ fs.FileSetlker  = (*handle)(nil)
	_ fs.FileSetlkwer = (*handle)(nil)
	_ fs.FileGetlker  = (*dirHandle)(nil)
	_ fs.FileSetlker  = (*dirHandle)(nil)
	_ fs.FileSetlkwer = (*dirHandle)(nil)
)

// flushOwnerFS passes FLUSH's lock owner to handle.Flush, which go-fuse's
// fs API does not: the owner is stored under the request's cancel
// channel, which is the request's own and which the Flush context
// carries.
type flushOwnerFS struct {
	fuse.RawFileSystem
	fsys *filesystem
}

func (r *flushOwnerFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	r.fsys.flushOwners.Store(cancel, in.LockOwner)
	defer r.fsys.flushOwners.Delete(cancel)
	return r.RawFileSystem.Flush(cancel, in)
}

// flushOwner returns the lock owner of the FLUSH request ctx belongs to.
func (f *filesystem) flushOwner(ctx context.Context) (uint64, bool) {
	fc, ok := ctx.(*fuse.Context)
	if !ok || fc.Cancel == nil {
		return 0, false
	}
	v, ok := f.flushOwners.Load(fc.Cancel)
	if !ok {
		return 0, false
	}
	return v.(uint64), true
}

// lockOwners are the kernel lock owners that used one open file.
type lockOwners struct {
	mu     sync.Mutex
	owners map[[2]uint64]struct{} // owner, flock
}

func (o *lockOwners) add(owner uint64, flock bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.owners == nil {
		o.owners = map[[2]uint64]struct{}{}
	}
	k := [2]uint64{owner, 0}
	if flock {
		k[1] = 1
	}
	o.owners[k] = struct{}{}
}

// drop forgets a POSIX owner and reports whether it was known.
func (o *lockOwners) drop(owner uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := [2]uint64{owner, 0}
	_, ok := o.owners[k]
	delete(o.owners, k)
	return ok
}

// release unlocks every owner's locks on f.
func (o *lockOwners) release(f *shoal.File) error {
	o.mu.Lock()
	owners := o.owners
	o.owners = nil
	o.mu.Unlock()
	var first error
	for k := range owners {
		err := f.Unlock(context.Background(), shoal.FileLock{Owner: k[0], Flock: k[1] == 1})
		if first == nil {
			first = err
		}
	}
	return first
}

func sdkLock(owner uint64, lk *fuse.FileLock, flags uint32) (shoal.FileLock, syscall.Errno) {
	l := shoal.FileLock{Owner: owner, Flock: flags&fuse.FUSE_LK_FLOCK != 0, PID: int(lk.Pid)}
	switch lk.Typ {
	case syscall.F_RDLCK:
		l.Type = shoal.ReadLock
	case syscall.F_WRLCK:
		l.Type = shoal.WriteLock
	case syscall.F_UNLCK:
		l.Type = shoal.UnlockType
	default:
		return l, syscall.EINVAL
	}
	if lk.Start > math.MaxInt64 || lk.End < lk.Start {
		return l, syscall.EINVAL
	}
	l.Start = int64(lk.Start)
	if lk.End < math.MaxInt64 {
		l.Len = int64(lk.End-lk.Start) + 1
	}
	return l, 0
}

func getlk(ctx context.Context, f *shoal.File, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	l, errno := sdkLock(owner, lk, flags)
	if errno != 0 {
		return errno
	}
	got, err := f.GetLock(ctx, l)
	if err != nil {
		return shoal.Errno(err)
	}
	*out = fuse.FileLock{Typ: syscall.F_UNLCK}
	if got.Type == shoal.UnlockType {
		return 0
	}
	out.Typ = syscall.F_RDLCK
	if got.Type == shoal.WriteLock {
		out.Typ = syscall.F_WRLCK
	}
	// The kernel's OFFSET_MAX ends a lock that runs to EOF; it refuses
	// (EIO) an end past it.
	out.Start, out.End, out.Pid = uint64(got.Start), math.MaxInt64, uint32(got.PID)
	if got.Len > 0 {
		out.End = uint64(got.Start + got.Len - 1)
	}
	return 0
}

func setlk(ctx context.Context, n *node, f *shoal.File, o *lockOwners, owner uint64, lk *fuse.FileLock, flags uint32, wait bool) syscall.Errno {
	l, errno := sdkLock(owner, lk, flags)
	if errno != 0 {
		return errno
	}
	if l.Type == shoal.UnlockType {
		return shoal.Errno(f.Unlock(ctx, l))
	}
	o.add(owner, l.Flock)
	if !l.Flock {
		n.posixLocks.add(owner, false)
	}
	err := f.Lock(ctx, l, wait)
	if wait && ctx.Err() != nil {
		return syscall.EINTR // the waiter was interrupted
	}
	if err == nil {
		// The SDK revalidated its view of the file at the lock; the
		// kernel's page cache and attributes of it go too, so a reader
		// that keeps its descriptor open across lock sections (sqlite)
		// sees what another mount wrote under the lock.
		n.NotifyContent(0, 0)
	}
	return shoal.Errno(err)
}

func (h *handle) Getlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	return getlk(ctx, h.f, owner, lk, flags, out)
}

func (h *handle) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return setlk(ctx, h.n, h.f, &h.locks, owner, lk, flags, false)
}

func (h *handle) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return setlk(ctx, h.n, h.f, &h.locks, owner, lk, flags, true)
}

func (d *dirHandle) Getlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	return getlk(ctx, d.f, owner, lk, flags, out)
}

func (d *dirHandle) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return setlk(ctx, d.n, d.f, &d.locks, owner, lk, flags, false)
}

func (d *dirHandle) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return setlk(ctx, d.n, d.f, &d.locks, owner, lk, flags, true)
}
