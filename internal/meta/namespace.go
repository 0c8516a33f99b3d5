package meta

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

func (fs *FS) now() int64 { return fs.cfg.Clock().UnixNano() }

// lookupEntry returns the dentry of name in parent, or found=false.
func (fs *FS) lookupEntry(tx kv.ReadTxn, parent Ino, name string) (ino Ino, typ Type, seq uint64, found bool, err error) {
	v, err := tx.Get(fs.k.dentry(parent, name))
	if err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			return 0, 0, 0, false, nil
		}
		return 0, 0, 0, false, err
	}
	ino, typ, seq, ok := decodeDentry(v)
	if !ok {
		return 0, 0, 0, false, fserr.Errorf("meta.lookup", fserr.Corrupt, "meta: lookup: bad dentry %q in %d", name, parent)
	}
	return ino, typ, seq, true, nil
}

// addEntry links child under dir as name; the caller writes dir.
func (fs *FS) addEntry(tx kv.Txn, dir *node, name string, child Ino, typ Type) error {
	seq := dir.next
	dir.next++
	if err := tx.Put(fs.k.dentry(dir.Ino, name), encodeDentry(child, typ, seq)); err != nil {
		return err
	}
	return tx.Put(fs.k.dirIdx(dir.Ino, seq), encodeDirIdx(child, typ, name))
}

func (fs *FS) removeEntry(tx kv.Txn, dir Ino, name string, seq uint64) error {
	if err := tx.Delete(fs.k.dentry(dir, name)); err != nil {
		return err
	}
	return tx.Delete(fs.k.dirIdx(dir, seq))
}

// dirForLookup loads parent and checks it is a directory id may search.
func (fs *FS) dirForLookup(tx kv.ReadTxn, op string, id *Identity, parent Ino, dir *node) error {
	if err := getNode(tx, &fs.k, parent, dir); err != nil {
		return err
	}
	if dir.Type != TypeDir {
		return fserr.E(op, inoPath(parent), fserr.NotDir)
	}
	return inodePermission(op, &dir.Attr, id, AccessExec)
}

// GetAttr returns ino's attributes.
func (fs *FS) GetAttr(ctx context.Context, ino Ino) (Attr, error) {
	const op = "meta.GetAttr"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	var n node
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error { return getNode(tx, &fs.k, ino, &n) })
	return n.Attr, wrap(op, inoPath(ino), err)
}

// Access checks mask (AccessRead|Write|Exec; 0 only checks existence).
func (fs *FS) Access(ctx context.Context, id Identity, ino Ino, mask uint32) error {
	const op = "meta.Access"
	if err := fs.check(op); err != nil {
		return err
	}
	var n node
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error { return getNode(tx, &fs.k, ino, &n) })
	if err == nil && mask&7 != 0 {
		err = inodePermission(op, &n.Attr, &id, mask)
	}
	return wrap(op, inoPath(ino), err)
}

// Lookup finds name in directory parent ("." and ".." included).
func (fs *FS) Lookup(ctx context.Context, id Identity, parent Ino, name string) (Attr, error) {
	const op = "meta.Lookup"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	if err := checkName(op, name); err != nil {
		return Attr{}, err
	}
	var n node
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		var dir node
		if err := fs.dirForLookup(tx, op, &id, parent, &dir); err != nil {
			return err
		}
		switch name {
		case "", ".":
			n = dir
			return nil
		case "..":
			return getNode(tx, &fs.k, dir.Parent, &n)
		}
		return fs.child(tx, op, &dir, name, &n)
	})
	return n.Attr, wrap(op, name, err)
}

// child loads entry name of dir into n.
func (fs *FS) child(tx kv.ReadTxn, op string, dir *node, name string, n *node) error {
	if err := checkNameLen(op, name); err != nil {
		return err
	}
	ino, _, _, found, err := fs.lookupEntry(tx, dir.Ino, name)
	if err != nil {
		return err
	}
	if !found {
		return fserr.E(op, name, fserr.NotExist)
	}
	return getNode(tx, &fs.k, ino, n)
}

