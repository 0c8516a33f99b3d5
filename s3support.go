package shoal

import (
	"errors"
	"os"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// What the S3 gateway needs beyond the POSIX surface: per-request
// identities, listings in name order, and copies that share blocks
// instead of copying bytes. Other programs may use them too.

// AsIdentity returns a view of c acting as uid, gid and groups, sharing
// c's metadata service, data layer and caches (the S3 gateway makes one
// per request, for the identity its access key maps to). Closing the view
// closes nothing. Files opened through a view are tracked apart from c's
// for the flush a truncate does first (see Truncate), so a program
// truncating through one identity a file it writes through another
// should Sync first.
func (c *Client) AsIdentity(uid, gid uint32, groups ...uint32) *Client {
	co := c.core
	v := &core{
		meta:    co.meta,
		store:   co.store,
		data:    co.data,
		syncer:  co.syncer,
		id:      meta.Identity{Uid: uid, Gid: gid, Gids: append([]uint32(nil), groups...)},
		umask:   co.umask,
		logger:  co.logger,
		stopGC:  func() {},
		closers: nil,
	}
	if co.closed.Load() {
		v.closed.Store(true)
	}
	return &Client{core: v, ctx: c.ctx, view: true, internal: c.internal}
}

// NameEntry is one entry of ListNames.
type NameEntry struct {
	Name string
	Attr Attr
	// Xattr is the value of the xattr ListNames was asked for, nil when
	// the entry has none or the caller may not read it.
	Xattr []byte
}

// ListNames returns up to limit entries of directory dir whose names sort
// after after (raw bytes; "" starts at the first), in name order, with
// their attributes and, when xattr is not "", that xattr's value. Each
// call is one ordered scan of the directory: paging through a huge
// directory costs what the pages hold, unlike ReadDir, whose order is
// creation order.
func (c *Client) ListNames(dir, after string, limit int, xattr string) ([]NameEntry, error) {
	const op = "listnames"
	_, a, err := c.resolve(op, dir, true)
	if err != nil {
		return nil, err
	}
	if a.Type != meta.TypeDir {
		return nil, fserr.E(op, dir, fserr.NotDir)
	}
	nl, ok := c.core.meta.(meta.NameLister)
	if !ok {
		return nil, fserr.E(op, dir, fserr.NotSupported)
	}
	out := make([]NameEntry, 0, min(max(limit, 0), 1024))
	for {
		var (
			ents []meta.Entry
			vals [][]byte
		)
		if xattr != "" {
			ents, vals, err = nl.ReadDirByNameXattr(c.ctx, c.core.id, a.Ino, after, limit-len(out), xattr)
		} else {
			ents, err = nl.ReadDirByName(c.ctx, c.core.id, a.Ino, after, limit-len(out), true)
		}
		if err != nil {
			return nil, wrap(op, dir, err)
		}
		skipped := false
		for i, e := range ents {
			if c.hidden(a.Ino, e.Name) {
				skipped = true
				continue
			}
			ne := NameEntry{Name: e.Name}
			if e.Attr != nil {
				ma := *e.Attr
				c.overlaySize(&ma)
				ne.Attr = attrFromMeta(&ma)
			}
			if vals != nil {
				ne.Xattr = vals[i]
			}
			out = append(out, ne)
		}
		// A page short of hidden entries is topped up, so that callers
		// may still take a short page for the end.
		if !skipped || len(ents) == 0 || limit <= 0 || len(out) >= limit {
			return out, nil
		}
		after = ents[len(ents)-1].Name
	}
}

// cloner returns the metadata service's block-sharing calls.
func (c *Client) cloner(op, name string) (meta.Cloner, error) {
	cl, ok := c.core.meta.(meta.Cloner)
	if !ok {
		return nil, fserr.E(op, name, fserr.NotSupported)
	}
	return cl, nil
}

// holdSource resolves a regular file and opens it in the metadata
// service for the duration of a copy (so an unlink meanwhile cannot
// reclaim its slices), after committing this client's buffered writes to
// it. The returned func releases it.
func (c *Client) holdSource(op, name string) (meta.Attr, func(), error) {
	_, a, err := c.resolve(op, name, true)
	if err != nil {
		return a, nil, err
	}
	if a.Type != meta.TypeRegular {
		if a.Type == meta.TypeDir {
			return a, nil, fserr.E(op, name, fserr.IsDir)
		}
		return a, nil, fserr.E(op, name, fserr.Invalid)
	}
	if err := c.flushOpen(a.Ino); err != nil {
		return a, nil, wrap(op, name, err)
	}
	oa, err := c.core.meta.Open(c.ctx, c.core.id, a.Ino, os.O_RDONLY)
	if err != nil {
		return a, nil, wrap(op, name, err)
	}
	release := func() {
		if err := c.core.meta.Release(c.ctx, oa.Ino); err != nil {
			c.core.logger.Warn("shoal: release after copy failed", "name", name, "err", err)
		}
	}
	return oa, release, nil
}

// CloneFile makes dst (created with perm 0644 less the umask, or
// truncated) a copy of src that shares src's blocks: no data is read or
// written, only slice records, so it takes time in proportion to src's
// metadata. Later writes to either file do not show in the other.
func (c *Client) CloneFile(src, dst string) error {
	const op = "clonefile"
	cl, err := c.cloner(op, dst)
	if err != nil {
		return err
	}
	sa, release, err := c.holdSource(op, src)
	if err != nil {
		return err
	}
	defer release()
	// Truncated only once it is known not to be src itself (the same path
	// or a hard link of it): O_TRUNC at open emptied src before the check.
	f, err := c.OpenFile(dst, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if f.ino == sa.Ino {
		f.Close()
		return fserr.E(op, dst, fserr.Invalid)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return wrap(op, dst, err)
	}
	a, err := cl.CloneChunks(c.ctx, c.core.id, sa.Ino, f.ino)
	if err == nil {
		c.core.data.Truncated(f.ino, a.Size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return wrap(op, dst, err)
}

// ConcatFiles makes dst (created with perm 0644 less the umask, or
// truncated) the concatenation of parts, in order, sharing their blocks
// (S3 multipart completion links parts this way). The parts are left as
// they are.
func (c *Client) ConcatFiles(dst string, parts []string) error {
	const op = "concatfiles"
	cl, err := c.cloner(op, dst)
	if err != nil {
		return err
	}
	f, err := c.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	err = c.appendParts(op, cl, f, parts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *Client) appendParts(op string, cl meta.Cloner, f *File, parts []string) error {
	var off uint64
	for _, p := range parts {
		sa, release, err := c.holdSource(op, p)
		if err != nil {
			return err
		}
		if sa.Ino == f.ino {
			release()
			return fserr.E(op, p, fserr.Invalid)
		}
		a, err := cl.CopyRange(c.ctx, c.core.id, sa.Ino, 0, f.ino, off, sa.Size)
		release()
		if err != nil {
			return wrap(op, p, err)
		}
		off += sa.Size
		c.core.data.Truncated(f.ino, a.Size)
	}
	return nil
}

// CopyFileRange makes bytes [dstOff, dstOff+n) of dst (which must exist)
// those of [srcOff, srcOff+n) of src, sharing src's blocks, like Linux's
// copy_file_range on a filesystem with reflinks. The source range must
// lie within src.
func (c *Client) CopyFileRange(src string, srcOff int64, dst string, dstOff, n int64) error {
	const op = "copyfilerange"
	if srcOff < 0 || dstOff < 0 || n < 0 {
		return fserr.E(op, dst, fserr.Invalid)
	}
	cl, err := c.cloner(op, dst)
	if err != nil {
		return err
	}
	sa, release, err := c.holdSource(op, src)
	if err != nil {
		return err
	}
	defer release()
	f, err := c.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if f.ino == sa.Ino {
		f.Close()
		return fserr.E(op, dst, fserr.Invalid)
	}
	if err = c.flushOpen(f.ino); err == nil {
		var a meta.Attr
		a, err = cl.CopyRange(c.ctx, c.core.id, sa.Ino, uint64(srcOff), f.ino, uint64(dstOff), uint64(n))
		if err == nil {
			c.core.data.Truncated(f.ino, a.Size)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return wrap(op, dst, err)
}

// ErrTargetChanged is the cause of Publish's failure when
// PublishOptions.Check is set and the target is no longer what Expect
// describes.
var ErrTargetChanged = errors.New("shoal: publish: target changed")

// PublishOptions says what Publish does besides the rename.
type PublishOptions struct {
	// Mtime, when not zero, becomes the file's mtime (only its owner, or
	// root, may set it).
	Mtime time.Time
	// Xattr, when not "", is set to Value on the file.
	Xattr string
	Value []byte
	// Check makes the rename conditional: with Expect nil the target must
	// not exist; otherwise it must still be the file Expect describes
	// (same inode, unchanged ctime). If not, Publish fails with an error
	// whose cause is ErrTargetChanged.
	Check  bool
	Expect *Attr
}

// Publish renames the regular file src to dst (replacing a file there, as
// Rename does) after stamping it as o says, in one metadata transaction:
// readers of dst see the old file or the new one with its xattr, never a
// half-published one. The S3 gateway stages each object under a hidden
// name and publishes it this way. It returns dst's attributes.
func (c *Client) Publish(src, dst string, o PublishOptions) (Attr, error) {
	const op = "publish"
	pb, ok := c.core.meta.(meta.Publisher)
	if !ok {
		return Attr{}, fserr.E(op, dst, fserr.NotSupported)
	}
	_, sp, sb, err := c.parent(op, src, fserr.Busy)
	if err != nil {
		return Attr{}, err
	}
	_, dp, db, err := c.parent(op, dst, fserr.Busy)
	if err != nil {
		return Attr{}, err
	}
	mo := meta.PublishOptions{Xattr: o.Xattr, Value: o.Value, Check: o.Check}
	if !o.Mtime.IsZero() {
		mo.Mtime = o.Mtime.UnixNano()
	}
	if o.Check && o.Expect != nil {
		mo.Expect, mo.ExpectCtime = meta.Ino(o.Expect.Ino), o.Expect.Ctime.UnixNano()
	}
	a, err := pb.Publish(c.ctx, c.core.id, sp, sb, dp, db, mo)
	if err != nil {
		if errors.Is(err, meta.ErrStale) {
			return Attr{}, fserr.E(op, dst, fserr.Exist, ErrTargetChanged)
		}
		return Attr{}, wrap(op, dst, err)
	}
	return attrFromMeta(&a), nil
}
