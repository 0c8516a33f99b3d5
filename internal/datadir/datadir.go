// Package datadir owns the layout of a Shoal data directory, shared by
// the embedded SDK (shoal.OpenLocal) and the server process so that
// `shoal fs --data DIR` and `shoal server --data DIR` open the same data:
//
//	DIR/LOCK             the process lock (internal/lockfile)
//	DIR/meta/            the Badger engine (every filesystem's metadata)
//	DIR/blocks/<fs-id>/     one block store per filesystem, by registry id
//	DIR/blocks/<fs-id>.kv/  its small blocks, in an engine of their own (blocks.go)
//
// Invariants: a filesystem's blocks live only under its id's directory,
// so deleting a filesystem is removing that directory, and two
// filesystems never see each other's blocks even when their slice ids
// collide. Directories written before filesystems were named kept the
// default filesystem's blocks directly in DIR/blocks; Migrate moves them
// under id 1 (the default filesystem's id) before anything opens them.
package datadir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/shoalfs/shoal/internal/fserr"
)

// DefaultFS is the name of the filesystem every data directory has.
const DefaultFS = "default"

// Lock returns the path of dir's process lock file.
func Lock(dir string) string { return filepath.Join(dir, "LOCK") }

// Meta returns the directory of dir's metadata engine.
func Meta(dir string) string { return filepath.Join(dir, "meta") }

// BlocksRoot returns dir's blocks directory, the root under which every
// filesystem's blocks live (the default file:// block store).
func BlocksRoot(dir string) string { return filepath.Join(dir, "blocks") }

// Blocks returns the block store directory of filesystem id in dir.
func Blocks(dir string, id uint32) string { return blocksIn(BlocksRoot(dir), id) }

func blocksIn(root string, id uint32) string {
	return filepath.Join(root, strconv.FormatUint(uint64(id), 10))
}

// legacyTop is the top-level directory of block keys (internal/data's
// "chunks/" prefix) in the layout before per-filesystem directories.
const legacyTop = "chunks"

// Migrate moves blocks of the single-filesystem layout (DIR/blocks/chunks)
// to the default filesystem's directory (DIR/blocks/1/chunks). The caller
// holds dir's lock. It is a no-op on a new or already migrated directory;
// one rename makes it atomic.
func Migrate(dir string) error {
	const op = "datadir.Migrate"
	old := filepath.Join(dir, "blocks", legacyTop)
	if _, err := os.Stat(old); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fserr.E(op, old, err)
	}
	dst := Blocks(dir, 1)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fserr.E(op, dst, err)
	}
	target := filepath.Join(dst, legacyTop)
	if _, err := os.Stat(target); err == nil {
		return fserr.Errorf(op, fserr.Exist, "datadir: both %s and %s exist: move the blocks by hand", old, target)
	}
	if err := os.Rename(old, target); err != nil {
		return fserr.E(op, old, err)
	}
	return nil
}

// Space returns the bytes free to Shoal on the host filesystem holding
// dir's blocks (what df shows as available to unprivileged users): with
// what Shoal already stores there, the capacity of the block store.
func Space(dir string) (uint64, error) {
	p := filepath.Join(dir, "blocks")
	if _, err := os.Stat(p); err != nil {
		p = dir
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0, fserr.E("datadir.Space", p, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
