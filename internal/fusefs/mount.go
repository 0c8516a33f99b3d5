package fusefs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	shoal "github.com/shoalfs/shoal"
)

// Options configures a mount. The zero value is a valid configuration:
// EnsureDefaults fills in the documented defaults.
type Options struct {
	// AttrTimeout is how long the kernel may trust attributes it was
	// given (default 1s; 0 after EnsureDefaults only via NoAttrCache).
	AttrTimeout time.Duration
	// EntryTimeout is how long the kernel may trust a name lookup
	// (default 1s).
	EntryTimeout time.Duration
	// NegativeTimeout is how long the kernel may remember that a name
	// does not exist (default 0: another client's create is seen at once).
	NegativeTimeout time.Duration
	// NoAttrCache makes AttrTimeout and EntryTimeout zero: every stat
	// and lookup asks Shoal (strict coherence across clients, slower).
	NoAttrCache bool
	// AllowOther lets users other than the one who mounted use the mount
	// (FUSE's allow_other; for non-root mounters /etc/fuse.conf must
	// have user_allow_other).
	AllowOther bool
	// ReadOnly mounts read-only: the kernel answers EROFS to changes.
	ReadOnly bool
	// Writeback turns on the kernel's writeback cache: writes are
	// gathered in the page cache and sent in large batches. Faster for
	// small writes; O_APPEND is then resolved by the kernel against the
	// size it knows, so two mounts appending to one file can overwrite
	// each other's appends. Off by default.
	Writeback bool
	// MaxReadAhead is the kernel readahead window in bytes (default
	// 128 KiB, the most Linux's FUSE uses per request; Shoal's own
	// readahead then fetches whole blocks ahead).
	MaxReadAhead int
	// MaxWrite is the largest read or write request the kernel sends
	// (default 1 MiB).
	MaxWrite int
	// FSName is what df and /proc/mounts show as the source (default
	// "shoal").
	FSName string
	// Debug logs every FUSE request (go-fuse's debug output) to Logger.
	Debug bool
	// Logger receives warnings and, with Debug, the request log (nil
	// discards).
	Logger *slog.Logger
	// Observe, when set, is called once per FUSE request the kernel sent,
	// after it was answered: op is one of Ops, start when the request
	// arrived, err nil or the syscall.Errno answered. It runs on the
	// request's goroutine, so it must be quick and safe for concurrent
	// use (a metrics histogram; the mount imports no metrics package).
	Observe func(op string, start time.Time, err error)
}

// Defaults.
const (
	DefaultAttrTimeout  = time.Second
	DefaultEntryTimeout = time.Second
	DefaultMaxReadAhead = 128 << 10
	DefaultMaxWrite     = 1 << 20
)

