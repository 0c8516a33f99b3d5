package fusefs

import (
	"context"
	iofs "io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	shoal "github.com/shoalfs/shoal"
)

// node is one kernel inode: a Shoal inode reached by the path of its
// last known name under the mount root.
type node struct {
	fs.Inode
	fs *filesystem
	// posixLocks are the lock owners that took record locks on the
	// inode through this mount: a FLUSH by one of them unlocks.
	posixLocks lockOwners

	mu struct {
		sync.Mutex
		open  map[*handle]struct{}    // open files, for calls on an unlinked node
		dirs  map[*dirHandle]struct{} // open directories, likewise
		stamp stamp                   // the file as this mount last closed it
	}
}

// stamp identifies a version of a file's contents well enough to decide
// whether the kernel may keep its page cache.
type stamp struct {
	valid bool
	size  int64
	mtime time.Time
}

func stampOf(a *shoal.Attr) stamp { return stamp{valid: true, size: a.Size, mtime: a.Mtime} }

var (
	_ fs.NodeLookuper      = (*node)(nil)
	_ fs.NodeGetattrer     = (*node)(nil)
	_ fs.NodeSetattrer     = (*node)(nil)
	_ fs.NodeReaddirer     = (*node)(nil)
	_ fs.NodeMkdirer       = (*node)(nil)
	_ fs.NodeMknoder       = (*node)(nil)
	_ fs.NodeCreater       = (*node)(nil)
	_ fs.NodeOpener        = (*node)(nil)
	_ fs.NodeUnlinker      = (*node)(nil)
	_ fs.NodeRmdirer       = (*node)(nil)
	_ fs.NodeRenamer       = (*node)(nil)
	_ fs.NodeLinker        = (*node)(nil)
	_ fs.NodeSymlinker     = (*node)(nil)
	_ fs.NodeReadlinker    = (*node)(nil)
	_ fs.NodeGetxattrer    = (*node)(nil)
	_ fs.NodeSetxattrer    = (*node)(nil)
	_ fs.NodeListxattrer   = (*node)(nil)
	_ fs.NodeRemovexattrer = (*node)(nil)
	_ fs.NodeStatfser      = (*node)(nil)
)

// path returns the node's SDK name, or false when the node has no name
// left (unlinked while open).
func (n *node) path() (string, bool) {
	root := n.fs.root.EmbeddedInode()
	var segs []string
	for p := n.EmbeddedInode(); p != root; {
		name, parent := p.Parent()
		if parent == nil {
			return "", false
		}
		segs = append(segs, name)
		p = parent
	}
	if len(segs) == 0 {
		return ".", true
	}
	slices.Reverse(segs)
	return strings.Join(segs, "/"), true
}

// child returns the SDK name of entry name of directory n.
func (n *node) child(name string) (string, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return "", syscall.ENOENT
	}
	if p == "." {
		return name, 0
	}
	return p + "/" + name, 0
}

// anyOpen returns an open handle of the node, or nil.
func (n *node) anyOpen() *handle {
	n.mu.Lock()
	defer n.mu.Unlock()
	for h := range n.mu.open {
		return h
	}
	return nil
}

func (n *node) writable() syscall.Errno {
	if n.fs.opts.ReadOnly {
		return syscall.EROFS
	}
	return 0
}

// newChild makes (or finds, for a hard link) the node of attributes a
// under n and fills out.
func (n *node) newChild(ctx context.Context, a *shoal.Attr, out *fuse.EntryOut) *fs.Inode {
	fillAttr(&out.Attr, a)
	out.Ino = a.Ino
	return n.NewInode(ctx, &node{fs: n.fs}, fs.StableAttr{Mode: posixMode(a.Mode) & syscall.S_IFMT, Ino: a.Ino})
}

// lookupAttr stats name as the caller and returns its attributes.
func lookupAttr(c *shoal.Client, name string) (*shoal.Attr, syscall.Errno) {
	fi, err := c.Lstat(name)
	if err != nil {
		return nil, shoal.Errno(err)
	}
	return attrOf(fi), 0
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p, errno := n.child(name)
	if errno != 0 {
		return nil, errno
	}
	a, errno := lookupAttr(n.fs.as(ctx), p)
	if errno != 0 {
		return nil, errno
	}
	return n.newChild(ctx, a, out), 0
}

