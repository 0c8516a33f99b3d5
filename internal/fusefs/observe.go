package fusefs

import (
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Op names the Observe hook reports: a fixed set, so a metric labelled
// by them stays bounded whatever the kernel sends. Requests not listed
// (forget, interrupt, ioctl, lseek, copy_file_range, tmpfile, statx and
// the other rare ones) are not reported.
const (
	OpLookup      = "lookup"
	OpGetattr     = "getattr"
	OpSetattr     = "setattr"
	OpMknod       = "mknod"
	OpMkdir       = "mkdir"
	OpUnlink      = "unlink"
	OpRmdir       = "rmdir"
	OpRename      = "rename"
	OpLink        = "link"
	OpSymlink     = "symlink"
	OpReadlink    = "readlink"
	OpAccess      = "access"
	OpGetxattr    = "getxattr"
	OpListxattr   = "listxattr"
	OpSetxattr    = "setxattr"
	OpRemovexattr = "removexattr"
	OpCreate      = "create"
	OpOpen        = "open"
	OpRead        = "read"
	OpWrite       = "write"
	OpFlush       = "flush"
	OpFsync       = "fsync"
	OpRelease     = "release"
	OpFallocate   = "fallocate"
	OpGetlk       = "getlk"
	OpSetlk       = "setlk"
	OpOpendir     = "opendir"
	OpReaddir     = "readdir"
	OpReleasedir  = "releasedir"
	OpFsyncdir    = "fsyncdir"
	OpStatfs      = "statfs"
)

// Ops lists every name Observe may report.
var Ops = []string{
	OpLookup, OpGetattr, OpSetattr, OpMknod, OpMkdir, OpUnlink, OpRmdir, OpRename, OpLink, OpSymlink,
	OpReadlink, OpAccess, OpGetxattr, OpListxattr, OpSetxattr, OpRemovexattr, OpCreate, OpOpen, OpRead,
	OpWrite, OpFlush, OpFsync, OpRelease, OpFallocate, OpGetlk, OpSetlk, OpOpendir, OpReaddir,
	OpReleasedir, OpFsyncdir, OpStatfs,
}

// observed wraps the raw filesystem go-fuse builds from the node tree so
// that every request of Ops is reported once, at the one place all
// requests pass, whichever node or handle method serves it. Methods not
// overridden go straight to the embedded filesystem.
type observed struct {
	fuse.RawFileSystem
	hook func(op string, start time.Time, err error)
}

// done reports op with the errno of st (nil for OK).
func (o *observed) done(op string, start time.Time, st fuse.Status) {
	var err error
	if st != fuse.OK {
		err = syscall.Errno(st)
	}
	o.hook(op, start, err)
}

func (o *observed) Lookup(c <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Lookup(c, h, name, out)
	// go-fuse answers a missing name with a negative entry (node 0, OK) so
	// the kernel may cache it: the caller sees ENOENT, and so does Observe.
	if st == fuse.OK && out.NodeId == 0 {
		o.done(OpLookup, t, fuse.ENOENT)
	} else {
		o.done(OpLookup, t, st)
	}
	return st
}

func (o *observed) GetAttr(c <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.GetAttr(c, in, out)
	o.done(OpGetattr, t, st)
	return st
}

func (o *observed) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.SetAttr(c, in, out)
	o.done(OpSetattr, t, st)
	return st
}

func (o *observed) Mknod(c <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Mknod(c, in, name, out)
	o.done(OpMknod, t, st)
	return st
}

func (o *observed) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Mkdir(c, in, name, out)
	o.done(OpMkdir, t, st)
	return st
}

func (o *observed) Unlink(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Unlink(c, h, name)
	o.done(OpUnlink, t, st)
	return st
}

func (o *observed) Rmdir(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Rmdir(c, h, name)
	o.done(OpRmdir, t, st)
	return st
}

