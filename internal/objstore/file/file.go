// Package file is the local-directory objstore.Store, Shoal's default block
// store. Each key is a file under the root directory; '/' in a key maps to
// subdirectories.
//
// Durability follows Linux's model: a Put is visible to every reader at
// once and survives the death of the process (the page cache does), and
// Sync makes objects durable against power loss. Callers sync what they
// are about to make reachable from durable metadata (fsync of a file,
// compaction output) instead of paying two fsyncs per Put.
//
// Invariants:
//   - A Put is atomic: the data goes to a temporary file in the target
//     directory, which is renamed over the key, so readers and a killed
//     process never see a torn object. With Options.SyncEveryPut the file
//     is fdatasynced before the rename and the directory fsynced after it.
//   - Sync fdatasyncs each named file and fsyncs each distinct parent
//     directory once, plus the parents of directories created since they
//     were last synced, so a synced key survives a crash. Concurrent
//     fsyncs of one directory are shared (group commit).
//   - Temporary files are named with tmpPrefix; keys whose segments start
//     with it are rejected, List skips them and Open removes leftovers of a
//     crash.
//   - Keys are relative, '/'-separated, with no empty, "." or ".." segments,
//     so a key can never name a path outside the root.
package file

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
)

// tmpPrefix starts the names of in-progress Put files.
const tmpPrefix = ".tmp."

// Options configures a Store. The zero value is the default: Puts are not
// synced, Sync is.
type Options struct {
	// SyncEveryPut makes every Put durable before it returns (fdatasync
	// of the file, fsync of its directory), the behaviour before Sync
	// existed. Sync still works.
	SyncEveryPut bool
	// NoSync skips every fsync, Sync's included: objects are atomic but
	// may be lost on a power loss. For tests and benchmarks only.
	NoSync bool
	// Existing opens a directory that is not Shoal's own (a dataset
	// mounted from file:///dir): it must exist already, and Open neither
	// creates it nor removes files that look like leftover temporaries.
	Existing bool
}

// Store is a directory of objects.
type Store struct {
	root string
	opts Options

	dirsMu sync.Mutex
	dirs   map[string]*dirSync

	// newDirs holds directories created by Put whose entries in their
	// parents have not been fsynced yet.
	newDirsMu sync.Mutex
	newDirs   map[string]bool
}

// syncParallel bounds the fdatasyncs one Sync runs at a time.
const syncParallel = 16

var (
	_ objstore.Store     = (*Store)(nil)
	_ objstore.Syncer    = (*Store)(nil)
	_ objstore.DirLister = (*Store)(nil)
)

// Open opens (creating if needed) the store rooted at dir and removes
// temporary files left by an interrupted Put.
func Open(dir string, opts Options) (*Store, error) {
	const op = "objstore/file.Open"
	if dir == "" {
		return nil, fserr.E(op, dir, fserr.Invalid)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fserr.E(op, dir, fserr.Invalid, err)
	}
	if opts.Existing {
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fserr.E(op, dir, err)
		}
		if !fi.IsDir() {
			return nil, fserr.E(op, dir, fserr.NotDir)
		}
		return &Store{root: abs, opts: opts, dirs: make(map[string]*dirSync), newDirs: make(map[string]bool)}, nil
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fserr.E(op, dir, err)
	}
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), tmpPrefix) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fserr.E(op, dir, fserr.IO, err)
	}
	return &Store{root: abs, opts: opts, dirs: make(map[string]*dirSync), newDirs: make(map[string]bool)}, nil
}

// checkKey rejects keys that could escape the root or collide with
// temporary files.
func checkKey(op, key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.ContainsRune(key, 0) {
		return fserr.Errorf(op, fserr.Invalid, "objstore/file: invalid key %q: empty, absolute or contains NUL", key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "" || seg == "." || seg == "..":
			return fserr.Errorf(op, fserr.Invalid, "objstore/file: invalid key %q: empty, \".\" or \"..\" segment", key)
		case strings.HasPrefix(seg, tmpPrefix):
			return fserr.Errorf(op, fserr.Invalid, "objstore/file: invalid key %q: segment starts with reserved %q", key, tmpPrefix)
		}
	}
	return nil
}

func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

func notFound(op, key string) error {
	return fserr.E(op, key, fserr.NotExist, objstore.ErrNotFound)
}

// Get implements objstore.Store with pread.
// OpenFile returns the object's file opened read-only; the caller closes
// it. The block server uses it to send objects with sendfile. Objects are
// replaced by rename, never rewritten, so the open file keeps the object
// as it was even if the key is overwritten meanwhile.
func (s *Store) OpenFile(ctx context.Context, key string) (*os.File, error) {
	const op = "objstore/file.OpenFile"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKey(op, key); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, notFound(op, key)
		}
		return nil, fserr.E(op, key, fserr.IO, err)
	}
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		f.Close()
		if err != nil {
			return nil, fserr.E(op, key, fserr.IO, err)
		}
		return nil, notFound(op, key)
	}
	return f, nil
}

