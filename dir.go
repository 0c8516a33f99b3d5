package shoal

import (
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// DefaultDirBatch is how many entries a DirIter fetches per request
// unless its BatchSize says otherwise.
const DefaultDirBatch = 64

// DirIter iterates over a directory's entries in batches, so listing a
// huge directory holds one batch in memory. Entries created or removed
// during the iteration may or may not be seen; none is seen twice.
type DirIter struct {
	// BatchSize is how many entries one request fetches (default 64).
	BatchSize int

	c      *Client
	name   string
	ino    meta.Ino
	plus   bool
	cookie uint64
	buf    []meta.Entry
	eof    bool
	closed bool
}

// OpenDir opens directory name for iteration.
func (c *Client) OpenDir(name string) (*DirIter, error) {
	const op = "opendir"
	_, a, err := c.resolve(op, name, true)
	if err != nil {
		return nil, err
	}
	if a.Type != meta.TypeDir {
		return nil, fserr.E(op, name, fserr.NotDir)
	}
	it := c.dirIter(name, a.Ino, false)
	// Fetch the first batch now so a directory that cannot be read fails
	// here, as opendir(3) does.
	if err := it.fill(); err != nil {
		return nil, err
	}
	return it, nil
}

func (c *Client) dirIter(name string, ino meta.Ino, plus bool) *DirIter {
	return &DirIter{BatchSize: DefaultDirBatch, c: c, name: name, ino: ino, plus: plus}
}

func (it *DirIter) fill() error {
	const op = "readdir"
	if err := it.c.check(op, it.name); err != nil {
		return err
	}
	limit := it.BatchSize
	if limit <= 0 {
		limit = DefaultDirBatch
	}
	ents, cookie, err := it.c.core.meta.ReadDir(it.c.ctx, it.c.core.id, it.ino, it.cookie, limit, it.plus)
	if err != nil {
		return wrap(op, it.name, err)
	}
	// Only an empty batch proves the end: the service may return short
	// batches.
	if len(ents) == 0 {
		it.eof = true
	}
	if it.ino == meta.RootIno {
		ents = slices.DeleteFunc(ents, func(e meta.Entry) bool { return it.c.hidden(it.ino, e.Name) })
	}
	it.buf, it.cookie = ents, cookie
	return nil
}

// Next returns the next entry, or io.EOF after the last. Entries also have
// an Ino() uint64 method giving the inode number without a stat.
func (it *DirIter) Next() (fs.DirEntry, error) {
	if it.closed {
		return nil, fserr.E("readdir", it.name, fserr.Closed)
	}
	for len(it.buf) == 0 {
		if it.eof {
			return nil, io.EOF
		}
		if err := it.fill(); err != nil {
			return nil, err
		}
	}
	e := it.buf[0]
	it.buf = it.buf[1:]
	de := &dirEntry{c: it.c, name: e.Name, ino: e.Ino, typ: typeMode(e.Type)}
	if e.Attr != nil {
		a := *e.Attr
		it.c.overlaySize(&a)
		de.info = newFileInfo(e.Name, &a)
	}
	return de, nil
}

// Close ends the iteration.
func (it *DirIter) Close() error {
	it.closed = true
	it.buf = nil
	return nil
}

// ReadDir returns the entries of directory name sorted by name
// (fs.ReadDirFS: name must be fs.ValidPath), with their FileInfo.
func (c *Client) ReadDir(name string) ([]fs.DirEntry, error) {
	const op = "readdir"
	if err := c.check(op, name); err != nil {
		return nil, err
	}
	n, err := c.strictName(op, name)
	if err != nil {
		return nil, err
	}
	a, err := c.core.meta.Resolve(c.ctx, c.core.id, metaPath(n), true)
	if err != nil {
		return nil, wrap(op, name, err)
	}
	if a.Type != meta.TypeDir {
		return nil, fserr.E(op, name, fserr.NotDir)
	}
	return c.readAll(name, a.Ino, true)
}

func (c *Client) readAll(name string, ino meta.Ino, plus bool) ([]fs.DirEntry, error) {
	it := c.dirIter(name, ino, plus)
	it.BatchSize = 1024
	defer it.Close()
	var out []fs.DirEntry
	for {
		e, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}
