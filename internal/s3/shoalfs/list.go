package shoalfs

import (
	"context"
	"errors"
	"io/fs"
	"strings"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/s3"
)

// Listing. Keys are paths, so the keys of a bucket in raw-byte order are
// a depth-first walk of its directories in name order, with one twist: a
// directory "d" holds keys "d/...", so it sorts as "d/", after the
// siblings "d-x", "d.x" (bytes below '/') that follow "d" in name order.
// A walk therefore defers each directory it meets until the scan passes
// its name + "/"; deferred directories nest ("d", then "d-", which sorts
// as "d-/" < "d/"), so they form a stack.
//
// A page costs what it returns: the walk seeks to the start position one
// directory level at a time (each level one ordered scan starting near
// the position's component), reads directory pages sized to what the
// listing still needs, and with delimiter "/" does not descend into a
// directory that folds into one common prefix.

// item is one step of the walk: an object, or (folded) a directory that
// is a whole common prefix.
type item struct {
	key    string
	attr   shoal.Attr
	xattr  []byte
	prefix bool
}

type frame struct {
	key   string // key prefix of the directory: "" for the bucket, else "a/b/"
	path  string
	after string // last name scanned
	buf   []shoal.NameEntry
	done  bool
	pend  []shoal.NameEntry // deferred directories, innermost last
}

// walker yields the keys of a bucket after a position, in order.
type walker struct {
	c       *shoal.Client
	bucket  string
	pos     string // keys > pos (>= when incl) are yielded
	incl    bool
	fold    string // with delimiter "/": the listing prefix, whose child directories fold
	folding bool
	batch   int
	stack   []*frame
}

func (b *Backend) newWalker(c *shoal.Client, bucket, pos string, incl bool, batch int) *walker {
	w := &walker{c: c, bucket: bucket, pos: pos, incl: incl, batch: batch}
	w.stack = []*frame{w.newFrame("", bucketPath(bucket))}
	return w
}

func (w *walker) newFrame(key, p string) *frame {
	f := &frame{key: key, path: p}
	// Start the scan near pos: names below pos's component here cannot
	// hold later keys, except names that are prefixes of the component
	// followed by a byte below '/' (a directory "d" sorts as "d/", after
	// "d-x").
	if strings.HasPrefix(w.pos, key) && len(w.pos) > len(key) {
		c := w.pos[len(key):]
		if i := strings.IndexByte(c, '/'); i >= 0 {
			c = c[:i]
		}
		for i := 0; i < len(c); i++ {
			if c[i] < '/' {
				c = c[:i]
				break
			}
		}
		f.after = before(c)
	} else if w.pos > key && !strings.HasPrefix(w.pos, key) {
		f.done = true // everything here sorts before pos
	}
	return f
}

// before returns a string just below s in the order of names: no name
// (at most 255 bytes, no NUL) lies between it and s.
func before(s string) string {
	if s == "" {
		return ""
	}
	last := s[len(s)-1]
	if last == 0 {
		return s[:len(s)-1]
	}
	return s[:len(s)-1] + string(last-1) + strings.Repeat("\xff", 256)
}

// wants reports whether a key at or after pos is due.
func (w *walker) wants(key string) bool {
	return key > w.pos || w.incl && key == w.pos
}

// next returns the next item, or ok=false at the end.
func (w *walker) next() (item, bool, error) {
	for len(w.stack) > 0 {
		f := w.stack[len(w.stack)-1]
		if len(f.buf) == 0 && !f.done {
			ents, err := w.c.ListNames(f.path, f.after, w.batch, XattrObject)
			if err != nil {
				if len(w.stack) > 1 && (errors.Is(err, fs.ErrNotExist) || fserr.Is(fserr.NotDir, err)) {
					ents = nil // removed meanwhile
				} else {
					return item{}, false, err
				}
			}
			if len(ents) < w.batch {
				f.done = true
			}
			if len(ents) > 0 {
				f.after = ents[len(ents)-1].Name
			}
			f.buf = ents
		}
		// A deferred directory goes once the scan is past its name + "/".
		if n := len(f.pend); n > 0 && (len(f.buf) == 0 || f.pend[n-1].Name+"/" < f.buf[0].Name) {
			d := f.pend[n-1]
			f.pend = f.pend[:n-1]
			dk := f.key + d.Name + "/"
			if w.folding && w.wants(dk) && len(dk) > len(w.fold) && strings.HasPrefix(dk, w.fold) && strings.IndexByte(dk[len(w.fold):], '/') == len(dk)-len(w.fold)-1 {
				if d.Xattr == nil {
					// Only a directory holding something is a prefix.
					ents, err := w.c.ListNames(f.path+"/"+d.Name, "", 1, "")
					if err != nil || len(ents) == 0 {
						continue
					}
				}
				return item{key: dk, attr: d.Attr, prefix: true}, true, nil
			}
			if !w.wants(dk + "\xff") {
				continue
			}
			w.stack = append(w.stack, w.newFrame(dk, f.path+"/"+d.Name))
			if d.Xattr != nil && w.wants(dk) {
				return item{key: dk, attr: d.Attr, xattr: d.Xattr}, true, nil
			}
			continue
		}
		if len(f.buf) == 0 {
			if f.done {
				w.stack = w.stack[:len(w.stack)-1]
			}
			continue
		}
		e := f.buf[0]
		f.buf = f.buf[1:]
		switch {
		case e.Attr.Mode.IsDir():
			if w.wants(f.key+e.Name+"/") || strings.HasPrefix(w.pos, f.key+e.Name+"/") {
				f.pend = append(f.pend, e)
			}
		case e.Attr.Mode.IsRegular():
			if k := f.key + e.Name; w.wants(k) {
				return item{key: k, attr: e.Attr, xattr: e.Xattr}, true, nil
			}
		}
	}
	return item{}, false, nil
}

func (b *Backend) List(ctx context.Context, id s3.Identity, bucket string, in s3.ListInput) (s3.ListPage, error) {
	const op = "shoalfs.List"
	c := b.as(ctx, id)
	if _, _, err := b.bucketMeta(op, c, bucket); err != nil {
		return s3.ListPage{}, err
	}
	scan, pos, incl, ok := s3.NewListScan(in)
	if !ok {
		return scan.Page, nil
	}
	batch := min(scan.Max()+1, 1000)
	start := func(pos string, incl bool) *walker {
		w := b.newWalker(c, bucket, pos, incl, batch)
		if in.Delimiter == "/" {
			w.folding, w.fold = true, in.Prefix
		}
		return w
	}
	w := start(pos, incl)
	for {
		it, ok, err := w.next()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return scan.Page, noBucket(op, bucket)
			}
			return scan.Page, fserr.E(op, bucket, err)
		}
		if !ok {
			return scan.Page, nil
		}
		cp, resume, done := scan.Add(it.key, func() s3.ObjectInfo { return info(it.key, &it.attr, it.xattr) })
		switch {
		case done:
			return scan.Page, nil
		case cp != "" && !(it.prefix && cp == it.key):
			// The walk descended into the prefix: seek past it.
			w = start(resume, true)
		}
	}
}
