package shoal

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// File is an open file or directory. Each File has its own offset; it
// is safe for concurrent use (ReadAt and WriteAt may run in parallel;
// offset-based calls are serialized).
type File struct {
	c     *Client
	name  string // as given to OpenFile
	base  string
	ino   meta.Ino
	isDir bool
	flag  int
	h     *data.Handle // nil for a directory

	// mu guards off, closed and dir. ReadAt/WriteAt hold it shared so
	// Close waits for them; Read/Write/Seek/Close hold it exclusively.
	mu     sync.RWMutex
	off    int64
	closed bool
	dir    *DirIter

	// lockOwner is the File's owner id for the locks it takes itself;
	// locked is set once it took one, so that Close releases them.
	lockOwner uint64
	locked    atomic.Bool
}

// Open flags beyond those the os package defines, for OpenFile.
const (
	O_DIRECTORY = syscall.O_DIRECTORY // fail with KindNotDir unless name is a directory
	O_NOFOLLOW  = syscall.O_NOFOLLOW  // fail with KindLoop if name is a symbolic link
)

var (
	_ fs.File         = (*File)(nil)
	_ fs.ReadDirFile  = (*File)(nil)
	_ io.ReadWriter   = (*File)(nil)
	_ io.ReaderAt     = (*File)(nil)
	_ io.WriterAt     = (*File)(nil)
	_ io.Seeker       = (*File)(nil)
	_ io.StringWriter = (*File)(nil)
	_ io.Closer       = (*File)(nil)
)

// writeCtx is c's context naming c's identity as the writer of the data
// it commits: root keeps the setuid/setgid bits of the files it writes,
// as a Linux process with CAP_FSETID does (meta.WithWriter).
func (c *Client) writeCtx() context.Context { return c.writerCtx(c.ctx) }

// writerCtx tags ctx with the writer, so meta clears setuid/setgid as
// Linux does for that caller.
func (c *Client) writerCtx(ctx context.Context) context.Context {
	return meta.WithWriter(ctx, c.core.id)
}

// flushOpen commits the writes this client buffers for ino. All handles
// of an inode share its state in the data layer, so one Flush covers
// them, and it also waits for the commit of a handle being closed.
func (c *Client) flushOpen(ino meta.Ino) error {
	return c.core.data.Flush(c.writeCtx(), ino)
}

// OpenFile opens name with os.O_* flags: an access mode (O_RDONLY,
// O_WRONLY, O_RDWR) or'ed with O_CREATE, O_EXCL, O_TRUNC, O_APPEND, and
// this package's O_DIRECTORY and O_NOFOLLOW (a final symlink then fails with KindLoop).
// perm, less the umask, is the mode of a created file.
func (c *Client) OpenFile(name string, flag int, perm fs.FileMode) (*File, error) {
	const op = "open"
	if err := c.check(op, name); err != nil {
		return nil, err
	}
	n, err := cleanName(op, name)
	if err != nil {
		return nil, err
	}
	if err := c.hide(op, name, n, flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0); err != nil {
		return nil, err
	}
	return c.openFile(op, name, n, flag, perm)
}

