package fusefs

import (
	"context"
	"errors"
	"io"
	"os"
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
	return shoal.Errno(h.f.Flush())
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