// Resolve walks path from the root in one read transaction.
func (fs *FS) Resolve(ctx context.Context, id Identity, path string, follow bool) (Attr, error) {
	const op = "meta.Resolve"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	if path == "" {
		return Attr{}, fserr.E(op, path, fserr.NotExist)
	}
	if path[0] != '/' {
		return Attr{}, fserr.E(op, path, fserr.Invalid)
	}
	if len(path) > MaxPath {
		return Attr{}, fserr.E(op, path, fserr.NameTooLong)
	}
	var cur node
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		if err := getNode(tx, &fs.k, RootIno, &cur); err != nil {
			return err
		}
		rest := path
		follows := 0
		var next node
		for {
			for len(rest) > 0 && rest[0] == '/' {
				rest = rest[1:]
			}
			if rest == "" {
				return nil
			}
			name := rest
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				name, rest = rest[:i], rest[i:]
			} else {
				rest = ""
			}
			if cur.Type != TypeDir {
				return fserr.E(op, path, fserr.NotDir)
			}
			if err := inodePermission(op, &cur.Attr, &id, AccessExec); err != nil {
				return err
			}
			switch name {
			case ".":
				continue
			case "..":
				if err := getNode(tx, &fs.k, cur.Parent, &next); err != nil {
					return err
				}
				cur = next
				continue
			}
			if err := fs.child(tx, op, &cur, name, &next); err != nil {
				return err
			}
			if next.Type == TypeSymlink && (follow || strings.TrimLeft(rest, "/") != "") {
				follows++
				if follows > maxSymlinkFollows {
					return fserr.E(op, path, fserr.Loop)
				}
				target, err := fs.readlinkTx(tx, next.Ino)
				if err != nil {
					return err
				}
				if strings.HasPrefix(target, "/") {
					if err := getNode(tx, &fs.k, RootIno, &cur); err != nil {
						return err
					}
				}
				rest = target + "/" + rest
				continue
			}
			cur = next
		}
	})
	if err != nil {
		return Attr{}, wrap(op, path, err)
	}
	return cur.Attr, nil
}

// newNode returns the attributes of an inode id creates in dir, applying
// setgid-directory inheritance as Linux's inode_init_owner does.
func newNode(dir *node, id *Identity, ino Ino, typ Type, mode uint32, now int64) node {
	n := node{Attr: Attr{Ino: ino, Type: typ, Mode: mode & ModePerm, Uid: id.Uid, Gid: id.Gid, Nlink: 1,
		Atime: now, Mtime: now, Ctime: now}}
	if dir.Mode&ModeSetgid != 0 {
		n.Gid = dir.Gid
		if typ == TypeDir {
			n.Mode |= ModeSetgid
		} else if n.Mode&(ModeSetgid|0010) == ModeSetgid|0010 && id.Uid != 0 && !id.InGroup(dir.Gid) {
			n.Mode &^= ModeSetgid
		}
	}
	if typ == TypeDir {
		n.Nlink, n.Size, n.Parent, n.next = 2, 4096, dir.Ino, 1
	}
	return n
}

// errExists carries the inode found where a create wanted to put a new one.
type errExists struct{ n node }

func (e *errExists) Error() string { return "meta: entry exists" }

// create adds a new inode n (its Ino set) as name under parent in tx,
// running Linux's checks in Linux's order. If the name exists it returns
// *errExists with the existing inode.
func (fs *FS) create(tx kv.Txn, op string, id *Identity, parent Ino, name string, n *node, now int64, extra func(dir *node) error) error {
	var dir node
	if err := fs.dirForLookup(tx, op, id, parent, &dir); err != nil {
		return err
	}
	if err := checkNameLen(op, name); err != nil {
		return err
	}
	ino, _, _, found, err := fs.lookupEntry(tx, parent, name)
	if err != nil {
		return err
	}
	if found {
		var old node
		if err := getNode(tx, &fs.k, ino, &old); err != nil {
			return err
		}
		return &errExists{old}
	}
	if err := mayCreate(op, &dir, id); err != nil {
		return err
	}
	if extra != nil {
		if err := extra(&dir); err != nil {
			return err
		}
	}
	size, rdev := n.Size, n.Rdev
	*n = newNode(&dir, id, n.Ino, n.Type, n.Mode, now)
	if n.Type != TypeDir {
		n.Size, n.Rdev = size, rdev
	}
	if err := fs.addEntry(tx, &dir, name, n.Ino, n.Type); err != nil {
		return err
	}
	if n.Type == TypeDir {
		dir.Nlink++
	}
	dir.Mtime, dir.Ctime = now, now
	if err := putNode(tx, &fs.k, &dir); err != nil {
		return err
	}
	var u usageDelta
	u.add(n.Ino, 0, 1)
	if err := u.apply(tx, &fs.k); err != nil {
		return err
	}
	return putNode(tx, &fs.k, n)
}

