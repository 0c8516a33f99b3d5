package meta

import (
	"context"
	"errors"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Publishing a staged file. A writer that must never show a half-made
// file (the S3 gateway) writes it under a hidden name, then moves it into
// place. Publish does the last steps of that in one transaction: stamp
// the file's mtime, set one xattr describing it, check that the target
// is still what the writer last saw (a conditional write), and rename.
// Readers see the old file or the new one with its xattr, never the new
// one without it, and two gateways racing on a conditional write cannot
// both win. The writes go through fs.update like Rename and SetXattr do,
// so the lookup cache stays exact the same way.

// ErrStale is the cause of Publish's failure when the target is not the
// one PublishOptions.Expect names.
var ErrStale = errors.New("meta: publish: target changed")

// PublishOptions says what Publish does besides the rename.
type PublishOptions struct {
	// Ino, when not 0, is the inode the writer staged: Publish fails
	// with NotExist if name no longer names it.
	Ino Ino
	// Mtime, when not 0, becomes the file's mtime (ns): the writer stamps
	// Value with it.
	Mtime int64
	// Xattr, when not "", is set to Value on the file (a user.* name
	// needs write permission on the file, as SetXattr).
	Xattr string
	Value []byte
	// Check makes the rename conditional on the target: with Expect 0 it
	// must not exist; otherwise it must be inode Expect with ctime
	// ExpectCtime. Otherwise Publish fails with Exist and ErrStale.
	Check       bool
	Expect      Ino
	ExpectCtime int64
}

// Publish moves the regular file name in parent to newName in newParent,
// replacing what is there as Rename does, after applying o to it, all in
// one transaction. It returns the file's attributes as committed.
func (fs *FS) Publish(ctx context.Context, id Identity, parent Ino, name string, newParent Ino, newName string, o PublishOptions) (Attr, error) {
	const op = "meta.Publish"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	if err := checkName(op, name); err != nil {
		return Attr{}, err
	}
	if err := checkName(op, newName); err != nil {
		return Attr{}, err
	}
	if name == "." || name == ".." || newName == "." || newName == ".." {
		return Attr{}, fserr.E(op, newName, fserr.Busy)
	}
	if o.Xattr != "" {
		if err := checkXattrName(op, o.Xattr); err != nil {
			return Attr{}, err
		}
		if len(o.Value) > MaxXattrValue {
			return Attr{}, fserr.E(op, o.Xattr, fserr.ArgTooBig)
		}
	}
	now := fs.now()
	var out Attr
	// A retried request (over the wire) answers with the file it
	// published, as a retried Create does.
	var pub node
	err := fs.updateHoldingRec(ctx, op, func(tx kv.Txn, h *hold) error {
		ino, _, _, found, err := fs.lookupEntry(tx, parent, name)
		if err != nil {
			return err
		}
		if !found || o.Ino != 0 && ino != o.Ino {
			return fserr.E(op, name, fserr.NotExist)
		}
		var n node
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		if n.Type != TypeRegular {
			return fserr.E(op, name, fserr.Invalid)
		}
		if o.Check {
			if err := fs.checkTarget(tx, op, newParent, newName, &o); err != nil {
				return err
			}
		}
		if o.Mtime != 0 {
			// As utimensat with an explicit time: the owner's (or root's).
			if !ownerOrRoot(&n.Attr, &id) {
				return fserr.E(op, name, fserr.NotPermitted)
			}
			n.Mtime = o.Mtime
		}
		if o.Xattr != "" {
			if err := fs.putXattrTx(tx, op, &id, &n, o.Xattr, o.Value); err != nil {
				return err
			}
		}
		n.Ctime = now
		if err := putNode(tx, &fs.k, &n); err != nil {
			return err
		}
		// renameTx reads the node written above (a Txn sees its own
		// writes) and does every check and update Rename does.
		if err := fs.renameTx(tx, op, &id, parent, name, newParent, newName, false, false, now, h); err != nil {
			return err
		}
		out = n.Attr
		return nil
	}, func() []byte { return u64bytes(uint64(out.Ino)) }, func(tx kv.Txn, val []byte) error {
		if err := fs.replayCreate(op, newParent, newName, &pub)(tx, val); err != nil {
			return err
		}
		out = pub.Attr
		return nil
	})
	if err != nil {
		return Attr{}, wrap(op, newName, err)
	}
	return out, nil
}

// checkTarget enforces o.Expect on newName in newParent. A directory in
// the way is left for renameTx to report as Rename would.
func (fs *FS) checkTarget(tx kv.Txn, op string, newParent Ino, newName string, o *PublishOptions) error {
	ino, typ, _, found, err := fs.lookupEntry(tx, newParent, newName)
	if err != nil {
		return err
	}
	if found && typ == TypeDir {
		return nil
	}
	if !found {
		if o.Expect == 0 {
			return nil
		}
		return fserr.E(op, newName, fserr.Exist, ErrStale)
	}
	if ino != o.Expect {
		return fserr.E(op, newName, fserr.Exist, ErrStale)
	}
	var t node
	if err := getNode(tx, &fs.k, ino, &t); err != nil {
		return err
	}
	if t.Ctime != o.ExpectCtime {
		return fserr.E(op, newName, fserr.Exist, ErrStale)
	}
	return nil
}

// putXattrTx sets xattr name of n to value with SetXattr's checks and
// limits; the caller writes n.
func (fs *FS) putXattrTx(tx kv.Txn, op string, id *Identity, n *node, name string, value []byte) error {
	if err := xattrPermission(op, n, id, name, true); err != nil {
		return err
	}
	start, end := fs.k.under(tagXattr, uint64(n.Ino))
	pairs, err := tx.Scan(start, end, 0, false)
	if err != nil {
		return err
	}
	key := fs.k.xattr(n.Ino, name)
	total := len(name) + len(value)
	for _, p := range pairs {
		if string(p.Key) != string(key) {
			total += len(p.Key) - len(start) + len(p.Value)
		}
	}
	if total > MaxXattrsSize {
		return fserr.E(op, name, fserr.NoSpace)
	}
	if value == nil {
		value = []byte{}
	}
	return tx.Put(key, value)
}

// Publish is FS.Publish.
func (s *Session) Publish(ctx context.Context, id Identity, parent Ino, name string, newParent Ino, newName string, o PublishOptions) (Attr, error) {
	return s.fs.Publish(ctx, id, parent, name, newParent, newName, o)
}
