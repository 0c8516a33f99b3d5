package meta

import (
	"context"
	"errors"
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Xattr names follow Linux: the name must be 1..255 bytes (ERANGE
// otherwise, as setxattr/getxattr report it), carry a namespace prefix
// with a non-empty remainder (EOPNOTSUPP for an unknown prefix, EINVAL for
// a bare "user."), and values are at most 64 KiB (E2BIG, as Linux). system.* (POSIX ACLs)
// is not supported (EOPNOTSUPP).

func checkXattrName(op, name string) error {
	if name == "" || len(name) > MaxXattrName {
		return fserr.E(op, name, fserr.Range)
	}
	for _, p := range []string{"user.", "trusted.", "security."} {
		if strings.HasPrefix(name, p) {
			if len(name) == len(p) {
				return fserr.E(op, name, fserr.Invalid)
			}
			return nil
		}
	}
	return fserr.E(op, name, fserr.NotSupported)
}

// xattrPermission is Linux's xattr_permission.
func xattrPermission(op string, n *node, id *Identity, name string, write bool) error {
	if write && n.Flags&FlagMounted != 0 {
		return fserr.E(op, name, fserr.ReadOnly)
	}
	if write && n.Flags&(FlagImmutable|FlagAppend) != 0 {
		return fserr.E(op, name, fserr.NotPermitted)
	}
	switch {
	case strings.HasPrefix(name, "trusted."):
		if id.Uid != 0 {
			if write {
				return fserr.E(op, name, fserr.NotPermitted)
			}
			return fserr.E(op, name, fserr.NoData)
		}
		return nil
	case strings.HasPrefix(name, "security."):
		return nil
	}
	// user.*
	if n.Type != TypeRegular && n.Type != TypeDir {
		if write {
			return fserr.E(op, name, fserr.NotPermitted)
		}
		return fserr.E(op, name, fserr.NoData)
	}
	if write && n.Type == TypeDir && n.Mode&ModeSticky != 0 && !ownerOrRoot(&n.Attr, id) {
		return fserr.E(op, name, fserr.NotPermitted)
	}
	mask := uint32(AccessRead)
	if write {
		mask = AccessWrite
	}
	return inodePermission(op, &n.Attr, id, mask)
}

// GetXattr returns the value of xattr name.
func (fs *FS) GetXattr(ctx context.Context, id Identity, ino Ino, name string) ([]byte, error) {
	const op = "meta.GetXattr"
	if err := fs.check(op); err != nil {
		return nil, err
	}
	if err := checkXattrName(op, name); err != nil {
		return nil, err
	}
	var val []byte
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		var n node
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		if err := xattrPermission(op, &n, &id, name, false); err != nil {
			return err
		}
		v, err := tx.Get(fs.k.xattr(ino, name))
		if errors.Is(err, kv.ErrNotFound) {
			return fserr.E(op, name, fserr.NoData)
		}
		val = v
		return err
	})
	return val, wrap(op, name, err)
}

// SetXattr sets xattr name (flags: XattrCreate, XattrReplace).
func (fs *FS) SetXattr(ctx context.Context, id Identity, ino Ino, name string, value []byte, flags int) error {
	const op = "meta.SetXattr"
	if err := fs.check(op); err != nil {
		return err
	}
	if flags&^(XattrCreate|XattrReplace) != 0 {
		return fserr.E(op, name, fserr.Invalid)
	}
	if err := checkXattrName(op, name); err != nil {
		return err
	}
	if len(value) > MaxXattrValue {
		return fserr.E(op, name, fserr.ArgTooBig)
	}
	now := fs.now()
	err := fs.update(ctx, op, func(tx kv.Txn) error {
		var n node
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		if err := xattrPermission(op, &n, &id, name, true); err != nil {
			return err
		}
		start, end := fs.k.under(tagXattr, uint64(ino))
		pairs, err := tx.Scan(start, end, 0, false)
		if err != nil {
			return err
		}
		key := fs.k.xattr(ino, name)
		exists, total := false, len(name)+len(value)
		for _, p := range pairs {
			if string(p.Key) == string(key) {
				exists = true
				continue
			}
			total += len(p.Key) - len(start) + len(p.Value)
		}
		switch {
		case flags&XattrCreate != 0 && exists:
			return fserr.E(op, name, fserr.Exist)
		case flags&XattrReplace != 0 && !exists:
			return fserr.E(op, name, fserr.NoData)
		case total > MaxXattrsSize:
			return fserr.E(op, name, fserr.NoSpace)
		}
		if value == nil {
			value = []byte{}
		}
		if err := tx.Put(key, value); err != nil {
			return err
		}
		n.Ctime = now
		return putNode(tx, &fs.k, &n)
	}, nil, nil)
	return wrap(op, name, err)
}

// ListXattr lists the xattr names id may see (trusted.* only for root).
func (fs *FS) ListXattr(ctx context.Context, id Identity, ino Ino) ([]string, error) {
	const op = "meta.ListXattr"
	if err := fs.check(op); err != nil {
		return nil, err
	}
	var names []string
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		names = names[:0]
		var n node
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		start, end := fs.k.under(tagXattr, uint64(ino))
		pairs, err := tx.Scan(start, end, 0, false)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			name := string(p.Key[len(start):])
			if id.Uid != 0 && strings.HasPrefix(name, "trusted.") {
				continue
			}
			names = append(names, name)
		}
		return nil
	})
	return names, wrap(op, inoPath(ino), err)
}

// RemoveXattr removes xattr name.
func (fs *FS) RemoveXattr(ctx context.Context, id Identity, ino Ino, name string) error {
	const op = "meta.RemoveXattr"
	if err := fs.check(op); err != nil {
		return err
	}
	if err := checkXattrName(op, name); err != nil {
		return err
	}
	now := fs.now()
	err := fs.update(ctx, op, func(tx kv.Txn) error {
		var n node
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		if err := xattrPermission(op, &n, &id, name, true); err != nil {
			return err
		}
		key := fs.k.xattr(ino, name)
		if _, err := tx.Get(key); err != nil {
			if errors.Is(err, kv.ErrNotFound) {
				return fserr.E(op, name, fserr.NoData)
			}
			return err
		}
		if err := tx.Delete(key); err != nil {
			return err
		}
		n.Ctime = now
		return putNode(tx, &fs.k, &n)
	}, nil, nil)
	return wrap(op, name, err)
}