func existErr(op, name string, err error) error {
	var ee *errExists
	if errors.As(err, &ee) {
		return fserr.E(op, name, fserr.Exist)
	}
	return err
}

func (fs *FS) newIno(ctx context.Context) (Ino, error) {
	if over, err := fs.overLimit(ctx, 0, 1); err != nil || over {
		if err == nil {
			err = fserr.E("meta.create", fserr.NoSpace)
		}
		return 0, err
	}
	ino, err := fs.nextID(ctx, &fs.inos, counterIno, false)
	return Ino(ino), err
}

// Mknod creates a regular file, FIFO, socket or device node.
func (fs *FS) Mknod(ctx context.Context, id Identity, parent Ino, name string, typ Type, mode uint32, rdev uint32) (Attr, error) {
	const op = "meta.Mknod"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	if err := checkNewName(op, name); err != nil {
		return Attr{}, err
	}
	switch typ {
	case TypeRegular, TypeFIFO, TypeSocket, TypeChar, TypeBlock:
	default:
		return Attr{}, fserr.E(op, name, fserr.Invalid)
	}
	ino, err := fs.newIno(ctx)
	if err != nil {
		return Attr{}, wrap(op, name, err)
	}
	now := fs.now()
	var n node
	err = fs.eng.Update(ctx, func(tx kv.Txn) error {
		n = node{Attr: Attr{Ino: ino, Type: typ, Mode: mode, Rdev: rdev}}
		if typ != TypeChar && typ != TypeBlock {
			n.Rdev = 0
		}
		return fs.create(tx, op, &id, parent, name, &n, now, func(*node) error {
			if (typ == TypeChar || typ == TypeBlock) && id.Uid != 0 {
				return fserr.E(op, name, fserr.NotPermitted)
			}
			return nil
		})
	})
	if err != nil {
		return Attr{}, wrap(op, name, existErr(op, name, err))
	}
	return n.Attr, nil
}

// Mkdir creates a directory.
func (fs *FS) Mkdir(ctx context.Context, id Identity, parent Ino, name string, mode uint32) (Attr, error) {
	const op = "meta.Mkdir"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	if err := checkNewName(op, name); err != nil {
		return Attr{}, err
	}
	ino, err := fs.newIno(ctx)
	if err != nil {
		return Attr{}, wrap(op, name, err)
	}
	now := fs.now()
	var n node
	err = fs.eng.Update(ctx, func(tx kv.Txn) error {
		n = node{Attr: Attr{Ino: ino, Type: TypeDir, Mode: mode & (0777 | ModeSticky)}}
		return fs.create(tx, op, &id, parent, name, &n, now, nil)
	})
	if err != nil {
		return Attr{}, wrap(op, name, existErr(op, name, err))
	}
	return n.Attr, nil
}

// Symlink creates a symbolic link to target.
func (fs *FS) Symlink(ctx context.Context, id Identity, parent Ino, name string, target string) (Attr, error) {
	const op = "meta.Symlink"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	if target == "" {
		return Attr{}, fserr.E(op, name, fserr.NotExist)
	}
	if len(target) > MaxSymlink {
		return Attr{}, fserr.E(op, name, fserr.NameTooLong)
	}
	if strings.IndexByte(target, 0) >= 0 {
		return Attr{}, fserr.E(op, name, fserr.Invalid)
	}
	if err := checkNewName(op, name); err != nil {
		return Attr{}, err
	}
	ino, err := fs.newIno(ctx)
	if err != nil {
		return Attr{}, wrap(op, name, err)
	}
	now := fs.now()
	var n node
	err = fs.eng.Update(ctx, func(tx kv.Txn) error {
		n = node{Attr: Attr{Ino: ino, Type: TypeSymlink, Mode: 0777, Size: uint64(len(target))}}
		if err := fs.create(tx, op, &id, parent, name, &n, now, nil); err != nil {
			return err
		}
		return tx.Put(fs.k.symlink(ino), []byte(target))
	})
	if err != nil {
		return Attr{}, wrap(op, name, existErr(op, name, err))
	}
	return n.Attr, nil
}