// Open opens name for reading (fs.FS: name must be fs.ValidPath).
func (c *Client) Open(name string) (fs.File, error) {
	f, err := c.openStrict("open", name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// openStrict opens name for reading under io/fs's name rules (the io/fs
// entry points: fstest.TestFS requires them to reject "/x").
func (c *Client) openStrict(op, name string) (*File, error) {
	if err := c.check(op, name); err != nil {
		return nil, err
	}
	n, err := c.strictName(op, name)
	if err != nil {
		return nil, err
	}
	return c.openFile(op, name, n, os.O_RDONLY, 0)
}

// Create creates or truncates name (mode 0666 less the umask) and opens
// it for reading and writing.
func (c *Client) Create(name string) (*File, error) {
	return c.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// ReadFile returns the contents of name (fs.ReadFileFS: name must be
// fs.ValidPath).
func (c *Client) ReadFile(name string) ([]byte, error) {
	const op = "readfile"
	f, err := c.openStrict(op, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := 512
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 && fi.Size() < 1<<40 {
		size = int(fi.Size()) + 1 // +1 so the final Read sees EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// WriteFile writes data to name, creating it with perm (less the umask)
// or truncating it first, like os.WriteFile.
func (c *Client) WriteFile(name string, data []byte, perm fs.FileMode) error {
	f, err := c.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err1 := f.Close(); err == nil {
		err = err1
	}
	return err
}

func (c *Client) openFile(op, name, n string, flag int, perm fs.FileMode) (*File, error) {
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	if acc == os.O_WRONLY|os.O_RDWR || flag&(os.O_CREATE|O_DIRECTORY) == os.O_CREATE|O_DIRECTORY {
		// Linux (since 6.4) rejects O_CREAT|O_DIRECTORY outright.
		return nil, fserr.E(op, name, fserr.Invalid)
	}
	follow := flag&O_NOFOLLOW == 0
	if flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
		return c.create(op, name, n, flag, perm, true)
	}
	if flag&os.O_CREATE != 0 {
		if f, done, err := c.openOrCreate(op, name, n, flag, perm); done {
			return f, err
		}
	}
	if f, done, err := c.openRead(op, name, n, flag, follow); done {
		return f, err
	}
	a, err := c.core.meta.Resolve(c.ctx, c.core.id, metaPath(n), follow)
	if err == nil {
		return c.openExisting(op, name, n, a, flag)
	}
	if flag&os.O_CREATE == 0 || !fserr.Is(fserr.NotExist, err) {
		return nil, wrap(op, name, err)
	}
	target := n
	if follow {
		if target, err = c.danglingTarget(op, name, n); err != nil {
			return nil, err
		}
	}
	f, err := c.create(op, name, target, flag, perm, false)
	if f != nil {
		f.base = baseName(n) // Stat names what was opened, as fstat does
	}
	return f, err
}

// openOrCreate is open(O_CREAT) without O_EXCL in the fewest round
// trips: resolve the parent, then one Create, which opens (and with
// O_TRUNC truncates) an existing regular file itself. When this client
// buffers writes that a truncate could race with, it first looks the
// entry up and flushes them, as create does. It reports done=false, with
// nothing left open, when the entry needs the general path: the root, or
// a symlink to follow.
func (c *Client) openOrCreate(op, name, n string, flag int, perm fs.FileMode) (f *File, done bool, err error) {
	dir, base := splitName(n)
	if base == "" {
		return nil, false, nil
	}
	r, one, err := c.createPath(n, flag, perm, false)
	if one {
		if err != nil {
			return nil, true, wrap(op, name, err)
		}
		if r.ParentNotDir {
			return nil, true, fserr.E(op, name, fserr.NotDir)
		}
		return c.created(op, name, n, r.Attr, flag)
	}
	p, err := c.core.meta.Resolve(c.ctx, c.core.id, metaPath(dir), true)
	if err != nil {
		return nil, true, wrap(op, name, err)
	}
	if p.Type != meta.TypeDir {
		return nil, true, fserr.E(op, name, fserr.NotDir)
	}
	if flag&os.O_TRUNC != 0 && c.core.data.Busy() {
		if a, err := c.core.meta.Lookup(c.ctx, c.core.id, p.Ino, base); err == nil {
			if a.Type == meta.TypeSymlink {
				return nil, false, nil
			}
			if err := c.flushOpen(a.Ino); err != nil {
				return nil, true, wrap(op, name, err)
			}
		}
	}
	a, err := c.core.meta.Create(c.ctx, c.core.id, p.Ino, base, c.createMode(perm), flag, false)
	if err != nil {
		return nil, true, wrap(op, name, err)
	}
	return c.created(op, name, n, a, flag)
}

// created finishes openOrCreate once Create answered a: the same
// done=false, with nothing left open, for a symlink to follow.
func (c *Client) created(op, name, n string, a meta.Attr, flag int) (*File, bool, error) {
	if a.Type != meta.TypeRegular {
		// Create opened what it found (a symlink, a device...): give the
		// handle back and answer as open(2) would for that type.
		if err := c.core.meta.Release(context.WithoutCancel(c.ctx), a.Ino); err != nil {
			return nil, true, wrap(op, name, err)
		}
		if a.Type == meta.TypeSymlink && flag&O_NOFOLLOW == 0 {
			return nil, false, nil
		}
		f, err := c.openExisting(op, name, n, a, flag)
		return f, true, err
	}
	if flag&os.O_TRUNC != 0 {
		c.core.data.Truncated(a.Ino, a.Size)
	}
	return c.newFile(name, n, a, flag), true, nil
}

// danglingTarget is where open(O_CREAT) through a dangling symlink
// creates the file: the end of the chain of symlinks starting at n.
// Targets are resolved lexically (path.Clean), within the filesystem.
func (c *Client) danglingTarget(op, name, n string) (string, error) {
	for range 40 {
		a, err := c.core.meta.Resolve(c.ctx, c.core.id, metaPath(n), false)
		if err != nil {
			if fserr.Is(fserr.NotExist, err) {
				return n, nil
			}
			return "", wrap(op, name, err)
		}
		if a.Type != meta.TypeSymlink {
			return n, nil
		}
		t, err := c.core.meta.Readlink(c.ctx, a.Ino)
		if err != nil {
			return "", wrap(op, name, err)
		}
		dir, _ := splitName(n)
		if path.IsAbs(t) {
			t = path.Clean(t)[1:]
		} else {
			t = path.Clean(joinName(dir, t))
		}
		if t == "" || t == ".." || len(t) > 2 && t[:3] == "../" {
			t = "."
		}
		n = t
	}
	return "", fserr.E(op, name, fserr.Loop)
}

func (c *Client) create(op, name, n string, flag int, perm fs.FileMode, excl bool) (*File, error) {
	rootKind := fserr.IsDir
	if excl {
		rootKind = fserr.Exist
	}
	if _, base := splitName(n); base != "" {
		r, one, err := c.createPath(n, flag, perm, excl)
		if one {
			if err != nil {
				return nil, wrap(op, name, err)
			}
			if r.ParentNotDir {
				return nil, wrap(op, name, fserr.E(op, n, fserr.NotDir))
			}
			if flag&os.O_TRUNC != 0 {
				c.core.data.Truncated(r.Attr.Ino, r.Attr.Size)
			}
			return c.newFile(name, n, r.Attr, flag), nil
		}
	}
	_, p, base, err := c.parent(op, n, rootKind)
	if err != nil {
		return nil, wrap(op, name, err)
	}
	if flag&os.O_TRUNC != 0 {
		// A non-exclusive create may open an existing file and truncate it.
		if a, err := c.core.meta.Lookup(c.ctx, c.core.id, p, base); err == nil {
			if err := c.flushOpen(a.Ino); err != nil {
				return nil, wrap(op, name, err)
			}
		}
	}
	a, err := c.core.meta.Create(c.ctx, c.core.id, p, base, c.createMode(perm), flag, excl)
	if err != nil {
		return nil, wrap(op, name, err)
	}
	if flag&os.O_TRUNC != 0 {
		c.core.data.Truncated(a.Ino, a.Size)
	}
	return c.newFile(name, n, a, flag), nil
}

func (c *Client) openExisting(op, name, n string, a meta.Attr, flag int) (*File, error) {
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	switch {
	case a.Type == meta.TypeSymlink:
		return nil, fserr.E(op, name, fserr.Loop)
	case flag&O_DIRECTORY != 0 && a.Type != meta.TypeDir:
		return nil, fserr.E(op, name, fserr.NotDir)
	case a.Type == meta.TypeDir:
		if acc != os.O_RDONLY || flag&(os.O_TRUNC|os.O_CREATE) != 0 {
			return nil, fserr.E(op, name, fserr.IsDir)
		}
		if err := c.core.meta.Access(c.ctx, c.core.id, a.Ino, meta.AccessRead); err != nil {
			return nil, wrap(op, name, err)
		}
		f := &File{c: c, name: name, base: baseName(n), ino: a.Ino, isDir: true, flag: flag, lockOwner: newLockOwner()}
		return f, nil
	case a.Type != meta.TypeRegular:
		return nil, fserr.E(op, name, fserr.NotSupported)
	}
	if flag&os.O_TRUNC != 0 {
		if err := c.flushOpen(a.Ino); err != nil {
			return nil, wrap(op, name, err)
		}
	}
	oa, err := c.core.meta.Open(c.ctx, c.core.id, a.Ino, flag&(os.O_RDONLY|os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_TRUNC))
	if err != nil {
		return nil, wrap(op, name, err)
	}
	if flag&os.O_TRUNC != 0 {
		c.core.data.Truncated(oa.Ino, oa.Size)
	}
	return c.newFile(name, n, oa, flag), nil
}

// createPath resolves n's parent and creates or opens its last element
// (n is not the root) in one round trip when the meta service can. It
// reports one=false, having done nothing, when the caller must resolve
// and create in two calls: a server without the call, or an O_TRUNC
// while this client buffers writes, which must be flushed before the
// truncate and so need the inode first.
func (c *Client) createPath(n string, flag int, perm fs.FileMode, excl bool) (r meta.CreatePathResult, one bool, err error) {
	if !c.core.data.Inline() || flag&os.O_TRUNC != 0 && c.core.data.Busy() {
		return r, false, nil
	}
	pc, ok := c.core.meta.(meta.PathCreator)
	if !ok {
		return r, false, nil
	}
	r, err = pc.CreatePath(c.ctx, c.core.id, metaPath(n), c.createMode(perm), flag, excl)
	if fserr.Is(fserr.NotSupported, err) {
		// As openRead: the Inline service is one, absent or not.
		c.core.data.NoInline()
		return meta.CreatePathResult{}, false, nil
	}
	return r, true, err
}

// openRead opens name for reading in one round trip when the meta
// service can: resolve, open, chunk 0's records and a small file's
// blocks, which seed the data layer so the first read needs no call. It
// reports done=false, with nothing opened, when the general path must
// run (writing, creating, or a server without the call).
func (c *Client) openRead(op, name, n string, flag int, follow bool) (*File, bool, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|O_DIRECTORY) != 0 || !c.core.data.Inline() {
		return nil, false, nil
	}
	or, ok := c.core.meta.(meta.OpenReader)
	if !ok {
		return nil, false, nil
	}
	r, err := or.OpenRead(c.ctx, c.core.id, metaPath(n), follow, flag&os.O_APPEND, data.InlineMax)
	if fserr.Is(fserr.NotSupported, err) {
		c.core.data.NoInline()
		return nil, false, nil
	}
	if err != nil {
		return nil, true, wrap(op, name, err)
	}
	if !r.Opened {
		f, err := c.openExisting(op, name, n, r.Attr, flag)
		return f, true, err
	}
	f := c.newFile(name, n, r.Attr, flag)
	c.core.data.Seed(r.Attr.Ino, 0, r.Slices, r.Keys, r.Objs)
	return f, true, nil
}

func (c *Client) newFile(name, n string, a meta.Attr, flag int) *File {
	f := &File{c: c, name: name, base: baseName(n), ino: a.Ino, flag: flag, lockOwner: newLockOwner()}
	f.h = c.core.data.Open(a.Ino, a)
	return f
}

func (f *File) readable() bool { return f.flag&(os.O_WRONLY|os.O_RDWR) != os.O_WRONLY }
func (f *File) writable() bool { return f.flag&(os.O_WRONLY|os.O_RDWR) != 0 }

// usable checks the handle for an operation: open, and open for it.
func (f *File) usable(op string, write bool) error {
	switch {
	case f.closed:
		return fserr.E(op, f.name, fserr.Closed)
	case write && (f.isDir || !f.writable()):
		return fserr.E(op, f.name, fserr.BadHandle)
	case !write && f.isDir:
		return fserr.E(op, f.name, fserr.IsDir)
	case !write && !f.readable():
		return fserr.E(op, f.name, fserr.BadHandle)
	}
	return nil
}

// Name returns the name as given to OpenFile.
func (f *File) Name() string { return f.name }

// Read reads from the file's offset.
func (f *File) Read(p []byte) (int, error) {
	const op = "read"
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(op, false); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := f.h.ReadAt(f.c.ctx, p, f.off)
	f.off += int64(n)
	if err == io.EOF {
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	}
	return n, wrap(op, f.name, err)
}

// ReadAt reads len(p) bytes at off; fewer only with an error (io.EOF at
// the end of the file).
func (f *File) ReadAt(p []byte, off int64) (int, error) { return f.ReadAtContext(f.c.ctx, p, off) }

// ReadAtContext is ReadAt bounded by ctx instead of the client's context:
// a cancelled or expired ctx ends this call, never the handle, so a
// per-request deadline (the Python agent's) bounds one request.
func (f *File) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	const op = "readat"
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return 0, fserr.E(op, f.name, fserr.Closed)
	}
	if off < 0 {
		return 0, fserr.E(op, f.name, fserr.Invalid)
	}
	if len(p) == 0 {
		return 0, nil // as os.File: an empty read asks nothing of the handle's mode
	}
	if err := f.usable(op, false); err != nil {
		return 0, err
	}
	total := 0
	for total < len(p) {
		n, err := f.h.ReadAt(ctx, p[total:], off+int64(total))
		total += n
		if err == io.EOF {
			return total, io.EOF
		}
		if err != nil {
			return total, wrap(op, f.name, err)
		}
		if n == 0 {
			return total, io.ErrNoProgress
		}
	}
	return total, nil
}

// Write writes at the file's offset, or at its end with O_APPEND.
func (f *File) Write(p []byte) (int, error) { return f.WriteContext(f.c.ctx, p) }

// WriteContext is Write bounded by ctx (see ReadAtContext).
func (f *File) WriteContext(ctx context.Context, p []byte) (int, error) {
	const op = "write"
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(op, true); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil // moves no offset, even with O_APPEND, as write(2)
	}
	off := f.off
	if f.flag&os.O_APPEND != 0 {
		// Appends through different handles must not interleave between
		// reading the size and writing at it.
		f.c.core.appendMu.Lock()
		defer f.c.core.appendMu.Unlock()
		sz, err := f.size(ctx)
		if err != nil {
			return 0, wrap(op, f.name, err)
		}
		off = int64(sz)
	}
	n, err := f.write(ctx, op, p, off)
	f.off = off + int64(n)
	return n, err
}

func (f *File) write(ctx context.Context, op string, p []byte, off int64) (int, error) {
	if off+int64(len(p)) > meta.MaxFileSize {
		return 0, fserr.E(op, f.name, fserr.TooBig)
	}
	n, err := f.h.WriteAt(f.c.writerCtx(ctx), p, off)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, wrap(op, f.name, err)
}

// WriteString is Write of a string.
func (f *File) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

// WriteAt writes len(p) bytes at off. As with os.File, it is an error on
// a file opened with O_APPEND.
func (f *File) WriteAt(p []byte, off int64) (int, error) { return f.WriteAtContext(f.c.ctx, p, off) }

// WriteAtContext is WriteAt bounded by ctx (see ReadAtContext).
func (f *File) WriteAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	const op = "writeat"
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.usable(op, true); err != nil {
		return 0, err
	}
	if off < 0 || f.flag&os.O_APPEND != 0 {
		return 0, fserr.E(op, f.name, fserr.Invalid)
	}
	return f.write(ctx, op, p, off)
}

