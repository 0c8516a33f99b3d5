package meta

import (
	"context"
	"io/fs"
	"time"
)

// Ino is an inode number. RootIno is the root directory of a filesystem.
type Ino uint64

// RootIno is the inode of "/".
const RootIno Ino = 1

// Data layout constants (DESIGN.md "Data layout").
const (
	ChunkSize     = 64 << 20 // bytes of file address space per chunk
	BlockSize     = 4 << 20  // largest block object of a slice
	MaxName       = 255      // bytes in one name
	MaxPath       = 4096     // bytes in a path
	MaxSymlink    = 4095     // bytes in a symlink target
	MaxXattrName  = 255
	MaxXattrValue = 64 << 10
	MaxXattrsSize = 1 << 20 // total of names+values per inode
	MaxFileSize   = 1 << 50 // 1 PiB
)

// Type is the file type of an inode, stored in Attr.Type.
type Type uint8

// File types. Values are stored; append only.
const (
	TypeRegular Type = iota + 1
	TypeDir
	TypeSymlink
	TypeFIFO
	TypeSocket
	TypeChar
	TypeBlock
)

// Mode bits beyond the permission bits, kept in Attr.Mode (which holds
// only permission bits 07777, never the type).
const (
	ModeSetuid = 04000
	ModeSetgid = 02000
	ModeSticky = 01000
	ModePerm   = 07777
)

// Inode flags (the FS_IOC_GETFLAGS values Linux uses).
const (
	FlagImmutable = 0x00000010 // FS_IMMUTABLE_FL
	FlagAppend    = 0x00000020 // FS_APPEND_FL
	// FlagMounted marks the root of a dataset mount (mounts.go) and, with
	// lazy metadata, every inode materialised under one. Not a Linux
	// flag: Shoal's own, set only by Mount, never through SetAttr.
	FlagMounted = 0x40000000
)

// Attr is an inode's attributes. Times are nanoseconds since the epoch.
type Attr struct {
	Ino    Ino
	Type   Type
	Mode   uint32 // permission bits, 07777
	Uid    uint32
	Gid    uint32
	Size   uint64 // file bytes; for a directory, entries*? (reported as 4096); symlink: target length
	Nlink  uint32
	Atime  int64
	Mtime  int64
	Ctime  int64
	Flags  uint32 // FlagImmutable, FlagAppend
	Rdev   uint32 // device number for char/block devices
	Parent Ino    // for directories: the parent directory (the root is its own parent)
}

// FileMode converts the attributes to an io/fs FileMode (type + perm + bits).
func (a *Attr) FileMode() fs.FileMode {
	m := fs.FileMode(a.Mode & 0777)
	if a.Mode&ModeSetuid != 0 {
		m |= fs.ModeSetuid
	}
	if a.Mode&ModeSetgid != 0 {
		m |= fs.ModeSetgid
	}
	if a.Mode&ModeSticky != 0 {
		m |= fs.ModeSticky
	}
	switch a.Type {
	case TypeDir:
		m |= fs.ModeDir
	case TypeSymlink:
		m |= fs.ModeSymlink
	case TypeFIFO:
		m |= fs.ModeNamedPipe
	case TypeSocket:
		m |= fs.ModeSocket
	case TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case TypeBlock:
		m |= fs.ModeDevice
	}
	return m
}

// Identity is who makes a request. Uid 0 is root (the super-user): it
// passes permission checks as Linux's CAP_DAC_OVERRIDE/CAP_FOWNER would.
type Identity struct {
	Uid  uint32
	Gid  uint32   // primary group
	Gids []uint32 // supplementary groups
}

// Root is the super-user identity.
var Root = Identity{}

// InGroup reports whether gid is the identity's primary or a supplementary group.
func (id *Identity) InGroup(gid uint32) bool {
	if id.Gid == gid {
		return true
	}
	for _, g := range id.Gids {
		if g == gid {
			return true
		}
	}
	return false
}

// SetAttr mask bits (the DingoFS SET_ATTR_* values).
const (
	SetMode     = 1 << 0
	SetUid      = 1 << 1
	SetGid      = 1 << 2
	SetSize     = 1 << 3
	SetAtime    = 1 << 4
	SetMtime    = 1 << 5
	SetAtimeNow = 1 << 7
	SetMtimeNow = 1 << 8
	SetCtime    = 1 << 10
	SetFlags    = 1 << 11
)