// Readlink returns a symlink's target.
func (fs *FS) Readlink(ctx context.Context, ino Ino) (string, error) {
	const op = "meta.Readlink"
	if err := fs.check(op); err != nil {
		return "", err
	}
	var target string
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		var n node
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		if n.Type != TypeSymlink {
			return fserr.E(op, inoPath(ino), fserr.Invalid)
		}
		var err error
		target, err = fs.readlinkTx(tx, ino)
		return err
	})
	return target, wrap(op, inoPath(ino), err)
}

func (fs *FS) readlinkTx(tx kv.ReadTxn, ino Ino) (string, error) {
	v, err := tx.Get(fs.k.symlink(ino))
	if errors.Is(err, kv.ErrNotFound) {
		return "", fserr.Errorf("meta.Readlink", fserr.Corrupt, "meta: readlink: symlink %d has no target", ino)
	}
	return string(v), err
}

// Create makes (or, without excl, opens an existing) regular file and
// counts an open handle on it.
func (fs *FS) Create(ctx context.Context, id Identity, parent Ino, name string, mode uint32, flags int, excl bool) (Attr, error) {
	const op = "meta.Create"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	if err := checkNewName(op, name); err != nil {
		if !excl && (name == "." || name == "..") {
			return Attr{}, fserr.E(op, name, fserr.IsDir)
		}
		return Attr{}, err
	}
	// Without excl, look first: opening an existing file must hold that
	// inode's open state across its transaction.
	var guess Ino
	if !excl {
		_ = fs.eng.View(ctx, func(tx kv.ReadTxn) error {
			ino, _, _, found, err := fs.lookupEntry(tx, parent, name)
			if found {
				guess = ino
			}
			return err
		})
	}
	var newIno Ino
	for attempt := 0; ; attempt++ {
		if guess == 0 && newIno == 0 {
			var err error
			if newIno, err = fs.newIno(ctx); err != nil {
				return Attr{}, wrap(op, name, err)
			}
		}
		target := guess
		if target == 0 {
			target = newIno
		}
		st := fs.acquireOpen(target)
		st.mu.Lock()
		now := fs.now()
		var n node
		var retry Ino
		err := fs.eng.Update(ctx, func(tx kv.Txn) error {
			retry = 0
			if guess != 0 {
				// The entry seen before may be gone: then create anew.
				_, _, _, found, err := fs.lookupEntry(tx, parent, name)
				if err != nil {
					return err
				}
				if !found {
					return errRetry
				}
			}
			n = node{Attr: Attr{Ino: newIno, Type: TypeRegular, Mode: mode}}
			err := fs.create(tx, op, &id, parent, name, &n, now, nil)
			var ee *errExists
			switch {
			case err == nil:
				return fs.markOpen(tx, n.Ino)
			case errors.As(err, &ee):
				if excl {
					return fserr.E(op, name, fserr.Exist)
				}
				if ee.n.Type == TypeDir {
					return fserr.E(op, name, fserr.IsDir)
				}
				if ee.n.Ino != target {
					retry = ee.n.Ino
					return errRetry
				}
				n = ee.n
				return fs.openTx(tx, op, &id, &n, flags, st.count == 0, now)
			default:
				return err
			}
		})
		if err == nil {
			st.count++
		}
		st.mu.Unlock()
		fs.releaseOpen(target, st)
		if errors.Is(err, errRetry) && attempt < 100 {
			guess = retry
			continue
		}
		if errors.Is(err, errBigTruncate) && attempt < 100 {
			if err := fs.shrink(ctx, target, 0); err != nil {
				return Attr{}, wrap(op, name, err)
			}
			continue
		}
		if err != nil {
			return Attr{}, wrap(op, name, err)
		}
		return n.Attr, nil
	}
}

var errRetry = errors.New("meta: retry with another inode")