func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := fh.(*handle); ok {
		return h.getattr(out)
	}
	// The kernel already holds the node, so its attributes are read as
	// root: search permission on the path was checked at lookup.
	if p, ok := n.path(); ok {
		a, errno := lookupAttr(n.fs.client, p)
		if errno == 0 {
			fillAttr(&out.Attr, a)
			return 0
		}
		if errno != syscall.ENOENT {
			return errno
		}
	}
	if h := n.anyOpen(); h != nil {
		return h.getattr(out)
	}
	if d := n.anyDir(); d != nil {
		return d.Getattr(ctx, out)
	}
	return syscall.ENOENT
}

func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := n.writable(); errno != 0 {
		return errno
	}
	mask, attr := setAttrArgs(in)
	if mask == 0 {
		return n.Getattr(ctx, fh, out)
	}
	h, _ := fh.(*handle)
	var a shoal.Attr
	var err error
	if h == nil {
		if p, ok := n.path(); ok {
			a, err = n.fs.as(ctx).LSetAttr(p, mask, attr)
			if err == nil || shoal.Errno(err) != syscall.ENOENT {
				goto done
			}
		}
		if h = n.anyOpen(); h == nil {
			return syscall.ENOENT
		}
	}
	a, err = h.f.SetAttr(mask, attr)
done:
	if err != nil {
		return shoal.Errno(err)
	}
	fillAttr(&out.Attr, &a)
	return 0
}

// setAttrArgs converts a FUSE setattr request to an SDK mask and Attr.
func setAttrArgs(in *fuse.SetAttrIn) (shoal.AttrMask, shoal.Attr) {
	var mask shoal.AttrMask
	var a shoal.Attr
	if m, ok := in.GetMode(); ok {
		mask |= shoal.SetAttrMode
		a.Mode = fileMode(m)
	}
	if u, ok := in.GetUID(); ok {
		mask |= shoal.SetAttrUid
		a.Uid = u
	}
	if g, ok := in.GetGID(); ok {
		mask |= shoal.SetAttrGid
		a.Gid = g
	}
	if sz, ok := in.GetSize(); ok {
		mask |= shoal.SetAttrSize
		a.Size = int64(sz)
	}
	if in.Valid&fuse.FATTR_ATIME != 0 {
		if in.Valid&fuse.FATTR_ATIME_NOW != 0 {
			mask |= shoal.SetAttrAtimeNow
		} else {
			mask |= shoal.SetAttrAtime
			a.Atime = time.Unix(int64(in.Atime), int64(in.Atimensec))
		}
	}
	if in.Valid&fuse.FATTR_MTIME != 0 {
		if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
			mask |= shoal.SetAttrMtimeNow
		} else {
			mask |= shoal.SetAttrMtime
			a.Mtime = time.Unix(int64(in.Mtime), int64(in.Mtimensec))
		}
	}
	if in.Valid&fuse.FATTR_CTIME != 0 {
		mask |= shoal.SetAttrCtime
		a.Ctime = time.Unix(int64(in.Ctime), int64(in.Ctimensec))
	}
	return mask, a
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	ents, _, errno := n.listing(ctx)
	if errno != 0 {
		return nil, errno
	}
	return fs.NewListDirStream(ents), 0
}

// listing reads the whole directory as the caller in one plus listing:
// names, inode numbers, types and every entry's attributes, so that
// READDIRPLUS answers each entry from it (dirHandle.Lookup) instead of
// one lookup per entry (10,000 round trips for 10,000 entries).
func (n *node) listing(ctx context.Context) ([]fuse.DirEntry, map[string]*shoal.Attr, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return nil, nil, syscall.ENOENT
	}
	list, err := n.fs.as(ctx).ReadDir(p)
	if err != nil {
		return nil, nil, shoal.Errno(err)
	}
	ents := make([]fuse.DirEntry, 0, len(list)+2)
	ents = append(ents,
		fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: n.StableAttr().Ino},
		fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR},
	)
	attrs := make(map[string]*shoal.Attr, len(list))
	for _, e := range list {
		de := fuse.DirEntry{Name: e.Name(), Mode: posixMode(e.Type()) & syscall.S_IFMT}
		if in, ok := e.(interface{ Ino() uint64 }); ok {
			de.Ino = in.Ino()
		}
		if fi, err := e.Info(); err == nil {
			if a, ok := fi.Sys().(*shoal.Attr); ok {
				attrs[de.Name] = a
			}
		}
		ents = append(ents, de)
	}
	return ents, attrs, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.writable(); errno != 0 {
		return nil, errno
	}
	p, errno := n.child(name)
	if errno != 0 {
		return nil, errno
	}
	c := n.fs.as(ctx)
	if err := c.Mkdir(p, fileMode(mode)); err != nil {
		return nil, shoal.Errno(err)
	}
	a, errno := lookupAttr(c, p)
	if errno != 0 {
		return nil, errno
	}
	return n.newChild(ctx, a, out), 0
}

