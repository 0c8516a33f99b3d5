package shoal

import (
	"io/fs"
	"time"

	"github.com/shoalfs/shoal/internal/meta"
)

// Attr is an inode's attributes, as FileInfo.Sys returns them.
type Attr struct {
	Ino                 uint64
	Mode                fs.FileMode // type, permission and setuid/setgid/sticky bits
	Uid, Gid            uint32
	Size                int64
	Nlink               uint32
	Atime, Mtime, Ctime time.Time
	Flags               uint32 // FlagImmutable, FlagAppend
	Rdev                uint32
}

// AttrMask selects the fields SetAttr changes.
type AttrMask uint32

// SetAttr mask bits.
const (
	SetAttrMode     AttrMask = 0x1 // chmod
	SetAttrUid      AttrMask = 0x2
	SetAttrGid      AttrMask = 0x4
	SetAttrSize     AttrMask = 0x8 // truncate
	SetAttrAtime    AttrMask = 0x10
	SetAttrMtime    AttrMask = 0x20
	SetAttrAtimeNow AttrMask = 0x80  // atime = now (Attr.Atime ignored)
	SetAttrMtimeNow AttrMask = 0x100 // mtime = now (Attr.Mtime ignored)
	SetAttrCtime    AttrMask = 0x400 // root only
	SetAttrFlags    AttrMask = 0x800 // Attr.Flags
)

// Inode flags (the Linux FS_IOC_GETFLAGS values).
const (
	FlagImmutable uint32 = 0x10 // chattr +i
	FlagAppend    uint32 = 0x20 // chattr +a
)

// RenameFlag modifies Rename (Linux renameat2 flags).
type RenameFlag uint32

// Rename flags.
const (
	RenameNoReplace RenameFlag = 0x1 // fail with KindExist if the target exists
	RenameExchange  RenameFlag = 0x2 // swap the two names atomically
)

// SetXattr flags (Linux setxattr).
const (
	XattrCreate  = 0x1 // fail with KindExist if the xattr exists
	XattrReplace = 0x2 // fail with KindNoData if it does not
)

// FSStat is filesystem usage.
type FSStat struct {
	TotalBytes  uint64
	UsedBytes   uint64
	AvailBytes  uint64
	TotalInodes uint64
	UsedInodes  uint64
	BlockSize   uint32 // the unit sizes are reported in by statfs(2) surfaces
}

// statBlockSize is the f_bsize statfs surfaces report; block objects
// are larger (meta.BlockSize) but tools expect a page-sized unit.
const statBlockSize = 4096

func attrFromMeta(a *meta.Attr) Attr {
	return Attr{
		Ino:   uint64(a.Ino),
		Mode:  a.FileMode(),
		Uid:   a.Uid,
		Gid:   a.Gid,
		Size:  int64(a.Size),
		Nlink: a.Nlink,
		Atime: time.Unix(0, a.Atime),
		Mtime: time.Unix(0, a.Mtime),
		Ctime: time.Unix(0, a.Ctime),
		Flags: a.Flags,
		Rdev:  a.Rdev,
	}
}

func attrToMeta(a *Attr) meta.Attr {
	return meta.Attr{
		Ino:   meta.Ino(a.Ino),
		Mode:  modeBits(a.Mode),
		Uid:   a.Uid,
		Gid:   a.Gid,
		Size:  uint64(max(a.Size, 0)),
		Atime: nanos(a.Atime),
		Mtime: nanos(a.Mtime),
		Ctime: nanos(a.Ctime),
		Flags: a.Flags,
		Rdev:  a.Rdev,
	}
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// modeBits converts the permission and setuid/setgid/sticky bits of an
// io/fs mode to the POSIX 07777 layout meta stores.
func modeBits(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= meta.ModeSetuid
	}
	if m&fs.ModeSetgid != 0 {
		b |= meta.ModeSetgid
	}
	if m&fs.ModeSticky != 0 {
		b |= meta.ModeSticky
	}
	return b
}

func typeMode(t meta.Type) fs.FileMode {
	a := meta.Attr{Type: t}
	return a.FileMode().Type()
}

// fileInfo implements fs.FileInfo over an Attr.
type fileInfo struct {
	name string
	attr Attr
}

func newFileInfo(name string, a *meta.Attr) *fileInfo {
	return &fileInfo{name: name, attr: attrFromMeta(a)}
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.attr.Size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.attr.Mode }
func (fi *fileInfo) ModTime() time.Time { return fi.attr.Mtime }
func (fi *fileInfo) IsDir() bool        { return fi.attr.Mode.IsDir() }
func (fi *fileInfo) Sys() any           { return &fi.attr }
func (fi *fileInfo) String() string     { return fs.FormatFileInfo(fi) }

// dirEntry implements fs.DirEntry. Its FileInfo comes from the listing
// when it was asked for attributes, and is fetched on first use otherwise.
type dirEntry struct {
	c    *Client
	name string
	ino  meta.Ino
	typ  fs.FileMode
	info *fileInfo
}

func (d *dirEntry) Name() string      { return d.name }
func (d *dirEntry) IsDir() bool       { return d.typ.IsDir() }
func (d *dirEntry) Type() fs.FileMode { return d.typ }
func (d *dirEntry) String() string    { return fs.FormatDirEntry(d) }

// Ino returns the entry's inode number without fetching its attributes
// (the FUSE mount's readdir needs it for every entry).
func (d *dirEntry) Ino() uint64 { return uint64(d.ino) }

func (d *dirEntry) Info() (fs.FileInfo, error) {
	if d.info != nil {
		return d.info, nil
	}
	a, err := d.c.core.meta.GetAttr(d.c.ctx, d.ino)
	if err != nil {
		return nil, wrap("stat", d.name, err)
	}
	d.c.overlaySize(&a)
	d.info = newFileInfo(d.name, &a)
	return d.info, nil
}