func (o *observed) Rename(c <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Rename(c, in, oldName, newName)
	o.done(OpRename, t, st)
	return st
}

func (o *observed) Link(c <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Link(c, in, name, out)
	o.done(OpLink, t, st)
	return st
}

func (o *observed) Symlink(c <-chan struct{}, h *fuse.InHeader, to, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Symlink(c, h, to, name, out)
	o.done(OpSymlink, t, st)
	return st
}

func (o *observed) Readlink(c <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	t := time.Now()
	b, st := o.RawFileSystem.Readlink(c, h)
	o.done(OpReadlink, t, st)
	return b, st
}

func (o *observed) Access(c <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Access(c, in)
	o.done(OpAccess, t, st)
	return st
}

func (o *observed) GetXAttr(c <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.GetXAttr(c, h, attr, dest)
	o.done(OpGetxattr, t, st)
	return n, st
}

func (o *observed) ListXAttr(c <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.ListXAttr(c, h, dest)
	o.done(OpListxattr, t, st)
	return n, st
}

func (o *observed) SetXAttr(c <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.SetXAttr(c, in, attr, data)
	o.done(OpSetxattr, t, st)
	return st
}

func (o *observed) RemoveXAttr(c <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.RemoveXAttr(c, h, attr)
	o.done(OpRemovexattr, t, st)
	return st
}

func (o *observed) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Create(c, in, name, out)
	o.done(OpCreate, t, st)
	return st
}

func (o *observed) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Open(c, in, out)
	o.done(OpOpen, t, st)
	return st
}

func (o *observed) Read(c <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	t := time.Now()
	r, st := o.RawFileSystem.Read(c, in, buf)
	o.done(OpRead, t, st)
	return r, st
}

func (o *observed) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.Write(c, in, data)
	o.done(OpWrite, t, st)
	return n, st
}

func (o *observed) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.Writev(c, in, data)
	o.done(OpWrite, t, st)
	return n, st
}

func (o *observed) Flush(c <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Flush(c, in)
	o.done(OpFlush, t, st)
	return st
}

func (o *observed) Fsync(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Fsync(c, in)
	o.done(OpFsync, t, st)
	return st
}

func (o *observed) Release(c <-chan struct{}, in *fuse.ReleaseIn) {
	t := time.Now()
	o.RawFileSystem.Release(c, in)
	o.done(OpRelease, t, fuse.OK)
}

func (o *observed) Fallocate(c <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Fallocate(c, in)
	o.done(OpFallocate, t, st)
	return st
}

func (o *observed) GetLk(c <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.GetLk(c, in, out)
	o.done(OpGetlk, t, st)
	return st
}

func (o *observed) SetLk(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.SetLk(c, in)
	o.done(OpSetlk, t, st)
	return st
}

// SetLkw is reported as setlk: its latency includes the wait for the
// lock, which is the caller's, so a dashboard sees the two apart only by
// their latency.
func (o *observed) SetLkw(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.SetLkw(c, in)
	o.done(OpSetlk, t, st)
	return st
}

func (o *observed) OpenDir(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.OpenDir(c, in, out)
	o.done(OpOpendir, t, st)
	return st
}

func (o *observed) ReadDir(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.ReadDir(c, in, out)
	o.done(OpReaddir, t, st)
	return st
}

func (o *observed) ReadDirPlus(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.ReadDirPlus(c, in, out)
	o.done(OpReaddir, t, st)
	return st
}

func (o *observed) ReleaseDir(in *fuse.ReleaseIn) {
	t := time.Now()
	o.RawFileSystem.ReleaseDir(in)
	o.done(OpReleasedir, t, fuse.OK)
}

func (o *observed) FsyncDir(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.FsyncDir(c, in)
	o.done(OpFsyncdir, t, st)
	return st
}

func (o *observed) StatFs(c <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.StatFs(c, h, out)
	o.done(OpStatfs, t, st)
	return st
}