func (s *Store) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	const op = "objstore/file.Get"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKey(op, key); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fserr.Errorf(op, fserr.Invalid, "objstore/file: negative offset %d", off)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound(op, key)
		}
		return nil, fserr.E(op, key, fserr.IO, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fserr.E(op, key, fserr.IO, err)
	}
	size := fi.Size()
	if fi.IsDir() {
		return nil, notFound(op, key)
	}
	if off >= size {
		return []byte{}, nil
	}
	n := size - off
	if length >= 0 && length < n {
		n = length
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, off)
	if err != nil && !(errors.Is(err, io.EOF) && int64(got) == n) {
		if errors.Is(err, io.EOF) {
			// The file cannot shrink (objects are replaced, not
			// truncated), so a short read means the store changed
			// underneath us.
			return nil, fserr.Errorf(op, fserr.IO, "objstore/file: %s: short read %d of %d at %d", key, got, n, off)
		}
		return nil, fserr.E(op, key, fserr.IO, err)
	}
	return buf, nil
}

// Put implements objstore.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	const op = "objstore/file.Put"
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(op, key); err != nil {
		return err
	}
	p := s.path(key)
	dir := filepath.Dir(p)
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if errors.Is(err, fs.ErrNotExist) {
		if err = s.mkdirAll(dir); err != nil {
			return fserr.E(op, key, fserr.IO, err)
		}
		f, err = os.CreateTemp(dir, tmpPrefix+"*")
	}
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return fserr.Errorf(op, fserr.Exist, "objstore/file: key %q: a parent segment is an object", key)
		}
		return fserr.E(op, key, fserr.IO, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		if errors.Is(err, unix.ENOSPC) {
			return fserr.E(op, key, fserr.NoSpace, err)
		}
		return fserr.E(op, key, fserr.IO, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if s.syncEveryPut() {
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fserr.E(op, key, fserr.IO, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENOTEMPTY) {
			return fserr.Errorf(op, fserr.Exist, "objstore/file: key %q is a prefix of other keys", key)
		}
		return fserr.E(op, key, fserr.IO, err)
	}
	if !s.syncEveryPut() {
		return nil
	}
	// Every Put is treated as a new entry: a rename over an existing file
	// also changes the directory, and telling the cases apart costs a
	// stat that the group-committed fsync makes pointless.
	if err := s.syncDir(dir); err != nil {
		return fserr.E(op, key, fserr.IO, err)
	}
	return nil
}

func (s *Store) syncEveryPut() bool { return s.opts.SyncEveryPut && !s.opts.NoSync }

// Sync implements objstore.Syncer.
func (s *Store) Sync(ctx context.Context, keys []string) error {
	const op = "objstore/file.Sync"
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := checkKey(op, k); err != nil {
			return err
		}
	}
	var (
		mu      sync.Mutex
		missing string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(syncParallel)
	for _, k := range keys {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			err := s.syncFile(s.path(k))
			if errors.Is(err, fs.ErrNotExist) {
				mu.Lock()
				if missing == "" {
					missing = k
				}
				mu.Unlock()
				return nil
			}
			if err != nil {
				return fserr.E(op, k, fserr.IO, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if !s.opts.NoSync {
		if err := s.syncDirsOf(ctx, keys); err != nil {
			return fserr.E(op, fserr.IO, err)
		}
	}
	if missing != "" {
		return notFound(op, missing)
	}
	return nil
}

// syncFile fdatasyncs the file at p (only checks that it exists under
// NoSync).
func (s *Store) syncFile(p string) error {
	if s.opts.NoSync {
		fi, err := os.Stat(p)
		if err == nil && fi.IsDir() {
			return fs.ErrNotExist
		}
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return err
	} else if fi.IsDir() {
		return fs.ErrNotExist
	}
	return unix.Fdatasync(int(f.Fd()))
}

// syncDirsOf fsyncs, once each, the directories holding keys and the
// parents of directories created on their paths since the last sync.
func (s *Store) syncDirsOf(ctx context.Context, keys []string) error {
	dirs := make(map[string]bool)
	var created []string
	s.newDirsMu.Lock()
	for _, k := range keys {
		d := filepath.Dir(s.path(k))
		if dirs[d] {
			continue
		}
		dirs[d] = true
		for a := d; len(a) > len(s.root); a = filepath.Dir(a) {
			if s.newDirs[a] {
				created = append(created, a)
				dirs[filepath.Dir(a)] = true
			}
		}
	}
	s.newDirsMu.Unlock()
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(syncParallel)
	for d := range dirs {
		g.Go(func() error {
			// A missing directory holds only missing keys, reported by
			// the caller.
			if err := s.syncDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Forgotten only now: a directory's entry is durable once a sync of
	// its parent that started after its creation has finished.
	s.newDirsMu.Lock()
	for _, d := range created {
		delete(s.newDirs, d)
	}
	s.newDirsMu.Unlock()
	return nil
}

// mkdirAll creates dir and its missing parents. Their entries must reach
// the disk before a key under them counts as durable: with SyncEveryPut
// each changed parent is fsynced now, otherwise the new directories are
// recorded for Sync.
func (s *Store) mkdirAll(dir string) error {
	var created []string
	for d := dir; d != s.root && len(d) > len(s.root); d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		created = append(created, d)
	}
	// Recorded before they exist: a concurrent Put into the same
	// directory may finish, and its key be synced, before MkdirAll
	// returns here.
	lazy := !s.opts.NoSync && !s.opts.SyncEveryPut
	if lazy {
		s.markNewDirs(created, true)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if lazy {
			s.markNewDirs(created, false)
		}
		return err
	}
	if !s.syncEveryPut() {
		return nil
	}
	for _, d := range created {
		if err := s.syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) markNewDirs(dirs []string, on bool) {
	s.newDirsMu.Lock()
	defer s.newDirsMu.Unlock()
	for _, d := range dirs {
		if on {
			s.newDirs[d] = true
		} else {
			delete(s.newDirs, d)
		}
	}
}

// dirSync group-commits fsyncs of one directory: a caller needs a sync
// that started after its rename, and one sync serves every caller that
// arrived before it started.
type dirSync struct {
	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // syncs started
	done    uint64 // highest sync number finished
	running bool
	err     error // result of the sync numbered done
}

func (s *Store) syncDir(dir string) error {
	s.dirsMu.Lock()
	ds := s.dirs[dir]
	if ds == nil {
		ds = &dirSync{}
		ds.cond = sync.NewCond(&ds.mu)
		if len(s.dirs) > 4096 {
			// Bound the map; losing sharing on a few directories is harmless.
			clear(s.dirs)
		}
		s.dirs[dir] = ds
	}
	s.dirsMu.Unlock()

	ds.mu.Lock()
	defer ds.mu.Unlock()
	// The next sync to start is the first one sure to follow our rename
	// (a running one may predate it).
	need := ds.started + 1
	for ds.done < need {
		if ds.running {
			ds.cond.Wait()
			if ds.done >= need && ds.err != nil {
				return ds.err
			}
			continue
		}
		ds.running = true
		ds.started++
		n := ds.started
		ds.mu.Unlock()
		err := fsyncPath(dir)
		ds.mu.Lock()
		ds.running = false
		ds.done = n
		ds.err = err
		ds.cond.Broadcast()
		if err != nil {
			return err
		}
	}
	return nil
}

func fsyncPath(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete implements objstore.Store. Empty directories are left in place:
// removing them would race with Puts into the same directory.
func (s *Store) Delete(ctx context.Context, key string) error {
	const op = "objstore/file.Delete"
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(op, key); err != nil {
		return err
	}
	err := os.Remove(s.path(key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fserr.E(op, key, fserr.IO, err)
	}
	return nil
}

// Head implements objstore.Store.
func (s *Store) Head(ctx context.Context, key string) (objstore.Info, error) {
	const op = "objstore/file.Head"
	if err := ctx.Err(); err != nil {
		return objstore.Info{}, err
	}
	if err := checkKey(op, key); err != nil {
		return objstore.Info{}, err
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return objstore.Info{}, notFound(op, key)
		}
		return objstore.Info{}, fserr.E(op, key, fserr.IO, err)
	}
	if fi.IsDir() {
		return objstore.Info{}, notFound(op, key)
	}
	return info(key, fi), nil
}

// info describes the file fi as object key. The file store keeps no
// content hash, so its ETag hashes what changes whenever the file does
// (size, mtime in ns, inode and device: a Put renames a new inode over
// the key, and an edit in place moves the mtime), truncated to 128 bits.
func info(key string, fi fs.FileInfo) objstore.Info {
	var b [40]byte
	binary.BigEndian.PutUint64(b[0:], uint64(fi.Size()))
	binary.BigEndian.PutUint64(b[8:], uint64(fi.ModTime().UnixNano()))
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		binary.BigEndian.PutUint64(b[16:], st.Ino)
		binary.BigEndian.PutUint64(b[24:], uint64(st.Dev))
		binary.BigEndian.PutUint64(b[32:], uint64(st.Ctim.Nano()))
	}
	sum := sha256.Sum256(b[:])
	return objstore.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), ETag: hex.EncodeToString(sum[:16])}
}

// ListDir implements objstore.DirLister over one directory: its regular
// files are the objects and its non-empty subdirectories the common
// prefixes (an empty directory, left behind by Delete, holds no key, as
// S3 would show nothing). Each page reads the whole directory once, so a
// directory of n entries costs n/limit reads of it.
func (s *Store) ListDir(ctx context.Context, prefix, cont string, limit int) (objstore.DirPage, error) {
	const op = "objstore/file.ListDir"
	if err := ctx.Err(); err != nil {
		return objstore.DirPage{}, err
	}
	if prefix != "" {
		if !strings.HasSuffix(prefix, "/") {
			return objstore.DirPage{}, fserr.Errorf(op, fserr.Invalid, "objstore/file: ListDir prefix %q does not end in /", prefix)
		}
		if err := checkKey(op, strings.TrimSuffix(prefix, "/")); err != nil {
			return objstore.DirPage{}, err
		}
	}
	if limit <= 0 {
		limit = objstore.DefaultDirLimit
	}
	dir := s.path(strings.TrimSuffix(prefix, "/"))
	if prefix == "" {
		dir = s.root
	}
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return objstore.DirPage{}, nil
		}
		return objstore.DirPage{}, fserr.E(op, prefix, fserr.IO, err)
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return objstore.DirPage{}, fserr.E(op, prefix, fserr.IO, err)
	}
	ents := make([]dirent, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		if de.IsDir() {
			ents = append(ents, dirent{prefix + name + "/", true})
		} else if de.Type().IsRegular() {
			ents = append(ents, dirent{prefix + name, false})
		}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].sortKey < ents[j].sortKey })
	var page objstore.DirPage
	n := 0
	for _, e := range ents {
		if e.sortKey <= cont {
			continue
		}
		if n == limit {
			page.Next = cont
			break
		}
		p := filepath.Join(dir, filepath.Base(strings.TrimSuffix(e.sortKey, "/")))
		if e.dir {
			if empty, err := emptyDir(p); err != nil || empty {
				continue
			}
			page.Prefixes = append(page.Prefixes, e.sortKey)
		} else {
			fi, err := os.Lstat(p)
			if err != nil {
				continue // removed meanwhile
			}
			page.Objects = append(page.Objects, info(e.sortKey, fi))
		}
		cont = e.sortKey
		n++
	}
	return page, nil
}

// emptyDir reports whether the directory at p holds no key (only empty
// directories or temporary files, or nothing).
func emptyDir(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return true, err
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return true, err
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), tmpPrefix) {
			continue
		}
		if de.Type().IsRegular() {
			return false, nil
		}
		if de.IsDir() {
			if empty, err := emptyDir(filepath.Join(p, de.Name())); err == nil && !empty {
				return false, nil
			}
		}
	}
	return true, nil
}