// Rename flags (Linux renameat2).
const (
	RenameNoReplace = 1 << 0
	RenameExchange  = 1 << 1
)

// Xattr flags (Linux setxattr).
const (
	XattrCreate  = 1
	XattrReplace = 2
)

// Access bits for Access and permission checks.
const (
	AccessRead  = 4
	AccessWrite = 2
	AccessExec  = 1
)

// Open flags used by Open: the os.O_* values (O_RDONLY, O_WRONLY, O_RDWR,
// O_APPEND, O_TRUNC). Creation (O_CREAT/O_EXCL) is Create's business.

// Entry is one directory entry.
type Entry struct {
	Name string
	Ino  Ino
	Type Type
	Attr *Attr // filled when ReadDir is asked for attributes
}

// StatFS is filesystem usage.
type StatFS struct {
	TotalBytes  uint64 // capacity (the configured quota, or the store's free space + used)
	UsedBytes   uint64 // sum of file sizes
	TotalInodes uint64
	UsedInodes  uint64
}

// Slice is one record of a chunk's slice list: Len bytes of slice ID,
// starting at offset Off inside the slice's data, visible at Pos in the
// chunk. Size is the slice's total data length (its blocks cover [0,Size)).
// ID 0 is a hole: the range reads as zeros (truncate writes these).
type Slice struct {
	ID   uint64
	Size uint32
	Off  uint32
	Len  uint32
	Pos  uint32
}

// ChunkWrite is one slice to append to chunk Index of a file.
type ChunkWrite struct {
	Index uint32
	Slice Slice
}

// Service is the namespace API. It is implemented in-process over a kv
// engine (FS and Session in this package) and remotely by the rpc client
// (rpc.Conn.Meta). Every method is one engine transaction unless it says
// otherwise. Names are single path components; Resolve walks paths.
//
// It is four interfaces, one per thing it serves, so that a consumer
// names the part it uses (the data layer takes Chunks, Reclaimer and
// GetAttr; see data.Meta). What a backend may offer beyond Service is
// in capability.go.
//
// Errors are *fserr.Error with the POSIX kind Linux would return.
type Service interface {
	Namespace
	Handles
	Chunks
	Reclaimer

	// Close releases the service (and the session it holds).
	Close() error
}

// Namespace is the tree of names and the inodes' attributes and xattrs.
type Namespace interface {
	// Resolve walks path (absolute, "/"-separated, already cleaned by the
	// caller or cleaned here) from the root, following symlinks in the
	// middle and, if follow is set, at the end. It checks search (x)
	// permission on every directory it passes.
	Resolve(ctx context.Context, id Identity, path string, follow bool) (Attr, error)
	Lookup(ctx context.Context, id Identity, parent Ino, name string) (Attr, error)
	GetAttr(ctx context.Context, ino Ino) (Attr, error)
	SetAttr(ctx context.Context, id Identity, ino Ino, mask uint32, attr Attr) (Attr, error)
	Access(ctx context.Context, id Identity, ino Ino, mask uint32) error

	// Mknod creates a non-directory of type typ (regular, fifo, socket,
	// char, block; symlinks go through Symlink). mode is final (the caller
	// applied its umask).
	Mknod(ctx context.Context, id Identity, parent Ino, name string, typ Type, mode uint32, rdev uint32) (Attr, error)
	Mkdir(ctx context.Context, id Identity, parent Ino, name string, mode uint32) (Attr, error)
	Unlink(ctx context.Context, id Identity, parent Ino, name string) error
	Rmdir(ctx context.Context, id Identity, parent Ino, name string) error
	Rename(ctx context.Context, id Identity, parent Ino, name string, newParent Ino, newName string, flags uint32) error
	Link(ctx context.Context, id Identity, ino Ino, newParent Ino, newName string) (Attr, error)
	Symlink(ctx context.Context, id Identity, parent Ino, name string, target string) (Attr, error)
	Readlink(ctx context.Context, ino Ino) (string, error)

	// ReadDir returns up to limit entries of directory ino after cookie
	// (0 starts; the result's cookie resumes after the last entry
	// returned, and is stable across concurrent creates and deletes).
	// "." and ".." are not returned. With plus set each Entry has Attr.
	ReadDir(ctx context.Context, id Identity, ino Ino, cookie uint64, limit int, plus bool) ([]Entry, uint64, error)

	GetXattr(ctx context.Context, id Identity, ino Ino, name string) ([]byte, error)
	SetXattr(ctx context.Context, id Identity, ino Ino, name string, value []byte, flags int) error
	ListXattr(ctx context.Context, id Identity, ino Ino) ([]string, error)
	RemoveXattr(ctx context.Context, id Identity, ino Ino, name string) error

	StatFS(ctx context.Context) (StatFS, error)
}

