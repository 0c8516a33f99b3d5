package meta

import (
	"context"
	"errors"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Unlink removes a non-directory entry.
func (fs *FS) Unlink(ctx context.Context, id Identity, parent Ino, name string) error {
	const op = "meta.Unlink"
	if err := fs.check(op); err != nil {
		return err
	}
	switch name {
	case "":
		return fserr.E(op, name, fserr.NotExist)
	case ".", "..":
		return fserr.E(op, name, fserr.IsDir)
	}
	if err := checkName(op, name); err != nil {
		return err
	}
	return wrap(op, name, fs.remove(ctx, op, &id, parent, name, false))
}

// Rmdir removes an empty directory.
func (fs *FS) Rmdir(ctx context.Context, id Identity, parent Ino, name string) error {
	const op = "meta.Rmdir"
	if err := fs.check(op); err != nil {
		return err
	}
	switch name {
	case "":
		return fserr.E(op, name, fserr.NotExist)
	case ".":
		return fserr.E(op, name, fserr.Invalid)
	case "..":
		return fserr.E(op, name, fserr.NotEmpty)
	}
	if err := checkName(op, name); err != nil {
		return err
	}
	return wrap(op, name, fs.remove(ctx, op, &id, parent, name, true))
}

func (fs *FS) remove(ctx context.Context, op string, id *Identity, parent Ino, name string, isDir bool) error {
	now := fs.now()
	return fs.updateHolding(ctx, op, func(tx kv.Txn, h *hold) error {
		var dir, victim node
		if err := fs.dirForLookup(tx, op, id, parent, &dir); err != nil {
			return err
		}
		if err := checkNameLen(op, name); err != nil {
			return err
		}
		_, _, seq, found, err := fs.lookupEntry(tx, parent, name)
		if err != nil {
			return err
		}
		if !found {
			return fserr.E(op, name, fserr.NotExist)
		}
		if err := fs.child(tx, op, &dir, name, &victim); err != nil {
			return err
		}
		if err := mayDelete(op, &dir, &victim, id, isDir); err != nil {
			return err
		}
		if isDir {
			if empty, err := fs.dirEmpty(tx, victim.Ino); err != nil || !empty {
				if err == nil {
					err = fserr.E(op, name, fserr.NotEmpty)
				}
				return err
			}
		}
		if err := fs.removeEntry(tx, parent, name, seq); err != nil {
			return err
		}
		if isDir {
			dir.Nlink--
		}
		dir.Mtime, dir.Ctime = now, now
		if err := putNode(tx, &fs.k, &dir); err != nil {
			return err
		}
		var u usageDelta
		if err := fs.unlinkNode(tx, &victim, now, &u, h); err != nil {
			return err
		}
		return u.apply(tx, &fs.k)
	})
}

// hold is, in exclusive mode, the locked open state of the inode an
// unlink or rename may leave without links: open counts live in memory
// there, so the decision to drop or keep the inode must not interleave
// with an open or release of it. It is taken with TryLock inside the
// transaction (never blocking while holding anything); on failure the
// transaction aborts with errRelock and is rerun after a blocking Lock.
type hold struct {
	ino  Ino
	st   *openState
	recs []*Session // holders this attempt wrote records for
}

type errRelock struct{ ino Ino }

func (e *errRelock) Error() string { return "meta: relock" }

func (h *hold) try(fs *FS, ino Ino) bool {
	if h.st != nil && h.ino == ino {
		return true
	}
	h.release(fs)
	st := fs.acquireOpen(ino)
	if !st.mu.TryLock() {
		fs.releaseOpen(ino, st)
		return false
	}
	h.ino, h.st = ino, st
	return true
}

func (h *hold) release(fs *FS) {
	if h.st == nil {
		return
	}
	st := h.st
	h.st = nil
	st.mu.Unlock()
	fs.releaseOpen(h.ino, st)
}

// updateHolding runs fn as fs.update does, with a hold for unlinkNode.
func (fs *FS) updateHolding(ctx context.Context, op string, fn func(kv.Txn, *hold) error) error {
	return fs.updateHoldingRec(ctx, op, fn, nil, nil)
}

// updateHoldingRec is updateHolding with fs.update's record and replay,
// for a call that answers a retried request with what it returned.
func (fs *FS) updateHoldingRec(ctx context.Context, op string, fn func(kv.Txn, *hold) error, rec func() []byte, replay func(kv.Txn, []byte) error) error {
	var h hold
	defer func() { h.release(fs) }()
	for {
		err := fs.update(ctx, op, func(tx kv.Txn) error {
			h.recs = h.recs[:0]
			return fn(tx, &h)
		}, rec, replay)
		var rl *errRelock
		if errors.As(err, &rl) {
			h.release(fs)
			st := fs.acquireOpen(rl.ino)
			st.mu.Lock()
			h.ino, h.st = rl.ino, st
			continue
		}
		if err == nil && h.st != nil {
			for _, s := range h.recs {
				if i := h.st.find(s); i >= 0 {
					h.st.holders[i].rec = true
				}
			}
		}
		return err
	}
}

// unlinkNode drops one link of n (all of a directory's) and deletes n if
// that was the last link and nobody holds it open. In exclusive mode the
// holders are in memory: each gets its records now, so that the last
// release (or, after a crash, the cleaning of the sessions) drops it.
func (fs *FS) unlinkNode(tx kv.Txn, n *node, now int64, u *usageDelta, h *hold) error {
	if n.Type == TypeDir {
		n.Nlink = 0
	} else if n.Nlink > 0 {
		n.Nlink--
	}
	n.Ctime = now
	if n.Nlink > 0 {
		return putNode(tx, &fs.k, n)
	}
	keep := false
	if fs.cfg.Exclusive {
		if !h.try(fs, n.Ino) {
			return &errRelock{n.Ino}
		}
		for _, hd := range h.st.holders {
			keep = true
			if !hd.rec {
				if err := fs.putOpen(tx, hd.s.id, n.Ino); err != nil {
					return err
				}
				h.recs = append(h.recs, hd.s)
			}
		}
		// Sessions of an earlier process that have not resumed may hold
		// anything open.
		fs.mu.Lock()
		limbo := make([]uint64, 0, len(fs.mu.limbo))
		for s := range fs.mu.limbo {
			limbo = append(limbo, s)
		}
		fs.mu.Unlock()
		for _, s := range limbo {
			if _, err := tx.Get(fs.k.session(s)); err != nil {
				if errors.Is(err, kv.ErrNotFound) {
					continue
				}
				return err
			}
			keep = true
			if err := fs.putOpen(tx, s, n.Ino); err != nil {
				return err
			}
		}
	}
	if !keep {
		open, err := fs.isOpen(tx, n.Ino)
		if err != nil {
			return err
		}
		keep = open
	}
	if keep {
		return putNode(tx, &fs.k, n)
	}
	return fs.dropInode(tx, n, u)
}

func (fs *FS) dirEmpty(tx kv.ReadTxn, ino Ino) (bool, error) {
	start, end := fs.k.under(tagDentry, uint64(ino))
	pairs, err := tx.Scan(start, end, 1, false)
	return len(pairs) == 0, err
}

// Link adds a hard link newName in newParent to ino.
func (fs *FS) Link(ctx context.Context, id Identity, ino Ino, newParent Ino, newName string) (Attr, error) {
	const op = "meta.Link"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	if err := checkNewName(op, newName); err != nil {
		return Attr{}, err
	}
	now := fs.now()
	var n node
	err := fs.update(ctx, op, func(tx kv.Txn) error {
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		var dir node
		if err := fs.dirForLookup(tx, op, &id, newParent, &dir); err != nil {
			return err
		}
		if err := checkNameLen(op, newName); err != nil {
			return err
		}
		if _, _, _, found, err := fs.lookupEntry(tx, newParent, newName); err != nil || found {
			if err == nil {
				err = fserr.E(op, newName, fserr.Exist)
			}
			return err
		}
		// fs.protected_hardlinks, on by default in Linux distributions.
		if !ownerOrRoot(&n.Attr, &id) {
			safe := n.Type == TypeRegular && n.Mode&ModeSetuid == 0 &&
				n.Mode&(ModeSetgid|0010) != ModeSetgid|0010 &&
				permits(&n.Attr, &id, AccessRead|AccessWrite)
			if !safe {
				return fserr.E(op, newName, fserr.NotPermitted)
			}
		}
		if err := mayCreate(op, &dir, &id); err != nil {
			return err
		}
		if n.Flags&(FlagAppend|FlagImmutable) != 0 || n.Type == TypeDir {
			return fserr.E(op, newName, fserr.NotPermitted)
		}
		if n.Nlink == 0 {
			return fserr.E(op, newName, fserr.NotExist)
		}
		if n.Nlink >= 1<<31 {
			return fserr.E(op, newName, fserr.TooManyLinks)
		}
		if err := fs.addEntry(tx, &dir, newName, ino, n.Type); err != nil {
			return err
		}
		dir.Mtime, dir.Ctime = now, now
		if err := putNode(tx, &fs.k, &dir); err != nil {
			return err
		}
		n.Nlink++
		n.Ctime = now
		return putNode(tx, &fs.k, &n)
	}, nil, func(tx kv.Txn, _ []byte) error { return getNode(tx, &fs.k, ino, &n) })
	return n.Attr, wrap(op, newName, err)
}

// Rename moves name in parent to newName in newParent (renameat2).
func (fs *FS) Rename(ctx context.Context, id Identity, parent Ino, name string, newParent Ino, newName string, flags uint32) error {
	const op = "meta.Rename"
	if err := fs.check(op); err != nil {
		return err
	}
	exchange := flags&RenameExchange != 0
	noReplace := flags&RenameNoReplace != 0
	if flags&^(RenameExchange|RenameNoReplace) != 0 || (exchange && noReplace) {
		return fserr.E(op, name, fserr.Invalid)
	}
	if name == "" || newName == "" {
		return fserr.E(op, name, fserr.NotExist)
	}
	if name == "." || name == ".." {
		return fserr.E(op, name, fserr.Busy)
	}
	if newName == "." || newName == ".." {
		if noReplace {
			return fserr.E(op, newName, fserr.Exist)
		}
		return fserr.E(op, newName, fserr.Busy)
	}
	if err := checkName(op, name); err != nil {
		return err
	}
	if err := checkName(op, newName); err != nil {
		return err
	}
	now := fs.now()
	err := fs.updateHolding(ctx, op, func(tx kv.Txn, h *hold) error {
		return fs.renameTx(tx, op, &id, parent, name, newParent, newName, exchange, noReplace, now, h)
	})
	return wrap(op, name, err)
}

func (fs *FS) renameTx(tx kv.Txn, op string, id *Identity, parent Ino, name string, newParent Ino, newName string, exchange, noReplace bool, now int64, h *hold) error {
	var odir, ndir node
	if err := fs.dirForLookup(tx, op, id, parent, &odir); err != nil {
		return err
	}
	if parent == newParent {
		ndir = odir
	} else if err := fs.dirForLookup(tx, op, id, newParent, &ndir); err != nil {
		return err
	}
	if err := checkNameLen(op, name); err != nil {
		return err
	}
	if err := checkNameLen(op, newName); err != nil {
		return err
	}
	srcIno, _, srcSeq, found, err := fs.lookupEntry(tx, parent, name)
	if err != nil {
		return err
	}
	if !found {
		return fserr.E(op, name, fserr.NotExist)
	}
	var src, dst node
	if err := getNode(tx, &fs.k, srcIno, &src); err != nil {
		return err
	}
	dstIno, _, dstSeq, dstFound, err := fs.lookupEntry(tx, newParent, newName)
	if err != nil {
		return err
	}
	if dstFound {
		if err := getNode(tx, &fs.k, dstIno, &dst); err != nil {
			return err
		}
	}
	if exchange && !dstFound {
		return fserr.E(op, newName, fserr.NotExist)
	}
	if noReplace && dstFound {
		return fserr.E(op, newName, fserr.Exist)
	}
	// Loop traps (Linux lock_rename): the source may not be an ancestor of
	// the new parent; a target that is an ancestor of the old parent is
	// necessarily a non-empty directory.
	if parent != newParent {
		if src.Type == TypeDir {
			if in, err := fs.isAncestor(tx, src.Ino, newParent); err != nil || in {
				if err == nil {
					err = fserr.E(op, name, fserr.Invalid)
				}
				return err
			}
		}
		if dstFound && dst.Type == TypeDir {
			if in, err := fs.isAncestor(tx, dst.Ino, parent); err != nil || in {
				if err == nil {
					kind := fserr.NotEmpty
					if exchange {
						kind = fserr.Invalid
					}
					err = fserr.E(op, newName, kind)
				}
				return err
			}
		}
	}
	if dstFound && dst.Ino == src.Ino {
		return nil // hard links of one inode: nothing to do
	}
	srcDir := src.Type == TypeDir
	if err := mayDelete(op, &odir, &src, id, srcDir); err != nil {
		return err
	}
	if !dstFound {
		if err := mayCreate(op, &ndir, id); err != nil {
			return err
		}
	} else {
		wantDir := srcDir
		if exchange {
			wantDir = dst.Type == TypeDir
		}
		if err := mayDelete(op, &ndir, &dst, id, wantDir); err != nil {
			return err
		}
	}
	if parent != newParent {
		if srcDir {
			if err := inodePermission(op, &src.Attr, id, AccessWrite); err != nil {
				return err
			}
		}
		if exchange && dstFound && dst.Type == TypeDir {
			if err := inodePermission(op, &dst.Attr, id, AccessWrite); err != nil {
				return err
			}
		}
	}
	if dstFound && !exchange && dst.Type == TypeDir {
		if empty, err := fs.dirEmpty(tx, dst.Ino); err != nil || !empty {
			if err == nil {
				err = fserr.E(op, newName, fserr.NotEmpty)
			}
			return err
		}
	}

	// Checks done; rewrite the entries. odir and ndir alias when the
	// parents are one directory, so work on one node then.
	nd := &ndir
	if parent == newParent {
		nd = &odir
	}
	if err := fs.removeEntry(tx, parent, name, srcSeq); err != nil {
		return err
	}
	var u usageDelta
	if dstFound {
		if err := fs.removeEntry(tx, newParent, newName, dstSeq); err != nil {
			return err
		}
		if exchange {
			if err := fs.addEntry(tx, &odir, name, dst.Ino, dst.Type); err != nil {
				return err
			}
			if dst.Type == TypeDir && parent != newParent {
				dst.Parent = parent
				odir.Nlink++
				nd.Nlink--
			}
			dst.Ctime = now
			if err := putNode(tx, &fs.k, &dst); err != nil {
				return err
			}
		} else {
			if dst.Type == TypeDir {
				nd.Nlink--
			}
			if err := fs.unlinkNode(tx, &dst, now, &u, h); err != nil {
				return err
			}
		}
	}
	if err := fs.addEntry(tx, nd, newName, src.Ino, src.Type); err != nil {
		return err
	}
	if srcDir && parent != newParent {
		src.Parent = newParent
		odir.Nlink--
		nd.Nlink++
	}
	src.Ctime = now
	if err := putNode(tx, &fs.k, &src); err != nil {
		return err
	}
	odir.Mtime, odir.Ctime = now, now
	nd.Mtime, nd.Ctime = now, now
	if err := putNode(tx, &fs.k, &odir); err != nil {
		return err
	}
	if parent != newParent {
		if err := putNode(tx, &fs.k, nd); err != nil {
			return err
		}
	}
	return u.apply(tx, &fs.k)
}

// isAncestor reports whether dir a is ino or one of its ancestors.
func (fs *FS) isAncestor(tx kv.ReadTxn, a, ino Ino) (bool, error) {
	var n node
	for i := 0; ; i++ {
		if ino == a {
			return true, nil
		}
		if ino == RootIno {
			return false, nil
		}
		if i > 1<<16 {
			return false, fserr.Errorf("meta.Rename", fserr.Corrupt, "meta: rename: parent chain of %d does not reach the root", ino)
		}
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return false, err
		}
		ino = n.Parent
	}
}

