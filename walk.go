package shoal

import (
	"errors"
	"io/fs"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// WalkFunc is called by Walk once per directory, like Python's os.walk:
// dir is the directory's name, dirs its subdirectories and files every
// other entry, both sorted by name. If the directory could not be read,
// dirs and files are nil and err says why.
//
// Top-down, fn may prune the walk by editing dirs in place: entries set
// to nil are not visited (for example keep a prefix and clear the rest),
// and returning SkipDir skips all of them. Returning SkipAll stops the
// walk and Walk returns nil; any other error stops it and Walk returns it.
type WalkFunc func(dir string, dirs, files []fs.DirEntry, err error) error

// SkipDir and SkipAll are the io/fs sentinels, returned by a WalkFunc.
var (
	SkipDir = fs.SkipDir
	SkipAll = fs.SkipAll
)

// WalkOption modifies Walk.
type WalkOption func(*walkOptions)

type walkOptions struct {
	bottomUp bool
	follow   bool
}

// WalkBottomUp calls fn for a directory after its subdirectories.
func WalkBottomUp() WalkOption { return func(o *walkOptions) { o.bottomUp = true } }

// WalkFollowSymlinks descends into symbolic links to directories (each
// directory is still visited at most once, so link cycles end).
func WalkFollowSymlinks() WalkOption { return func(o *walkOptions) { o.follow = true } }

type walkFrame struct {
	dir         string
	dirs, files []fs.DirEntry
	err         error
	next        int
}

// Walk walks the tree rooted at root, calling fn for each directory.
// It keeps one directory listing per level in memory, never the tree.
func (c *Client) Walk(root string, fn WalkFunc, opts ...WalkOption) error {
	const op = "walk"
	var o walkOptions
	for _, opt := range opts {
		opt(&o)
	}
	n, a, err := c.resolve(op, root, true)
	if err == nil && a.Type != meta.TypeDir {
		err = fserr.E(op, root, fserr.NotDir)
	}
	if err != nil {
		if n == "" {
			return err // an invalid name or a closed client: nothing to walk
		}
		return walkResult(fn(n, nil, nil, err))
	}
	visited := map[meta.Ino]bool{}
	read := func(dir string, ino meta.Ino) walkFrame {
		visited[ino] = true
		dirs, files, err := c.walkList(dir, ino, o.follow)
		return walkFrame{dir: dir, dirs: dirs, files: files, err: err}
	}
	stack := []walkFrame{read(n, a.Ino)}
	for len(stack) > 0 {
		top := len(stack) - 1
		if !o.bottomUp {
			fr := stack[top]
			stack = stack[:top]
			err := fn(fr.dir, fr.dirs, fr.files, fr.err)
			if errors.Is(err, SkipDir) {
				continue
			}
			if err != nil {
				return walkResult(err)
			}
			for i := len(fr.dirs) - 1; i >= 0; i-- {
				if d := fr.dirs[i]; d != nil {
					if ino := entryIno(d); !visited[ino] {
						stack = append(stack, read(joinName(fr.dir, d.Name()), ino))
					}
				}
			}
			continue
		}
		fr := &stack[top]
		if fr.next < len(fr.dirs) {
			d := fr.dirs[fr.next]
			fr.next++
			if ino := entryIno(d); !visited[ino] {
				stack = append(stack, read(joinName(fr.dir, d.Name()), ino))
			}
			continue
		}
		stack = stack[:top]
		if err := fn(fr.dir, fr.dirs, fr.files, fr.err); err != nil && !errors.Is(err, SkipDir) {
			return walkResult(err)
		}
	}
	return nil
}

func walkResult(err error) error {
	if errors.Is(err, SkipAll) || errors.Is(err, SkipDir) {
		return nil
	}
	return err
}

func entryIno(d fs.DirEntry) meta.Ino {
	if de, ok := d.(*dirEntry); ok {
		return de.ino
	}
	return 0
}

// walkList lists directory ino and splits it into subdirectories and the
// rest; with follow, symlinks to directories count as directories (their
// entries then carry the target's inode).
func (c *Client) walkList(dir string, ino meta.Ino, follow bool) (dirs, files []fs.DirEntry, err error) {
	ents, err := c.readAll(dir, ino, false)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		switch {
		case e.IsDir():
			dirs = append(dirs, e)
		case follow && e.Type() == fs.ModeSymlink:
			a, err := c.core.meta.Resolve(c.ctx, c.core.id, metaPath(joinName(dir, e.Name())), true)
			if err != nil || a.Type != meta.TypeDir {
				files = append(files, e)
				continue
			}
			dirs = append(dirs, &dirEntry{c: c, name: e.Name(), ino: a.Ino, typ: fs.ModeDir, info: newFileInfo(e.Name(), &a)})
		default:
			files = append(files, e)
		}
	}
	return dirs, files, nil
}