// Handles are the open handles, which keep an unlinked inode's data
// until the last one goes.
type Handles interface {
	// Create is Mknod of a regular file that also opens it (counts as an
	// open handle for delete-on-last-close). With excl unset, an existing
	// regular file is opened instead (after a write permission check) and
	// Exist is not returned.
	Create(ctx context.Context, id Identity, parent Ino, name string, mode uint32, flags int, excl bool) (Attr, error)
	// Open checks permission for flags (os.O_RDONLY/O_WRONLY/O_RDWR,
	// O_APPEND, O_TRUNC: immutable and append-only flags honoured) and
	// records an open handle on ino; O_TRUNC truncates. Every successful
	// Open (and Create) is paired with one Release.
	Open(ctx context.Context, id Identity, ino Ino, flags int) (Attr, error)
	// Release drops one open handle. When the last handle of an inode
	// with no links goes, the inode is queued for reclaim.
	Release(ctx context.Context, ino Ino) error
}

// Chunks are a file's slice records, what the data path reads and
// commits.
type Chunks interface {
	// ReadChunk returns chunk index's slice list, oldest first.
	ReadChunk(ctx context.Context, ino Ino, index uint32) ([]Slice, error)
	// NewSliceID allocates a slice id (from a per-process batch).
	NewSliceID(ctx context.Context) (uint64, error)
	// Write appends the slices to their chunks in one transaction, raises
	// the file size to cover them, sets mtime/ctime to mtime and clears
	// setuid/setgid as Linux does on write: unless the writer ctx names
	// (WithWriter) is root. It does not check permission: that happened
	// at Open.
	Write(ctx context.Context, ino Ino, writes []ChunkWrite, mtime time.Time) (Attr, error)
	// CompactChunk replaces the first len(old) records of the chunk with
	// repl if they are still exactly old (records appended since are
	// kept); otherwise it changes nothing and returns an error of kind
	// Conflict. The replaced slices are released for garbage collection.
	CompactChunk(ctx context.Context, ino Ino, index uint32, old []Slice, repl []Slice) error
}

// Reclaimer is garbage: the data of deleted inodes, the slices no chunk
// references any more, and the slice ids of sessions that died.
type Reclaimer interface {
	// Reclaim frees the data of up to limit inodes queued for reclaim
	// (unlinked and closed) and returns how many it handled.
	Reclaim(ctx context.Context, limit int) (int, error)
	// FreedSlices lists up to limit slices whose last reference is gone;
	// their blocks may be deleted. ForgetSlices removes them from the
	// list after the blocks are gone.
	FreedSlices(ctx context.Context, limit int) ([]Slice, error)
	ForgetSlices(ctx context.Context, ids []uint64) error

	// SweepRanges lists up to limit (all when limit <= 0) ranges
	// [lo, hi) of slice ids allocated by sessions that ended without a
	// clean Close: blocks of those ids that no live slice accounts for
	// (see LiveSlices) were uploaded but never committed, and may be
	// deleted. ForgetSweep removes ranges from the list once that is
	// done. A live session's ranges are never listed.
	SweepRanges(ctx context.Context, limit int) ([][2]uint64, error)
	ForgetSweep(ctx context.Context, ranges [][2]uint64) error
	// LiveSlices calls fn with every slice a chunk references and every
	// slice in the freed list, each once. It reads the whole slice table:
	// for fsck and for sweeping after an unclean shutdown.
	LiveSlices(ctx context.Context, fn func(Slice) error) error
}