func (n *node) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.writable(); errno != 0 {
		return nil, errno
	}
	p, errno := n.child(name)
	if errno != 0 {
		return nil, errno
	}
	c := n.fs.as(ctx)
	if err := c.Mknod(p, fileMode(mode), dev); err != nil {
		return nil, shoal.Errno(err)
	}
	a, errno := lookupAttr(c, p)
	if errno != 0 {
		return nil, errno
	}
	return n.newChild(ctx, a, out), 0
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.writable(); errno != 0 {
		return nil, nil, 0, errno
	}
	p, errno := n.child(name)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	f, err := n.fs.as(ctx).OpenFile(p, n.fs.openFlags(flags)|os.O_CREATE, fileMode(mode))
	if err != nil {
		return nil, nil, 0, shoal.Errno(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, 0, shoal.Errno(err)
	}
	a := attrOf(fi)
	ch := n.newChild(ctx, a, out)
	cn := ch.Operations().(*node)
	h := cn.opened(f, flags)
	return ch, h, h.fuseFlags(flags, false), 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if n.fs.opts.ReadOnly && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EROFS
	}
	p, ok := n.path()
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	f, err := n.fs.as(ctx).OpenFile(p, n.fs.openFlags(flags), 0)
	if err != nil {
		return nil, 0, shoal.Errno(err)
	}
	keep := false
	if fi, err := f.Stat(); err == nil {
		s := stampOf(attrOf(fi))
		n.mu.Lock()
		keep = n.mu.stamp == s
		n.mu.Unlock()
	}
	h := n.opened(f, flags)
	return h, h.fuseFlags(flags, keep), 0
}

// openFlags keeps the open(2) flags the SDK acts on. With the writeback
// cache the kernel reads pages of files opened write-only and resolves
// O_APPEND itself, so those become read-write and plain writes.
func (f *filesystem) openFlags(flags uint32) int {
	fl := int(flags) & (syscall.O_ACCMODE | os.O_CREATE | os.O_EXCL | os.O_TRUNC | os.O_APPEND)
	if f.opts.Writeback {
		if fl&syscall.O_ACCMODE == syscall.O_WRONLY {
			fl = fl&^syscall.O_ACCMODE | syscall.O_RDWR
		}
		fl &^= os.O_APPEND
	}
	return fl
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if errno := n.writable(); errno != 0 {
		return errno
	}
	p, errno := n.child(name)
	if errno != 0 {
		return errno
	}
	return shoal.Errno(n.fs.as(ctx).Unlink(p))
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if errno := n.writable(); errno != 0 {
		return errno
	}
	p, errno := n.child(name)
	if errno != 0 {
		return errno
	}
	return shoal.Errno(n.fs.as(ctx).Rmdir(p))
}

