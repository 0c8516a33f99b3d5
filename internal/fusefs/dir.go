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
		// attrs are the attributes of the listing's entries not yet
		// given to the kernel by Lookup.
		attrs map[string]*shoal.Attr
	}
}

var (
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.FileReaddirenter   = (*dirHandle)(nil)
	_ fs.FileSeekdirer      = (*dirHandle)(nil)
	_ fs.FileReleasedirer   = (*dirHandle)(nil)
	_ fs.FileGetattrer      = (*dirHandle)(nil)
	_ fs.FileFsyncdirer     = (*dirHandle)(nil)
	_ fs.FileLookuper       = (*dirHandle)(nil)
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
// caller's permissions apply, as at opendir). d.mu is held.
func (d *dirHandle) listLocked(ctx context.Context) syscall.Errno {
	ents, attrs, errno := d.n.listing(ctx)
	if errno != 0 {
		return errno
	}
	d.mu.ds, d.mu.attrs = fs.NewListDirStream(ents), attrs
	return 0
}

// Lookup answers READDIRPLUS's lookup of an entry from the attributes
// its listing carried; an entry without them (listed before a rewind,
// or looked up again) is looked up as usual.
func (d *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d.mu.Lock()
	a := d.mu.attrs[name]
	delete(d.mu.attrs, name)
	d.mu.Unlock()
	if a == nil {
		return d.n.Lookup(ctx, name, out)
	}
	return d.n.newChild(ctx, a, out), 0
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.ds == nil {
		if errno := d.listLocked(ctx); errno != 0 {
			return nil, errno
		}
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
		if errno := d.listLocked(ctx); errno != 0 {
			return errno
		}
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
