package meta

import (
	"context"
	"errors"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

var errBigTruncate = errors.New("meta: truncate spans too many chunks for one transaction")

// SetAttr changes the attributes named by mask, with Linux's checks
// (setattr_prepare, chown_ok, vfs_truncate, utimes, FS_IOC_SETFLAGS).
func (fs *FS) SetAttr(ctx context.Context, id Identity, ino Ino, mask uint32, attr Attr) (Attr, error) {
	const op = "meta.SetAttr"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	var n node
	for {
		now := fs.now()
		err := fs.update(ctx, op, func(tx kv.Txn) error {
			if err := getNode(tx, &fs.k, ino, &n); err != nil {
				return err
			}
			return fs.setattrTx(tx, op, &id, &n, mask, &attr, now)
		}, nil, func(tx kv.Txn, _ []byte) error { return getNode(tx, &fs.k, ino, &n) })
		if errors.Is(err, errBigTruncate) {
			if err := fs.shrink(ctx, ino, attr.Size); err != nil {
				return Attr{}, wrap(op, inoPath(ino), err)
			}
			continue
		}
		if err != nil {
			return Attr{}, wrap(op, inoPath(ino), err)
		}
		return n.Attr, nil
	}
}

func (fs *FS) setattrTx(tx kv.Txn, op string, id *Identity, n *node, mask uint32, attr *Attr, now int64) error {
	root := id.Uid == 0
	path := inoPath(n.Ino)
	perm := func() error { return fserr.E(op, path, fserr.NotPermitted) }
	if n.Flags&FlagMounted != 0 && mask&^(SetAtime|SetAtimeNow|SetFlags) != 0 {
		return fserr.E(op, path, fserr.ReadOnly) // the store's attributes, not ours to change
	}
	if mask&SetFlags != 0 {
		if !ownerOrRoot(&n.Attr, id) {
			return perm()
		}
		if !root && (attr.Flags^n.Flags)&(FlagImmutable|FlagAppend) != 0 {
			return perm()
		}
	}
	if mask&SetSize != 0 {
		switch {
		case n.Type == TypeDir:
			return fserr.E(op, path, fserr.IsDir)
		case n.Type != TypeRegular:
			return fserr.E(op, path, fserr.Invalid)
		case n.Flags&FlagAppend != 0:
			return perm()
		}
		if err := inodePermission(op, &n.Attr, id, AccessWrite); err != nil {
			return err
		}
		if attr.Size > MaxFileSize {
			return fserr.E(op, path, fserr.TooBig)
		}
	}
	explicitTimes := mask&SetAtime != 0 && mask&SetAtimeNow == 0 || mask&SetMtime != 0 && mask&SetMtimeNow == 0
	if mask&(SetMode|SetUid|SetGid) != 0 || explicitTimes {
		if n.Flags&(FlagImmutable|FlagAppend) != 0 {
			return perm()
		}
	}
	if mask&SetUid != 0 && !root && !(attr.Uid == n.Uid && id.Uid == n.Uid) {
		return perm()
	}
	if mask&SetGid != 0 && !root && !(id.Uid == n.Uid && (attr.Gid == n.Gid || id.InGroup(attr.Gid))) {
		return perm()
	}
	if mask&SetMode != 0 && !ownerOrRoot(&n.Attr, id) {
		return perm()
	}
	if explicitTimes && !ownerOrRoot(&n.Attr, id) {
		return perm()
	}
	if mask&(SetAtimeNow|SetMtimeNow) != 0 && !ownerOrRoot(&n.Attr, id) {
		if err := inodePermission(op, &n.Attr, id, AccessWrite); err != nil {
			return err
		}
	} else if mask&(SetAtimeNow|SetMtimeNow) != 0 && n.Flags&FlagImmutable != 0 {
		return perm()
	}

	var u usageDelta
	if mask&SetSize != 0 {
		done, err := fs.truncateTx(tx, n, attr.Size, &u)
		if err != nil {
			return err
		}
		if !done {
			return errBigTruncate
		}
		n.Mtime = now
		if !root {
			n.killPrivs()
		}
	}
	if mask&(SetUid|SetGid) != 0 {
		if mask&SetUid != 0 {
			n.Uid = attr.Uid
		}
		if mask&SetGid != 0 {
			n.Gid = attr.Gid
		}
		if n.Type != TypeDir {
			n.Mode &^= ModeSetuid
			if n.Mode&ModeSetgid != 0 && (n.Mode&0010 != 0 || !root && !id.InGroup(n.Gid)) {
				n.Mode &^= ModeSetgid
			}
		}
	}
	if mask&SetMode != 0 {
		n.Mode = attr.Mode & ModePerm
		if !root && !id.InGroup(n.Gid) {
			n.Mode &^= ModeSetgid
		}
	}
	switch {
	case mask&SetAtimeNow != 0:
		n.Atime = now
	case mask&SetAtime != 0:
		n.Atime = attr.Atime
	}
	switch {
	case mask&SetMtimeNow != 0:
		n.Mtime = now
	case mask&SetMtime != 0:
		n.Mtime = attr.Mtime
	}
	if mask&SetFlags != 0 {
		n.Flags = attr.Flags&^FlagMounted | n.Flags&FlagMounted // the mount's own
	}
	n.Ctime = now
	if mask&SetCtime != 0 && root {
		n.Ctime = attr.Ctime
	}
	if err := putNode(tx, &fs.k, n); err != nil {
		return err
	}
	return u.apply(tx, &fs.k)
}