// Linux renameat2 flags.
const (
	renameNoReplace = 1
	renameExchange  = 2
	renameWhiteout  = 4
)

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if errno := n.writable(); errno != 0 {
		return errno
	}
	np, ok := newParent.(*node)
	if !ok || np.fs != n.fs {
		return syscall.EXDEV
	}
	if flags&^(renameNoReplace|renameExchange) != 0 || flags == renameNoReplace|renameExchange {
		return syscall.EINVAL
	}
	from, errno := n.child(name)
	if errno != 0 {
		return errno
	}
	to, errno := np.child(newName)
	if errno != 0 {
		return errno
	}
	var rf []shoal.RenameFlag
	if flags&renameNoReplace != 0 {
		rf = append(rf, shoal.RenameNoReplace)
	}
	if flags&renameExchange != 0 {
		rf = append(rf, shoal.RenameExchange)
	}
	return shoal.Errno(n.fs.as(ctx).Rename(from, to, rf...))
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.writable(); errno != 0 {
		return nil, errno
	}
	tn, ok := target.(*node)
	if !ok || tn.fs != n.fs {
		return nil, syscall.EXDEV
	}
	from, ok := tn.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	p, errno := n.child(name)
	if errno != 0 {
		return nil, errno
	}
	c := n.fs.as(ctx)
	if err := c.Link(from, p); err != nil {
		return nil, shoal.Errno(err)
	}
	a, errno := lookupAttr(c, p)
	if errno != 0 {
		return nil, errno
	}
	return n.newChild(ctx, a, out), 0
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.writable(); errno != 0 {
		return nil, errno
	}
	p, errno := n.child(name)
	if errno != 0 {
		return nil, errno
	}
	c := n.fs.as(ctx)
	if err := c.Symlink(target, p); err != nil {
		return nil, shoal.Errno(err)
	}
	a, errno := lookupAttr(c, p)
	if errno != 0 {
		return nil, errno
	}
	return n.newChild(ctx, a, out), 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	t, err := n.fs.as(ctx).Readlink(p)
	if err != nil {
		return nil, shoal.Errno(err)
	}
	return []byte(t), 0
}

func (n *node) isSymlink() bool { return n.StableAttr().Mode&syscall.S_IFMT == syscall.S_IFLNK }

// The SDK's xattr calls follow symlinks; the kernel has already resolved
// the node it asks about, so a symlink node's own xattrs are refused as
// Linux refuses user.* xattrs on symlinks.

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if n.isSymlink() {
		return 0, syscall.ENODATA
	}
	p, ok := n.path()
	if !ok {
		return 0, syscall.ENODATA
	}
	v, err := n.fs.as(ctx).GetXattr(p, attr)
	if err != nil {
		return 0, shoal.Errno(err)
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if errno := n.writable(); errno != 0 {
		return errno
	}
	if n.isSymlink() {
		return syscall.EPERM
	}
	p, ok := n.path()
	if !ok {
		return syscall.ENOENT
	}
	return shoal.Errno(n.fs.as(ctx).SetXattr(p, attr, data, int(flags)))
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if n.isSymlink() {
		return 0, 0
	}
	p, ok := n.path()
	if !ok {
		return 0, 0
	}
	names, err := n.fs.as(ctx).ListXattr(p)
	if err != nil {
		return 0, shoal.Errno(err)
	}
	var b []byte
	for _, nm := range names {
		b = append(append(b, nm...), 0)
	}
	if len(dest) < len(b) {
		return uint32(len(b)), syscall.ERANGE
	}
	return uint32(copy(dest, b)), 0
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if errno := n.writable(); errno != 0 {
		return errno
	}
	if n.isSymlink() {
		return syscall.EPERM
	}
	p, ok := n.path()
	if !ok {
		return syscall.ENOENT
	}
	return shoal.Errno(n.fs.as(ctx).RemoveXattr(p, attr))
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	s, err := n.fs.client.StatFS()
	if err != nil {
		return shoal.Errno(err)
	}
	bs := uint64(s.BlockSize)
	if bs == 0 {
		bs = 4096
	}
	out.Bsize = uint32(bs)
	out.Frsize = uint32(bs)
	out.Blocks = s.TotalBytes / bs
	out.Bfree = s.AvailBytes / bs
	out.Bavail = s.AvailBytes / bs
	out.Files = s.TotalInodes
	if s.TotalInodes > s.UsedInodes {
		out.Ffree = s.TotalInodes - s.UsedInodes
	}
	out.NameLen = 255
	return 0
}

// attrOf returns the Shoal attributes behind an SDK FileInfo.
func attrOf(fi iofs.FileInfo) *shoal.Attr {
	if a, ok := fi.Sys().(*shoal.Attr); ok {
		return a
	}
	return &shoal.Attr{Mode: fi.Mode(), Size: fi.Size(), Mtime: fi.ModTime()}
}
