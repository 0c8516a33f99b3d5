package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

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
	// Clone returns another client of the same filesystem (a separate
	// Dial, with its own session, for a server; the same target for the
	// host, whose callers are all the one kernel's).
	Clone() (target, error)
	Close() error
}

// hostTarget is the host filesystem through the os package: the physical
// limit every Shoal figure is printed beside.
// The same type drives a FUSE mount through the kernel (plain os calls on
// the mount path), under another name.
type hostTarget struct {
	root string
	name string // "" is "host"
}

func newHostTarget(root string) (*hostTarget, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	return &hostTarget{root: root}, nil
}

func (h *hostTarget) path(name string) string { return filepath.Join(h.root, filepath.FromSlash(name)) }

func (h *hostTarget) Name() string {
	if h.name == "" {
		return "host"
	}
	return h.name
}

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
func (h *hostTarget) Clone() (target, error)      { return h, nil }
func (h *hostTarget) Close() error                { return nil }

// shoalTarget is Shoal through the public SDK: on a local directory
// (OpenLocal), or a server (Dial) with every name under root, a directory
// of this run's own.
type shoalTarget struct {
	ctx  context.Context
	dir  string // data directory: of OpenLocal, or of an in-process server ("" for a server elsewhere)
	addr string // server address; "" for OpenLocal
	root string // with addr: the directory the run works in
	opts []shoal.Option
	c    *shoal.Client
	// owner is the target this one was cloned from (nil for the first);
	// only the first removes root.
	owner *shoalTarget
}

func newShoalTarget(ctx context.Context, dir string, opts []shoal.Option) (*shoalTarget, error) {
	c, err := shoal.OpenLocal(ctx, dir, opts...)
	if err != nil {
		return nil, err
	}
	return &shoalTarget{ctx: ctx, dir: dir, opts: opts, c: c}, nil
}

// newRemoteTarget dials addr and makes a fresh directory for the run at
// the root of the filesystem. dataDir is the server's data directory when
// it is on this machine (DropCache advises the kernel to drop its pages).
func newRemoteTarget(ctx context.Context, addr, dataDir string, opts []shoal.Option) (*shoalTarget, error) {
	c, err := shoal.Dial(ctx, addr, opts...)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	root := fmt.Sprintf("shoal-bench-%s-%d-%d", host, os.Getpid(), time.Now().UnixNano())
	if err := c.Mkdir(root, 0o755); err != nil {
		c.Close()
		return nil, err
	}
	return &shoalTarget{ctx: ctx, dir: dataDir, addr: addr, root: root, opts: opts, c: c}, nil
}

func (s *shoalTarget) open() (*shoal.Client, error) {
	if s.addr != "" {
		return shoal.Dial(s.ctx, s.addr, s.opts...)
	}
	return shoal.OpenLocal(s.ctx, s.dir, s.opts...)
}

// path maps a workload name into the run's directory.
func (s *shoalTarget) path(name string) string {
	if s.root == "" {
		return name
	}
	return s.root + "/" + name
}

func (s *shoalTarget) Name() string { return "shoal" }

func (s *shoalTarget) Clone() (target, error) {
	if s.addr == "" {
		return s, nil // one client per data directory
	}
	c, err := s.open()
	if err != nil {
		return nil, err
	}
	owner := s
	if s.owner != nil {
		owner = s.owner
	}
	return &shoalTarget{ctx: s.ctx, dir: s.dir, addr: s.addr, root: s.root, opts: s.opts, c: c, owner: owner}, nil
}

func (s *shoalTarget) Create(name string) (file, error) {
	return s.c.OpenFile(s.path(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}

func (s *shoalTarget) Open(name string) (file, error) {
	return s.c.OpenFile(s.path(name), os.O_RDONLY, 0)
}

func (s *shoalTarget) Touch(name string) error {
	f, err := s.c.OpenFile(s.path(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func (s *shoalTarget) Stat(name string) error {
	_, err := s.c.Stat(s.path(name))
	return err
}

func (s *shoalTarget) ReadDirLen(name string) (int, error) {
	ents, err := s.c.ReadDir(s.path(name))
	return len(ents), err
}

func (s *shoalTarget) MkdirAll(name string) error  { return s.c.MkdirAll(s.path(name), 0o755) }
func (s *shoalTarget) RemoveAll(name string) error { return s.c.RemoveAll(s.path(name)) }

// DropCache reopens the client (its block cache goes with it) and advises
// the kernel to drop every file under the data directory, blocks and engine
// alike, since which block files hold name is the client's business. A
// server on another machine keeps its page cache.
func (s *shoalTarget) DropCache(string) error {
	if err := s.c.Close(); err != nil {
		return err
	}
	s.c = nil
	var err error
	if s.dir != "" {
		err = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			return fadviseDontNeed(p)
		})
	}
	c, oerr := s.open()
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
	var err error
	if s.root != "" && s.owner == nil {
		err = s.c.RemoveAll(s.root)
	}
	err = errors.Join(err, s.c.Close())
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
