package fusefs

import (
	iofs "io/fs"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	shoal "github.com/shoalfs/shoal"
)

// fillAttr converts Shoal attributes to the kernel's.
func fillAttr(out *fuse.Attr, a *shoal.Attr) {
	out.Ino = a.Ino
	out.Size = uint64(max(a.Size, 0))
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = 4096
	out.Mode = posixMode(a.Mode)
	out.Nlink = a.Nlink
	out.Uid = a.Uid
	out.Gid = a.Gid
	out.Rdev = a.Rdev
	at, mt, ct := a.Atime, a.Mtime, a.Ctime
	out.SetTimes(&at, &mt, &ct)
}

// posixMode converts an io/fs mode to st_mode.
func posixMode(m iofs.FileMode) uint32 {
	b := uint32(m.Perm())
	switch {
	case m.IsDir():
		b |= syscall.S_IFDIR
	case m&iofs.ModeSymlink != 0:
		b |= syscall.S_IFLNK
	case m&iofs.ModeNamedPipe != 0:
		b |= syscall.S_IFIFO
	case m&iofs.ModeSocket != 0:
		b |= syscall.S_IFSOCK
	case m&iofs.ModeCharDevice != 0:
		b |= syscall.S_IFCHR
	case m&iofs.ModeDevice != 0:
		b |= syscall.S_IFBLK
	default:
		b |= syscall.S_IFREG
	}
	if m&iofs.ModeSetuid != 0 {
		b |= syscall.S_ISUID
	}
	if m&iofs.ModeSetgid != 0 {
		b |= syscall.S_ISGID
	}
	if m&iofs.ModeSticky != 0 {
		b |= syscall.S_ISVTX
	}
	return b
}

// fileMode converts st_mode (type bits optional) to an io/fs mode.
func fileMode(m uint32) iofs.FileMode {
	f := iofs.FileMode(m & 0o777)
	switch m & syscall.S_IFMT {
	case syscall.S_IFDIR:
		f |= iofs.ModeDir
	case syscall.S_IFLNK:
		f |= iofs.ModeSymlink
	case syscall.S_IFIFO:
		f |= iofs.ModeNamedPipe
	case syscall.S_IFSOCK:
		f |= iofs.ModeSocket
	case syscall.S_IFCHR:
		f |= iofs.ModeDevice | iofs.ModeCharDevice
	case syscall.S_IFBLK:
		f |= iofs.ModeDevice
	}
	if m&syscall.S_ISUID != 0 {
		f |= iofs.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		f |= iofs.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		f |= iofs.ModeSticky
	}
	return f
}