// Open checks flags against ino and records an open handle.
func (fs *FS) Open(ctx context.Context, id Identity, ino Ino, flags int) (Attr, error) {
	const op = "meta.Open"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	st := fs.acquireOpen(ino)
	defer fs.releaseOpen(ino, st)
	st.mu.Lock()
	defer st.mu.Unlock()
	for {
		n, err := fs.openOnce(ctx, op, &id, ino, flags, st)
		if errors.Is(err, errBigTruncate) {
			if err := fs.shrink(ctx, ino, 0); err != nil {
				return Attr{}, wrap(op, inoPath(ino), err)
			}
			continue
		}
		if err != nil {
			return Attr{}, wrap(op, inoPath(ino), err)
		}
		st.count++
		return n.Attr, nil
	}
}

func (fs *FS) openOnce(ctx context.Context, op string, id *Identity, ino Ino, flags int, st *openState) (node, error) {
	now := fs.now()
	var n node
	var err error
	if st.count > 0 && flags&os.O_TRUNC == 0 {
		err = fs.eng.View(ctx, func(tx kv.ReadTxn) error {
			if err := getNode(tx, &fs.k, ino, &n); err != nil {
				return err
			}
			return mayOpen(op, id, &n, flags)
		})
	} else {
		err = fs.eng.Update(ctx, func(tx kv.Txn) error {
			if err := getNode(tx, &fs.k, ino, &n); err != nil {
				return err
			}
			return fs.openTx(tx, op, id, &n, flags, st.count == 0, now)
		})
	}
	return n, err
}

// mayOpen is Linux's may_open.
func mayOpen(op string, id *Identity, n *node, flags int) error {
	var mask uint32
	switch flags & (os.O_WRONLY | os.O_RDWR) {
	case os.O_WRONLY:
		mask = AccessWrite
	case os.O_RDWR:
		mask = AccessRead | AccessWrite
	default:
		mask = AccessRead
	}
	if flags&os.O_TRUNC != 0 && n.Type == TypeRegular {
		mask |= AccessWrite
	}
	if n.Type == TypeDir && mask&AccessWrite != 0 {
		return fserr.E(op, inoPath(n.Ino), fserr.IsDir)
	}
	if err := inodePermission(op, &n.Attr, id, mask); err != nil {
		return err
	}
	if n.Flags&FlagAppend != 0 {
		if flags&(os.O_WRONLY|os.O_RDWR) != 0 && flags&os.O_APPEND == 0 {
			return fserr.E(op, inoPath(n.Ino), fserr.NotPermitted)
		}
		if flags&os.O_TRUNC != 0 {
			return fserr.E(op, inoPath(n.Ino), fserr.NotPermitted)
		}
	}
	return nil
}

// openTx checks and performs an open of n inside tx: O_TRUNC truncates,
// and first says whether this process must record the open.
func (fs *FS) openTx(tx kv.Txn, op string, id *Identity, n *node, flags int, first bool, now int64) error {
	if err := mayOpen(op, id, n, flags); err != nil {
		return err
	}
	if first {
		if err := fs.markOpen(tx, n.Ino); err != nil {
			return err
		}
	}
	if flags&os.O_TRUNC != 0 && n.Type == TypeRegular {
		var u usageDelta
		done, err := fs.truncateTx(tx, n, 0, &u)
		if err != nil {
			return err
		}
		if !done {
			return errBigTruncate
		}
		n.Mtime, n.Ctime = now, now
		if err := putNode(tx, &fs.k, n); err != nil {
			return err
		}
		return u.apply(tx, &fs.k)
	}
	return nil
}

// Release drops one open handle of ino.
func (fs *FS) Release(ctx context.Context, ino Ino) error {
	const op = "meta.Release"
	if err := fs.check(op); err != nil {
		return err
	}
	st := fs.acquireOpen(ino)
	defer fs.releaseOpen(ino, st)
	st.mu.Lock()
	defer st.mu.Unlock()
	switch st.count {
	case 0:
		return fserr.E(op, inoPath(ino), fserr.BadHandle)
	case 1:
		err := fs.eng.Update(ctx, func(tx kv.Txn) error { return fs.closeInTxn(tx, ino, fs.session) })
		if err != nil {
			return wrap(op, inoPath(ino), err)
		}
	}
	st.count--
	return nil
}
