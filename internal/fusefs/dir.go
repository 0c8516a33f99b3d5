package fusefs

import (
	"context"
	"os"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	shoal "github.com/shoalfs/shoal"
)

// dirHandle is an open directory. It holds the directory open in the SDK
// (by inode). A directory removed while open is gone from Shoal at once
// (only files are kept alive by their opens), so fstat then answers with
// the attributes seen at open and no links, as Linux shows a removed
// directory.
// Its listing is taken at the first read and again at every rewind, as
// readdir(3) allows.
type dirHandle struct {
	n     *node
	f     *shoal.File
	seen  shoal.Attr // at open
	locks lockOwners

	mu struct {
		sync.Mutex
		ds fs.DirStream
	}
}

var (
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.FileReaddirenter   = (*dirHandle)(nil)
	_ fs.FileSeekdirer      = (*dirHandle)(nil)
	_ fs.FileReleasedirer   = (*dirHandle)(nil)
	_ fs.FileGetattrer      = (*dirHandle)(nil)
	_ fs.FileFsyncdirer     = (*dirHandle)(nil)
)

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	f, err := n.fs.as(ctx).OpenFile(p, os.O_RDONLY|shoal.O_DIRECTORY, 0)
	if err != nil {
		return nil, 0, shoal.Errno(err)
	}
	d := &dirHandle{n: n, f: f}
	if fi, err := f.Stat(); err == nil {
		d.seen = *attrOf(fi)
	}
	n.mu.Lock()
	if n.mu.dirs == nil {
		n.mu.dirs = map[*dirHandle]struct{}{}
	}
	n.mu.dirs[d] = struct{}{}
	n.mu.Unlock()
	return d, 0, 0
}

// list reads the directory through the node's current name (the
// caller's permissions apply, as at opendir).
func (d *dirHandle) list(ctx context.Context) (fs.DirStream, syscall.Errno) {
	return d.n.Readdir(ctx)
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.ds == nil {
		ds, errno := d.list(ctx)
		if errno != 0 {
			return nil, errno
		}
		d.mu.ds = ds
	}
	if !d.mu.ds.HasNext() {
		return nil, 0
	}
	e, errno := d.mu.ds.Next()
	return &e, errno
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off == 0 || d.mu.ds == nil {
		// A rewind sees entries made since the last listing.
		ds, errno := d.list(ctx)
		if errno != 0 {
			return errno
		}
		d.mu.ds = ds
	}
	if off == 0 {
		return 0
	}
	if sd, ok := d.mu.ds.(fs.FileSeekdirer); ok {
		return sd.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	d.n.mu.Lock()
	delete(d.n.mu.dirs, d)
	d.n.mu.Unlock()
	d.locks.release(d.f)
	d.f.Close()
}

func (d *dirHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	fi, err := d.f.Stat()
	if err != nil {
		if errno := shoal.Errno(err); errno != syscall.ENOENT || d.seen.Ino == 0 {
			return errno
		}
		a := d.seen
		a.Nlink = 0
		fillAttr(&out.Attr, &a)
		return 0
	}
	fillAttr(&out.Attr, attrOf(fi))
	return 0
}

// Fsync of a directory: its entries are committed by every namespace
// operation already; this makes them durable.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return shoal.Errno(d.f.Sync())
}

// anyDir returns an open directory handle of the node, or nil.
func (n *node) anyDir() *dirHandle {
	n.mu.Lock()
	defer n.mu.Unlock()
	for d := range n.mu.dirs {
		return d
	}
	return nil
}