// ReadDir lists directory ino after cookie; see the package doc for how
// cookies stay stable.
func (fs *FS) ReadDir(ctx context.Context, id Identity, ino Ino, cookie uint64, limit int, plus bool) ([]Entry, uint64, error) {
	const op = "meta.ReadDir"
	if err := fs.check(op); err != nil {
		return nil, 0, err
	}
	if limit <= 0 {
		limit = 1024
	}
	if cookie == 0 {
		if err := fs.loadIfStale(ctx, ino); err != nil {
			return nil, 0, wrap(op, inoPath(ino), err)
		}
	}
	var out []Entry
	next := cookie
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		out, next = out[:0], cookie
		var dir node
		if err := getNode(tx, &fs.k, ino, &dir); err != nil {
			return err
		}
		if dir.Type != TypeDir {
			return fserr.E(op, inoPath(ino), fserr.NotDir)
		}
		if err := inodePermission(op, &dir.Attr, &id, AccessRead); err != nil {
			return err
		}
		start := fs.k.dirIdx(ino, cookie+1)
		if cookie == ^uint64(0) {
			return nil
		}
		_, end := fs.k.under(tagDirIdx, uint64(ino))
		pairs, err := tx.Scan(start, end, limit, false)
		if err != nil {
			return err
		}
		out = make([]Entry, 0, len(pairs))
		for _, p := range pairs {
			child, typ, name, ok := decodeDirIdx(p.Value)
			if !ok {
				return fserr.Errorf(op, fserr.Corrupt, "meta: readdir: bad index entry in %d", ino)
			}
			out = append(out, Entry{Name: name, Ino: child, Type: typ})
			next = u64(p.Key[pfxLen+1+8:])
		}
		if !plus || len(out) == 0 {
			return nil
		}
		ks := make([][]byte, len(out))
		for i := range out {
			ks[i] = fs.k.inode(out[i].Ino)
		}
		vals, err := tx.GetMany(ks)
		if err != nil {
			return err
		}
		attrs := make([]node, len(out))
		for i, v := range vals {
			if v == nil {
				return fserr.Errorf(op, fserr.Corrupt, "meta: readdir: entry %q of %d has no inode", out[i].Name, ino)
			}
			if err := decodeNode(out[i].Ino, v, &attrs[i]); err != nil {
				return fserr.E(op, fserr.Corrupt, err)
			}
			out[i].Attr = &attrs[i].Attr
		}
		return nil
	})
	if err != nil {
		return nil, 0, wrap(op, inoPath(ino), err)
	}
	return out, next, nil
}