// size is the file's size including this client's unflushed writes.
func (f *File) size(ctx context.Context) (uint64, error) {
	if sz, ok := f.c.core.data.Size(f.ino); ok {
		return sz, nil
	}
	a, err := f.c.core.meta.GetAttr(ctx, f.ino)
	return a.Size, err
}

// Seek sets the offset for the next Read or Write. On a directory only
// Seek(0, io.SeekStart) is meaningful: it restarts ReadDir.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	const op = "seek"
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, fserr.E(op, f.name, fserr.Closed)
	}
	if f.isDir {
		if offset != 0 || whence != io.SeekStart {
			return 0, fserr.E(op, f.name, fserr.Invalid)
		}
		if f.dir != nil {
			f.dir.Close()
			f.dir = nil
		}
		return 0, nil
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		sz, err := f.size(f.c.ctx)
		if err != nil {
			return 0, wrap(op, f.name, err)
		}
		base = int64(sz)
	default:
		return 0, fserr.E(op, f.name, fserr.Invalid)
	}
	if base+offset < 0 {
		return 0, fserr.E(op, f.name, fserr.Invalid)
	}
	f.off = base + offset
	return f.off, nil
}

// Truncate sets the file's size. The file must be open for writing.
func (f *File) Truncate(size int64) error {
	const op = "truncate"
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fserr.E(op, f.name, fserr.Closed)
	}
	if f.isDir || !f.writable() || size < 0 {
		return fserr.E(op, f.name, fserr.Invalid)
	}
	if err := f.c.flushOpen(f.ino); err != nil {
		return wrap(op, f.name, err)
	}
	a, err := f.c.core.meta.SetAttr(f.c.ctx, f.c.core.id, f.ino, meta.SetSize, meta.Attr{Size: uint64(size)})
	if err != nil {
		return wrap(op, f.name, err)
	}
	f.c.core.data.Truncated(f.ino, a.Size)
	return nil
}

