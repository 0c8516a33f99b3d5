package meta

import (
	"context"
	"time"
)

// Capabilities: what a backend may offer beyond Service, each found by
// type assertion on the Service a consumer holds (as go-fuse's optional
// node interfaces). All of them are declared here, with meta types, so
// that one place lists them; docs/architecture.md has the table of which
// backend offers which. Both backends, in-process (FS, Session) and
// remote (the rpc client), offer every one whose work the backend can
// do, so that an operation is equally atomic over either. The exception
// is InlineWriter, whose point is carrying block objects in the call: the
// in-process meta holds no block store (its client's data layer puts the
// blocks and commits with one Write, the same transaction), and for the
// same reason the in-process OpenReader returns no block objects.
// A consumer still checks the assertion, and an older server answers a
// call it lacks with kind NotSupported, so each has a fallback.

// NameLister is the name-ordered listing: the S3 gateway walks
// directories in key order with it (see listing.go).
type NameLister interface {
	ReadDirByName(ctx context.Context, id Identity, ino Ino, after string, limit int, plus bool) ([]Entry, error)
	ReadDirByNameXattr(ctx context.Context, id Identity, ino Ino, after string, limit int, name string) ([]Entry, [][]byte, error)
}

// Cloner shares file data between files without copying bytes (see
// clone.go): server-side copy and multipart completion use it.
type Cloner interface {
	CloneChunks(ctx context.Context, id Identity, src, dst Ino) (Attr, error)
	AppendChunks(ctx context.Context, id Identity, dst, src Ino, offset uint64) (Attr, error)
	CopyRange(ctx context.Context, id Identity, src Ino, srcOff uint64, dst Ino, dstOff, length uint64) (Attr, error)
}

// Publisher publishes a staged file in one transaction (see publish.go):
// the S3 gateway's PUT. Without it a gateway sets the xattr and renames
// in two transactions, and a reader can see the object in between.
type Publisher interface {
	Publish(ctx context.Context, id Identity, parent Ino, name string, newParent Ino, newName string, o PublishOptions) (Attr, error)
}

// Checker is fsck of the metadata (see check.go): it returns the problems
// found, none when healthy.
type Checker interface {
	Check(ctx context.Context) ([]string, error)
}

// Syncer makes everything committed so far durable against power loss,
// not only process death: File.Sync calls it after committing its slices.
// Over an engine that cannot, it does nothing.
type Syncer interface {
	Sync() error
}

// PathCreator resolves the parent of a path and creates or opens its last
// element in one call (a remote open(O_CREAT) in one round trip).
type PathCreator interface {
	// CreatePath resolves the parent of path (following symlinks) and
	// creates or opens its last element as Create does. As after Create,
	// a handle is open on the result's Attr.Ino whatever its type. path
	// is absolute, clean and not the root.
	CreatePath(ctx context.Context, id Identity, path string, mode uint32, flags int, excl bool) (CreatePathResult, error)
}

// CreatePathResult is what CreatePath returns. ParentNotDir reports that
// the parent of the path is not a directory; nothing was then created or
// opened and Attr is zero.
type CreatePathResult struct {
	Attr         Attr
	ParentNotDir bool
}

// OpenReader opens a file for reading in one call that also returns what
// the first read needs.
type OpenReader interface {
	// OpenRead resolves path (following a final symlink when follow is
	// set) and, when it is a regular file, opens it with flags as Open
	// does, also returning chunk 0's records and, when the file is at
	// most maxInline bytes, its block objects.
	OpenRead(ctx context.Context, id Identity, path string, follow bool, flags, maxInline int) (OpenReadResult, error)
}

// OpenReadResult is what OpenRead returns. When Opened is false the path
// named something other than a regular file, Attr is what Resolve
// returns and nothing was opened.
type OpenReadResult struct {
	Attr   Attr
	Opened bool
	Slices []Slice  // chunk 0's records
	Keys   []string // block objects: Keys[i] holds Objs[i]
	Objs   [][]byte
}

// InlineWriter commits a small write with its blocks in one call:
// WriteInline stores the block objects keys[i] = objs[i] (data plus CRC
// trailer) in the store the caller reads from, then commits writes as
// Write does. It fails with kind NotSupported, before storing anything,
// when the other end cannot (an older server, or one that serves no
// blocks); the data layer then uploads and commits the usual way.
type InlineWriter interface {
	WriteInline(ctx context.Context, ino Ino, keys []string, objs [][]byte, writes []ChunkWrite, mtime time.Time) (Attr, error)
}

var (
	_ Service     = (*FS)(nil)
	_ Service     = (*Session)(nil)
	_ NameLister  = (*FS)(nil)
	_ NameLister  = (*Session)(nil)
	_ Cloner      = (*FS)(nil)
	_ Cloner      = (*Session)(nil)
	_ Publisher   = (*FS)(nil)
	_ Publisher   = (*Session)(nil)
	_ Checker     = (*FS)(nil)
	_ Checker     = (*Session)(nil)
	_ Syncer      = (*FS)(nil)
	_ Syncer      = (*Session)(nil)
	_ PathCreator = (*FS)(nil)
	_ PathCreator = (*Session)(nil)
	_ OpenReader  = (*FS)(nil)
	_ OpenReader  = (*Session)(nil)
)

// Locker is the lock table of a filesystem (see locks.go); both backends
// offer it, for the session they stand for.
type Locker interface {
	// SetLock acquires l.Type on [l.Start, l.End] for l.Owner (replacing,
	// splitting or merging the owner's own ranges there), or releases the
	// range when l.Type is Unlock. A lock held by another owner that
	// conflicts fails it with kind Conflict (EAGAIN) and changes nothing.
	SetLock(ctx context.Context, ino Ino, l Lock) error
	// GetLock returns the first lock of another owner that conflicts with
	// l, or a Lock of Type Unlock when none does.
	GetLock(ctx context.Context, ino Ino, l Lock) (Lock, error)
}

// Loader keeps load jobs (see loadjobs.go): users submit, watch and stop
// them; workers walk their paths and report what they loaded. Its calls
// act as no identity: the rpc server lets only a super token submit,
// stop or report.
type Loader interface {
	SubmitLoad(ctx context.Context, path string, o LoadOptions) (LoadJob, bool, error)
	LoadJob(ctx context.Context, id string) (LoadJob, error)
	LoadJobOfPath(ctx context.Context, path string) (LoadJob, error)
	LoadJobs(ctx context.Context, running bool) ([]LoadJob, error)
	StopLoad(ctx context.Context, id string) (LoadJob, error)
	AddLoadFiles(ctx context.Context, id string, files []LoadFile, w LoadWalk) (LoadState, error)
	LoadFiles(ctx context.Context, id, after string, limit int) ([]LoadFile, error)
	ReportLoad(ctx context.Context, id, worker string, done []LoadDone) (LoadState, bool, error)
	PurgeLoadFiles(ctx context.Context, id string, limit int) (int, error)
}

var _ Loader = (*FS)(nil)

// MountAdmin manages dataset mounts (see mounts.go); both backends offer
// it (remote: the Ufs service, api/shoal/v1/ufs.proto).
type MountAdmin interface {
	Mount(ctx context.Context, id Identity, m Mount) (Mount, error)
	Unmount(ctx context.Context, id Identity, path string) (Mount, error)
	Mounts(ctx context.Context) ([]Mount, error)
}

var (
	_ MountAdmin = (*FS)(nil)
	_ MountAdmin = (*Session)(nil)
)
