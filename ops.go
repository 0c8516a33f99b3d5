package shoal

import (
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// resolve cleans name and returns the attributes of what it names.
func (c *Client) resolve(op, name string, follow bool) (string, meta.Attr, error) {
	if err := c.check(op, name); err != nil {
		return "", meta.Attr{}, err
	}
	n, err := c.cleanName(op, name)
	if err != nil {
		return "", meta.Attr{}, err
	}
	a, err := c.core.meta.Resolve(c.ctx, c.core.id, metaPath(n), follow)
	if err != nil {
		return n, a, wrap(op, name, err)
	}
	return n, a, nil
}

// parent cleans name and resolves its parent directory, for the
// operations that act on a directory entry. The root has no entry:
// naming it fails with rootKind.
func (c *Client) parent(op, name string, rootKind fserr.Kind) (string, meta.Ino, string, error) {
	if err := c.check(op, name); err != nil {
		return "", 0, "", err
	}
	n, err := c.cleanName(op, name)
	if err != nil {
		return "", 0, "", err
	}
	dir, base := splitName(n)
	if base == "" {
		return "", 0, "", fserr.E(op, name, rootKind)
	}
	p, err := c.core.meta.Resolve(c.ctx, c.core.id, metaPath(dir), true)
	if err != nil {
		return "", 0, "", wrap(op, name, err)
	}
	if p.Type != meta.TypeDir {
		return "", 0, "", fserr.E(op, name, fserr.NotDir)
	}
	return n, p.Ino, base, nil
}

// overlaySize makes a regular file's size include writes buffered in
// this client and not yet committed (POSIX: stat sees the size once
// write returns).
func (c *Client) overlaySize(a *meta.Attr) {
	if a.Type != meta.TypeRegular {
		return
	}
	if sz, ok := c.core.data.Size(a.Ino); ok {
		a.Size = sz
	}
}

func (c *Client) createMode(perm fs.FileMode) uint32 {
	return modeBits(perm) &^ uint32(c.core.umask)
}

// Mkdir creates directory name with perm (less the umask).
func (c *Client) Mkdir(name string, perm fs.FileMode) error {
	const op = "mkdir"
	_, p, base, err := c.parent(op, name, fserr.Exist)
	if err != nil {
		return err
	}
	_, err = c.core.meta.Mkdir(c.ctx, c.core.id, p, base, c.createMode(perm))
	return wrap(op, name, err)
}

// MkdirAll creates name and any missing parents, like os.MkdirAll: an
// existing directory is not an error, an existing non-directory is.
func (c *Client) MkdirAll(name string, perm fs.FileMode) error {
	const op = "mkdirall"
	if err := c.check(op, name); err != nil {
		return err
	}
	n, err := c.cleanName(op, name)
	if err != nil {
		return err
	}
	return c.mkdirAll(op, name, n, perm)
}

// mkdirAll follows os.MkdirAll step for step, so the two fail alike
// (for example EEXIST, not ELOOP, on a symlink loop).
func (c *Client) mkdirAll(op, name, n string, perm fs.FileMode) error {
	a, err := c.core.meta.Resolve(c.ctx, c.core.id, metaPath(n), true)
	if err == nil {
		if a.Type == meta.TypeDir {
			return nil
		}
		return fserr.E(op, name, fserr.NotDir)
	}
	if parent, _ := splitName(n); parent != "." {
		if err := c.mkdirAll(op, name, parent, perm); err != nil {
			return err
		}
	}
	if err := c.Mkdir(n, perm); err != nil {
		// Raced with another creator, or n existed all along as
		// something Resolve could not follow.
		if a, lerr := c.core.meta.Resolve(c.ctx, c.core.id, metaPath(n), false); lerr == nil && a.Type == meta.TypeDir {
			return nil
		}
		return wrap(op, name, err)
	}
	return nil
}

func splitAll(n string) []string {
	if n == "." {
		return nil
	}
	var out []string
	for {
		dir, base := splitName(n)
		out = append(out, base)
		if dir == "." {
			break
		}
		n = dir
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func joinElems(e []string) string {
	s := "."
	for _, x := range e {
		s = joinName(s, x)
	}
	return s
}

// Remove removes a file or an empty directory, like os.Remove.
func (c *Client) Remove(name string) error {
	const op = "remove"
	_, p, base, err := c.parent(op, name, fserr.Invalid)
	if err != nil {
		return err
	}
	err = c.core.meta.Unlink(c.ctx, c.core.id, p, base)
	if err == nil {
		return nil
	}
	// As os.Remove: try rmdir too, and report its error unless it says
	// the entry is not a directory (then unlink's error is the useful one).
	err1 := c.core.meta.Rmdir(c.ctx, c.core.id, p, base)
	if err1 == nil {
		return nil
	}
	if !fserr.Is(fserr.NotDir, err1) {
		err = err1
	}
	return wrap(op, name, err)
}

// Unlink removes a name that is not a directory, as unlink(2): a
// directory fails with KindIsDir (Remove would remove an empty one).
func (c *Client) Unlink(name string) error {
	const op = "unlink"
	_, p, base, err := c.parent(op, name, fserr.Invalid)
	if err != nil {
		return err
	}
	return wrap(op, name, c.core.meta.Unlink(c.ctx, c.core.id, p, base))
}

// Rmdir removes an empty directory, as rmdir(2): anything else fails
// with KindNotDir.
func (c *Client) Rmdir(name string) error {
	const op = "rmdir"
	_, p, base, err := c.parent(op, name, fserr.Busy)
	if err != nil {
		return err
	}
	return wrap(op, name, c.core.meta.Rmdir(c.ctx, c.core.id, p, base))
}

// RemoveAll removes name and everything under it, like os.RemoveAll: a
// missing name is not an error. It works bottom-up with directory
// iterators, so no directory is listed whole into memory at once beyond
// its subdirectory names.
func (c *Client) RemoveAll(name string) error {
	const op = "removeall"
	if err := c.check(op, name); err != nil {
		return err
	}
	n, err := c.cleanName(op, name)
	if err != nil {
		return err
	}
	if n == "." {
		return fserr.E(op, name, fserr.Invalid)
	}
	err = c.Remove(n)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	a, lerr := c.core.meta.Resolve(c.ctx, c.core.id, metaPath(n), false)
	if lerr != nil {
		if fserr.Is(fserr.NotExist, lerr) {
			return nil
		}
		return wrap(op, name, lerr)
	}
	if a.Type != meta.TypeDir {
		return wrap(op, name, err)
	}
	stack := []string{n}
	for len(stack) > 0 {
		dir := stack[len(stack)-1]
		subdirs, err := c.removeFiles(op, dir)
		if err != nil {
			return wrap(op, name, err)
		}
		if len(subdirs) > 0 {
			stack = append(stack, subdirs...)
			continue
		}
		if err := c.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return wrap(op, name, err)
		}
		stack = stack[:len(stack)-1]
	}
	return nil
}

// removeFiles removes the non-directories in dir and returns the names
// of its subdirectories.
func (c *Client) removeFiles(op, dir string) ([]string, error) {
	it, err := c.OpenDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer it.Close()
	var subdirs []string
	for {
		e, err := it.Next()
		if err != nil {
			if err == io.EOF {
				return subdirs, nil
			}
			return nil, err
		}
		child := joinName(dir, e.Name())
		if e.IsDir() {
			subdirs = append(subdirs, child)
			continue
		}
		if err := c.Remove(child); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
}

// Rename renames oldname to newname, replacing a compatible newname as
// rename(2) does; flags are renameat2's (RenameNoReplace, RenameExchange).
func (c *Client) Rename(oldname, newname string, flags ...RenameFlag) error {
	const op = "rename"
	_, op1, ob, err := c.parent(op, oldname, fserr.Busy)
	if err != nil {
		return err
	}
	_, np, nb, err := c.parent(op, newname, fserr.Busy)
	if err != nil {
		return err
	}
	var f RenameFlag
	for _, x := range flags {
		f |= x
	}
	err = c.core.meta.Rename(c.ctx, c.core.id, op1, ob, np, nb, uint32(f))
	return wrap(op, oldname, err)
}

// Link makes newname a hard link to oldname (not following a final
// symlink in oldname, as link(2)).
func (c *Client) Link(oldname, newname string) error {
	const op = "link"
	_, a, err := c.resolve(op, oldname, false)
	if err != nil {
		return err
	}
	_, p, base, err := c.parent(op, newname, fserr.Exist)
	if err != nil {
		return err
	}
	_, err = c.core.meta.Link(c.ctx, c.core.id, a.Ino, p, base)
	return wrap(op, newname, err)
}

// Symlink creates linkname as a symbolic link to target. target is stored
// as given; an absolute target is taken from the filesystem root.
func (c *Client) Symlink(target, linkname string) error {
	const op = "symlink"
	_, p, base, err := c.parent(op, linkname, fserr.Exist)
	if err != nil {
		return err
	}
	_, err = c.core.meta.Symlink(c.ctx, c.core.id, p, base, target)
	return wrap(op, linkname, err)
}

// Readlink returns the target of symbolic link name.
func (c *Client) Readlink(name string) (string, error) {
	const op = "readlink"
	_, a, err := c.resolve(op, name, false)
	if err != nil {
		return "", err
	}
	if a.Type != meta.TypeSymlink {
		return "", fserr.E(op, name, fserr.Invalid)
	}
	t, err := c.core.meta.Readlink(c.ctx, a.Ino)
	return t, wrap(op, name, err)
}

// Stat returns name's FileInfo, following symlinks (fs.StatFS: name must
// be fs.ValidPath). Sys() is *Attr.
func (c *Client) Stat(name string) (fs.FileInfo, error) {
	const op = "stat"
	if err := c.check(op, name); err != nil {
		return nil, err
	}
	n, err := c.strictName(op, name)
	if err != nil {
		return nil, err
	}
	return c.stat(op, name, n, true)
}

// Lstat is Stat without following a final symlink.
func (c *Client) Lstat(name string) (fs.FileInfo, error) {
	const op = "lstat"
	if err := c.check(op, name); err != nil {
		return nil, err
	}
	n, err := c.cleanName(op, name)
	if err != nil {
		return nil, err
	}
	return c.stat(op, name, n, false)
}

func (c *Client) stat(op, name, n string, follow bool) (fs.FileInfo, error) {
	a, err := c.core.meta.Resolve(c.ctx, c.core.id, metaPath(n), follow)
	if err != nil {
		return nil, wrap(op, name, err)
	}
	c.overlaySize(&a)
	return newFileInfo(baseName(n), &a), nil
}

// setattr resolves name and applies one SetAttr.
func (c *Client) setattr(op, name string, follow bool, mask uint32, attr meta.Attr) (meta.Attr, error) {
	_, a, err := c.resolve(op, name, follow)
	if err != nil {
		return a, err
	}
	if mask&meta.SetSize != 0 {
		if err := c.flushOpen(a.Ino); err != nil {
			return a, wrap(op, name, err)
		}
	}
	out, err := c.core.meta.SetAttr(c.ctx, c.core.id, a.Ino, mask, attr)
	if err != nil {
		return out, wrap(op, name, err)
	}
	if mask&meta.SetSize != 0 {
		c.core.data.Truncated(a.Ino, out.Size)
	}
	c.overlaySize(&out)
	return out, nil
}

// Chmod sets the permission bits and setuid/setgid/sticky from mode.
func (c *Client) Chmod(name string, mode fs.FileMode) error {
	_, err := c.setattr("chmod", name, true, meta.SetMode, meta.Attr{Mode: modeBits(mode)})
	return err
}

// Chown sets the owner and group; -1 leaves a field unchanged.
func (c *Client) Chown(name string, uid, gid int) error {
	return c.chown("chown", name, true, uid, gid)
}

// Lchown is Chown without following a final symlink.
func (c *Client) Lchown(name string, uid, gid int) error {
	return c.chown("lchown", name, false, uid, gid)
}

func (c *Client) chown(op, name string, follow bool, uid, gid int) error {
	var mask uint32
	var a meta.Attr
	if uid >= 0 {
		mask |= meta.SetUid
		a.Uid = uint32(uid)
	}
	if gid >= 0 {
		mask |= meta.SetGid
		a.Gid = uint32(gid)
	}
	if mask == 0 {
		_, cur, err := c.resolve(op, name, follow)
		if err != nil || cur.Type != meta.TypeRegular || cur.Mode&(meta.ModeSetuid|meta.ModeSetgid) == 0 {
			return err
		}
		// Linux's chown(-1, -1) still clears a file's setuid bit (and
		// setgid with group exec): chown to the owner it has does that.
		mask, a.Uid = meta.SetUid, cur.Uid
	}
	_, err := c.setattr(op, name, follow, mask, a)
	return err
}

// Chtimes sets the access and modification times; a zero time leaves
// that time unchanged, as os.Chtimes.
func (c *Client) Chtimes(name string, atime, mtime time.Time) error {
	var mask uint32
	var a meta.Attr
	if !atime.IsZero() {
		mask |= meta.SetAtime
		a.Atime = atime.UnixNano()
	}
	if !mtime.IsZero() {
		mask |= meta.SetMtime
		a.Mtime = mtime.UnixNano()
	}
	if mask == 0 {
		_, _, err := c.resolve("chtimes", name, true)
		return err
	}
	_, err := c.setattr("chtimes", name, true, mask, a)
	return err
}

// SetAttr changes the attributes selected by mask (following symlinks)
// and returns the result.
func (c *Client) SetAttr(name string, mask AttrMask, attr Attr) (Attr, error) {
	out, err := c.setattr("setattr", name, true, uint32(mask), attrToMeta(&attr))
	if err != nil {
		return Attr{}, err
	}
	return attrFromMeta(&out), nil
}

// LSetAttr is SetAttr without following a final symlink (the FUSE mount
// and utimensat(AT_SYMLINK_NOFOLLOW) act on the link itself).
func (c *Client) LSetAttr(name string, mask AttrMask, attr Attr) (Attr, error) {
	out, err := c.setattr("lsetattr", name, false, uint32(mask), attrToMeta(&attr))
	if err != nil {
		return Attr{}, err
	}
	return attrFromMeta(&out), nil
}

// Truncate sets the size of file name.
func (c *Client) Truncate(name string, size int64) error {
	const op = "truncate"
	if size < 0 {
		return fserr.E(op, name, fserr.Invalid)
	}
	_, err := c.setattr(op, name, true, meta.SetSize, meta.Attr{Size: uint64(size)})
	return err
}

// Mknod creates a special file (or an empty regular file) with the type
// from mode: 0 or regular, fs.ModeNamedPipe, fs.ModeSocket, fs.ModeDevice
// (block) or fs.ModeDevice|fs.ModeCharDevice (char); dev is the device
// number of a device.
func (c *Client) Mknod(name string, mode fs.FileMode, dev uint32) error {
	const op = "mknod"
	var typ meta.Type
	switch mode.Type() {
	case 0:
		typ = meta.TypeRegular
	case fs.ModeNamedPipe:
		typ = meta.TypeFIFO
	case fs.ModeSocket:
		typ = meta.TypeSocket
	case fs.ModeDevice | fs.ModeCharDevice:
		typ = meta.TypeChar
	case fs.ModeDevice:
		typ = meta.TypeBlock
	default:
		return fserr.E(op, name, fserr.Invalid)
	}
	_, p, base, err := c.parent(op, name, fserr.Exist)
	if err != nil {
		return err
	}
	_, err = c.core.meta.Mknod(c.ctx, c.core.id, p, base, typ, c.createMode(mode), dev)
	return wrap(op, name, err)
}

// SetXattr sets extended attribute attr of name (flags: XattrCreate,
// XattrReplace, or 0).
func (c *Client) SetXattr(name, attr string, value []byte, flags int) error {
	const op = "setxattr"
	_, a, err := c.resolve(op, name, true)
	if err != nil {
		return err
	}
	return wrap(op, name, c.core.meta.SetXattr(c.ctx, c.core.id, a.Ino, attr, value, flags))
}

// GetXattr returns extended attribute attr of name (KindNoData if unset).
func (c *Client) GetXattr(name, attr string) ([]byte, error) {
	const op = "getxattr"
	_, a, err := c.resolve(op, name, true)
	if err != nil {
		return nil, err
	}
	v, err := c.core.meta.GetXattr(c.ctx, c.core.id, a.Ino, attr)
	return v, wrap(op, name, err)
}

// ListXattr returns the names of name's extended attributes.
func (c *Client) ListXattr(name string) ([]string, error) {
	const op = "listxattr"
	_, a, err := c.resolve(op, name, true)
	if err != nil {
		return nil, err
	}
	v, err := c.core.meta.ListXattr(c.ctx, c.core.id, a.Ino)
	return v, wrap(op, name, err)
}

// RemoveXattr removes extended attribute attr of name.
func (c *Client) RemoveXattr(name, attr string) error {
	const op = "removexattr"
	_, a, err := c.resolve(op, name, true)
	if err != nil {
		return err
	}
	return wrap(op, name, c.core.meta.RemoveXattr(c.ctx, c.core.id, a.Ino, attr))
}

// GetFlags returns name's inode flags (FlagImmutable, FlagAppend).
func (c *Client) GetFlags(name string) (uint32, error) {
	_, a, err := c.resolve("getflags", name, true)
	return a.Flags, err
}

// SetFlags sets name's inode flags; changing them needs privilege, as
// with chattr(1).
func (c *Client) SetFlags(name string, flags uint32) error {
	_, err := c.setattr("setflags", name, true, meta.SetFlags, meta.Attr{Flags: flags})
	return err
}