// Flush commits the file's buffered writes, as Close does, without
// closing it: any client that opens the file afterwards sees them. It is
// not a durability point (Sync is). The FUSE mount calls it on every
// close(2) of a descriptor, since dup'ed descriptors share one File.
func (f *File) Flush() error {
	const op = "flush"
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fserr.E(op, f.name, fserr.Closed)
	}
	if f.isDir {
		return nil
	}
	return wrap(op, f.name, f.c.flushOpen(f.ino))
}

// SetAttr changes the attributes selected by mask of the open file, which
// may have been unlinked or renamed since it was opened (fchmod, fchown,
// futimens, ftruncate), and returns the result.
func (f *File) SetAttr(mask AttrMask, attr Attr) (Attr, error) {
	const op = "setattr"
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return Attr{}, fserr.E(op, f.name, fserr.Closed)
	}
	if mask&SetAttrSize != 0 {
		if f.isDir {
			return Attr{}, fserr.E(op, f.name, fserr.IsDir)
		}
		if err := f.c.flushOpen(f.ino); err != nil {
			return Attr{}, wrap(op, f.name, err)
		}
	}
	a, err := f.c.core.meta.SetAttr(f.c.ctx, f.c.core.id, f.ino, uint32(mask), attrToMeta(&attr))
	if err != nil {
		return Attr{}, wrap(op, f.name, err)
	}
	if mask&SetAttrSize != 0 {
		f.c.core.data.Truncated(f.ino, a.Size)
	}
	f.c.overlaySize(&a)
	return attrFromMeta(&a), nil
}