// EnsureDefaults fills in zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.NoAttrCache {
		o.AttrTimeout, o.EntryTimeout = 0, 0
	} else {
		if o.AttrTimeout == 0 {
			o.AttrTimeout = DefaultAttrTimeout
		}
		if o.EntryTimeout == 0 {
			o.EntryTimeout = DefaultEntryTimeout
		}
	}
	if o.MaxReadAhead == 0 {
		o.MaxReadAhead = DefaultMaxReadAhead
	}
	if o.MaxWrite == 0 {
		o.MaxWrite = DefaultMaxWrite
	}
	if o.FSName == "" {
		o.FSName = "shoal"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports options that cannot work.
func (o *Options) Validate() error {
	switch {
	case o.AttrTimeout < 0 || o.EntryTimeout < 0 || o.NegativeTimeout < 0:
		return errors.New("fusefs: timeouts must not be negative")
	case o.MaxReadAhead < 0:
		return errors.New("fusefs: readahead must not be negative")
	case o.MaxWrite < 0:
		return errors.New("fusefs: max write must not be negative")
	}
	return nil
}

// Mount is a mounted Shoal filesystem.
type Mount struct {
	dir    string
	server *fuse.Server
	fs     *filesystem
}

// filesystem is the state every node of one mount shares.
type filesystem struct {
	client *shoal.Client // acts as root; per-caller views come from as
	opts   Options
	root   *node
	// flushOwners maps an in-flight FLUSH's cancel channel to its lock
	// owner (flushOwnerFS).
	flushOwners sync.Map

	mu struct {
		sync.Mutex
		views map[string]*shoal.Client // identity key -> AsIdentity view
	}
}

// New mounts c at dir and returns once the kernel has the mount. c must
// have been opened with umask 0 (the kernel applies the caller's umask
// before it asks to create); the mount does not close c.
func New(dir string, c *shoal.Client, o Options) (*Mount, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	fsys := &filesystem{client: c, opts: o}
	fsys.mu.views = map[string]*shoal.Client{}
	fsys.root = &node{fs: fsys}

	neg := o.NegativeTimeout
	mo := fuse.MountOptions{
		AllowOther:   o.AllowOther,
		FsName:       o.FSName,
		Name:         "shoal",
		MaxWrite:     o.MaxWrite,
		MaxReadAhead: o.MaxReadAhead,
		DirectMount:  true, // mount(2) when root, fusermount3 otherwise
		Debug:        o.Debug,
		// The kernel drops a file's page cache itself when a getattr
		// shows a new mtime or size (AUTO_INVAL_DATA, go-fuse's default).
		ExplicitDataCacheControl: false,
		// fcntl locks and flock come to Shoal, which keeps them in the
		// engine for every client (handle.go).
		EnableLocks: true,
	}
	if o.Debug {
		mo.Logger = log.New(&slogWriter{o.Logger}, "", 0)
	}
	if o.ReadOnly {
		mo.Options = append(mo.Options, "ro")
	}
	if o.Writeback {
		mo.ExtraCapabilities |= fuse.CAP_WRITEBACK_CACHE
	}
	// Adaptive READDIRPLUS, as libfuse asks by default: the kernel lists
	// the first batch of a directory with attributes and the rest without,
	// unless the entries are being stat'ed (ls -l), which turns plus back
	// on. A plain listing (ls, os.ReadDir, find) then makes no kernel inode
	// per entry.
	mo.ExtraCapabilities |= fuse.CAP_READDIRPLUS_AUTO
	fo := &fs.Options{
		MountOptions:    mo,
		AttrTimeout:     &o.AttrTimeout,
		EntryTimeout:    &o.EntryTimeout,
		NegativeTimeout: &neg,
		RootStableAttr:  &fs.StableAttr{Ino: rootIno(c), Mode: syscall.S_IFDIR},
		// Report permission bits as Shoal has them: without this go-fuse
		// shows a mode of 0 as 0644/0755.
		NullPermissions: true,
	}
	// fs.Mount's steps, with the raw filesystem wrapped so that Flush
	// learns the closing lock owner (handle.go), and for Observe.
	var raw fuse.RawFileSystem = &flushOwnerFS{RawFileSystem: fs.NewNodeFS(fsys.root, fo), fsys: fsys}
	if o.Observe != nil {
		raw = &observed{RawFileSystem: raw, hook: o.Observe}
	}
	server, err := fuse.NewServer(raw, dir, &fo.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("fusefs: mount %s: %w", dir, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		// As fs.Mount: the serve loop ends by itself without a mount.
		return nil, fmt.Errorf("fusefs: mount %s: %w", dir, err)
	}
	return &Mount{dir: dir, server: server, fs: fsys}, nil
}

// rootIno is the Shoal inode number of the filesystem root, so the root
// node carries it like every other node.
func rootIno(c *shoal.Client) uint64 {
	if fi, err := c.Lstat("."); err == nil {
		if a, ok := fi.Sys().(*shoal.Attr); ok {
			return a.Ino
		}
	}
	return 1
}

// Dir returns the mount point.
func (m *Mount) Dir() string { return m.dir }

// Unmount asks the kernel to unmount; it fails with EBUSY while files
// are open (use Wait after a lazy `umount -l` instead).
func (m *Mount) Unmount() error { return m.server.Unmount() }

// Wait blocks until the mount is gone (unmounted by Unmount, by
// `shoal umount`, fusermount3 -u or umount(8)).
func (m *Mount) Wait() { m.server.Wait() }

// as returns the client view acting as the caller of the request in ctx:
// its uid, gid and supplementary groups (read from /proc, as FUSE does
// not carry them). Requests the kernel makes itself act as root.
func (f *filesystem) as(ctx context.Context) *shoal.Client {
	caller, ok := fuse.FromContext(ctx)
	if !ok || caller.Uid == 0 {
		return f.client
	}
	groups := procGroups(caller.Pid)
	var key strings.Builder
	fmt.Fprintf(&key, "%d:%d", caller.Uid, caller.Gid)
	for _, g := range groups {
		fmt.Fprintf(&key, ",%d", g)
	}
	k := key.String()
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.mu.views[k]
	if v == nil {
		if len(f.mu.views) > 1024 {
			clear(f.mu.views) // identities come and go; keep the map bounded
		}
		v = f.client.AsIdentity(caller.Uid, caller.Gid, groups...)
		f.mu.views[k] = v
	}
	return v
}

// procGroups returns the supplementary groups of process pid, or none
// when it is gone or unreadable.
func procGroups(pid uint32) []uint32 {
	if pid == 0 {
		return nil
	}
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/status")
	if err != nil {
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		var out []uint32
		for _, s := range strings.Fields(line) {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				out = append(out, uint32(g))
			}
		}
		return out
	}
	return nil
}

// slogWriter feeds go-fuse's log.Logger lines into slog at debug level.
type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimRight(string(p), "\n"), "component", "fuse")
	return len(p), nil
}
