package bench

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/shoalfs/shoal"
)

// file is what a workload needs of an open file; *os.File and *shoal.File
// both have it, so one workload body drives both targets.
type file interface {
	io.Reader
	io.Writer
	Sync() error
	Close() error
}

// target is a filesystem a workload runs against. Names are slash-separated
// and relative to the target's root.
type target interface {
	Name() string
	Create(name string) (file, error) // write-only, created or truncated
	Open(name string) (file, error)   // read-only
	Touch(name string) error          // create an empty file; it must not exist
	Stat(name string) error
	ReadDirLen(name string) (int, error)
	MkdirAll(name string) error
	RemoveAll(name string) error
	// DropCache evicts what it can of name's data from every cache between
	// the caller and the disk without privilege: the page cache (through
	// posix_fadvise DONTNEED, advisory) and, for Shoal, the client's block
	// cache (by reopening the client).
	DropCache(name string) error
	Close() error
}

// hostTarget is the host filesystem through the os package: the physical
// limit every Shoal figure is printed beside.
type hostTarget struct{ root string }

func newHostTarget(root string) (*hostTarget, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	return &hostTarget{root: root}, nil
}

func (h *hostTarget) path(name string) string { return filepath.Join(h.root, filepath.FromSlash(name)) }

func (h *hostTarget) Name() string { return "host" }

func (h *hostTarget) Create(name string) (file, error) {
	return os.OpenFile(h.path(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}

func (h *hostTarget) Open(name string) (file, error) { return os.Open(h.path(name)) }

func (h *hostTarget) Touch(name string) error {
	f, err := os.OpenFile(h.path(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func (h *hostTarget) Stat(name string) error {
	_, err := os.Stat(h.path(name))
	return err
}

func (h *hostTarget) ReadDirLen(name string) (int, error) {
	ents, err := os.ReadDir(h.path(name))
	return len(ents), err
}

func (h *hostTarget) MkdirAll(name string) error  { return os.MkdirAll(h.path(name), 0o755) }
func (h *hostTarget) RemoveAll(name string) error { return os.RemoveAll(h.path(name)) }
func (h *hostTarget) DropCache(name string) error { return fadviseDontNeed(h.path(name)) }
func (h *hostTarget) Close() error                { return nil }

// shoalTarget is Shoal through the public SDK, on a local directory.
type shoalTarget struct {
	ctx  context.Context
	dir  string
	opts []shoal.Option
	c    *shoal.Client
}

func newShoalTarget(ctx context.Context, dir string, opts []shoal.Option) (*shoalTarget, error) {
	c, err := shoal.OpenLocal(ctx, dir, opts...)
	if err != nil {
		return nil, err
	}
	return &shoalTarget{ctx: ctx, dir: dir, opts: opts, c: c}, nil
}

func (s *shoalTarget) Name() string { return "shoal" }

func (s *shoalTarget) Create(name string) (file, error) {
	return s.c.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}

func (s *shoalTarget) Open(name string) (file, error) { return s.c.OpenFile(name, os.O_RDONLY, 0) }

func (s *shoalTarget) Touch(name string) error {
	f, err := s.c.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func (s *shoalTarget) Stat(name string) error {
	_, err := s.c.Stat(name)
	return err
}

func (s *shoalTarget) ReadDirLen(name string) (int, error) {
	ents, err := s.c.ReadDir(name)
	return len(ents), err
}

func (s *shoalTarget) MkdirAll(name string) error  { return s.c.MkdirAll(name, 0o755) }
func (s *shoalTarget) RemoveAll(name string) error { return s.c.RemoveAll(name) }

// DropCache reopens the client (its block cache goes with it) and advises
// the kernel to drop every file under the data directory, blocks and engine
// alike, since which block files hold name is the client's business.
func (s *shoalTarget) DropCache(string) error {
	if err := s.c.Close(); err != nil {
		return err
	}
	s.c = nil
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		return fadviseDontNeed(p)
	})
	c, oerr := shoal.OpenLocal(s.ctx, s.dir, s.opts...)
	if oerr != nil {
		return errors.Join(err, oerr)
	}
	s.c = c
	return err
}

func (s *shoalTarget) Close() error {
	if s.c == nil {
		return nil
	}
	err := s.c.Close()
	s.c = nil
	return err
}

func fadviseDontNeed(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// Dirty pages are not dropped; workloads fsync before asking.
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