// Sync makes the file's data and metadata durable: it uploads buffered
// writes, commits them and syncs the engine.
func (f *File) Sync() error { return f.SyncContext(f.c.ctx) }

// SyncContext is Sync bounded by ctx (see ReadAtContext).
func (f *File) SyncContext(ctx context.Context) error {
	const op = "sync"
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fserr.E(op, f.name, fserr.Closed)
	}
	// The handle makes the blocks durable before it commits the slices;
	// syncing the engine then makes the commit itself durable.
	if f.h != nil {
		if err := f.h.Sync(f.c.writerCtx(ctx)); err != nil {
			return wrap(op, f.name, err)
		}
	}
	if s := f.c.core.syncer; s != nil {
		return wrap(op, f.name, s.Sync())
	}
	return nil
}

// Stat returns the file's FileInfo.
func (f *File) Stat() (fs.FileInfo, error) {
	const op = "stat"
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, fserr.E(op, f.name, fserr.Closed)
	}
	a, err := f.c.core.meta.GetAttr(f.c.ctx, f.ino)
	if err != nil {
		return nil, wrap(op, f.name, err)
	}
	f.c.overlaySize(&a)
	return newFileInfo(f.base, &a), nil
}

// ReadDir reads the directory's entries as fs.ReadDirFile: with n > 0 at
// most n, and io.EOF once none are left; with n <= 0 all the rest.
func (f *File) ReadDir(n int) ([]fs.DirEntry, error) {
	const op = "readdir"
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fserr.E(op, f.name, fserr.Closed)
	}
	if !f.isDir {
		return nil, fserr.E(op, f.name, fserr.NotDir)
	}
	if f.dir == nil {
		f.dir = f.c.dirIter(f.name, f.ino, true)
	}
	var out []fs.DirEntry
	for n <= 0 || len(out) < n {
		e, err := f.dir.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

// Close flushes and commits written data and releases the file. A second
// Close fails with KindClosed (fs.ErrClosed).
func (f *File) Close() error {
	const op = "close"
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fserr.E(op, f.name, fserr.Closed)
	}
	f.closed = true
	// POSIX: closing releases the owner's locks on the file.
	lerr := f.releaseLocks(context.WithoutCancel(f.c.ctx))
	if f.isDir {
		if f.dir != nil {
			f.dir.Close()
		}
		return wrap(op, f.name, lerr)
	}
	err := f.h.Close(f.c.writeCtx())
	if err == nil {
		err = lerr
	}
	// Release even if the flush failed or ctx is done: a leaked open
	// count would keep an unlinked file's data forever.
	rerr := f.c.core.meta.Release(context.WithoutCancel(f.c.ctx), f.ino)
	if err == nil {
		err = rerr
	}
	return wrap(op, f.name, err)
}