// List implements objstore.Store. It walks directories depth first with
// each directory's entries in key order (a directory sorts as its name
// plus "/", which is where its keys fall), skipping subtrees that cannot
// hold a key with prefix after `after`, and stops at limit. Only one
// directory's listing is in memory per level.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]objstore.Info, error) {
	const op = "objstore/file.List"
	var out []objstore.Info
	err := s.walk(ctx, s.root, "", prefix, after, limit, &out)
	if errors.Is(err, errLimit) {
		err = nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fserr.E(op, prefix, fserr.IO, err)
	}
	return out, nil
}

var errLimit = errors.New("limit reached")

type dirent struct {
	sortKey string // key relative to the root; directories end in "/"
	dir     bool
}

func (s *Store) walk(ctx context.Context, dir, rel, prefix, after string, limit int, out *[]objstore.Info) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while walking
		}
		return err
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	ents := make([]dirent, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		if de.IsDir() {
			ents = append(ents, dirent{rel + name + "/", true})
		} else if de.Type().IsRegular() {
			ents = append(ents, dirent{rel + name, false})
		}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].sortKey < ents[j].sortKey })
	for _, e := range ents {
		k := e.sortKey
		if e.dir {
			if !strings.HasPrefix(k, prefix) && !strings.HasPrefix(prefix, k) {
				continue
			}
			if after >= k && !strings.HasPrefix(after, k) {
				continue // every key under k sorts before after
			}
			if err := s.walk(ctx, filepath.Join(dir, filepath.Base(k[:len(k)-1])), k, prefix, after, limit, out); err != nil {
				return err
			}
			continue
		}
		if k <= after || !strings.HasPrefix(k, prefix) {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, filepath.Base(k)))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		*out = append(*out, info(k, fi))
		if limit > 0 && len(*out) >= limit {
			return errLimit
		}
	}
	return nil
}

// Close implements objstore.Store.
func (s *Store) Close() error { return nil }
