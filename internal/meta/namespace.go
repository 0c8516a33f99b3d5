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
	err := fs.view(ctx, func(tx kv.ReadTxn) error { return getNode(tx, &fs.k, ino, &n) })
	return n.Attr, wrap(op, inoPath(ino), err)
}

// Access checks mask (AccessRead|Write|Exec; 0 only checks existence).
func (fs *FS) Access(ctx context.Context, id Identity, ino Ino, mask uint32) error {
	const op = "meta.Access"
	if err := fs.check(op); err != nil {
		return err
	}
	var n node
	err := fs.view(ctx, func(tx kv.ReadTxn) error { return getNode(tx, &fs.k, ino, &n) })
	if err == nil && mask&7 != 0 {
		err = inodePermission(op, &n.Attr, &id, mask)
	}
	return wrap(op, inoPath(ino), err)
}

// Lookup finds name in directory parent ("." and ".." included).
func (fs *FS) Lookup(ctx context.Context, id Identity, parent Ino, name string) (Attr, error) {
	return withMountLoads(ctx, fs, func() (Attr, error) { return fs.lookup(ctx, id, parent, name) })
}

func (fs *FS) lookup(ctx context.Context, id Identity, parent Ino, name string) (Attr, error) {
	const op = "meta.Lookup"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	if err := checkName(op, name); err != nil {
		return Attr{}, err
	}
	var n node
	err := fs.view(ctx, func(tx kv.ReadTxn) error {
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
		if err := fs.needLoad(tx, &dir); err != nil {
			return err
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
	return withMountLoads(ctx, fs, func() (Attr, error) { return fs.resolve(ctx, id, path, follow) })
}

func (fs *FS) resolve(ctx context.Context, id Identity, path string, follow bool) (Attr, error) {
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
	err := fs.view(ctx, func(tx kv.ReadTxn) error {
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
			if err := fs.needLoad(tx, &cur); err != nil {
				return err
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
	ino, err := fs.nextID(ctx, &fs.inos, counterIno)
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
	err = fs.update(ctx, op, func(tx kv.Txn) error {
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
	}, inoVal(&n), fs.replayCreate(op, parent, name, &n))
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
	err = fs.update(ctx, op, func(tx kv.Txn) error {
		n = node{Attr: Attr{Ino: ino, Type: TypeDir, Mode: mode & (0777 | ModeSticky)}}
		return fs.create(tx, op, &id, parent, name, &n, now, nil)
	}, inoVal(&n), fs.replayCreate(op, parent, name, &n))
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
	err = fs.update(ctx, op, func(tx kv.Txn) error {
		n = node{Attr: Attr{Ino: ino, Type: TypeSymlink, Mode: 0777, Size: uint64(len(target))}}
		if err := fs.create(tx, op, &id, parent, name, &n, now, nil); err != nil {
			return err
		}
		return tx.Put(fs.k.symlink(ino), []byte(target))
	}, inoVal(&n), fs.replayCreate(op, parent, name, &n))
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
	err := fs.view(ctx, func(tx kv.ReadTxn) error {
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

// inoVal is the value a create-like request records: the inode it made.
func inoVal(n *node) func() []byte { return func() []byte { return u64bytes(uint64(n.Ino)) } }

// replayCreate answers a retried create-like request: the inode it made
// (val), or whatever is now at name if that inode is gone.
func (fs *FS) replayCreate(op string, parent Ino, name string, n *node) func(kv.Txn, []byte) error {
	return func(tx kv.Txn, val []byte) error {
		if len(val) >= 8 {
			err := getNode(tx, &fs.k, Ino(u64(val)), n)
			if err == nil || !fserr.Is(fserr.NotExist, err) {
				return err
			}
		}
		ino, _, _, found, err := fs.lookupEntry(tx, parent, name)
		if err != nil {
			return err
		}
		if !found {
			return fserr.E(op, name, fserr.NotExist)
		}
		return getNode(tx, &fs.k, ino, n)
	}
}

// Create makes (or, without excl, opens an existing) regular file and
// counts an open handle on it for the built-in session.
func (fs *FS) Create(ctx context.Context, id Identity, parent Ino, name string, mode uint32, flags int, excl bool) (Attr, error) {
	return fs.createFile(ctx, fs.own, id, parent, name, mode, flags, excl)
}

// errReplayed reports that a request was applied before; ino is what it
// recorded.
type errReplayed struct{ ino Ino }

func (e *errReplayed) Error() string { return "meta: request already applied" }

func (fs *FS) createFile(ctx context.Context, s *Session, id Identity, parent Ino, name string, mode uint32, flags int, excl bool) (Attr, error) {
	const op = "meta.Create"
	if err := s.alive(op); err != nil {
		return Attr{}, err
	}
	if err := checkNewName(op, name); err != nil {
		if !excl && (name == "." || name == "..") {
			return Attr{}, fserr.E(op, name, fserr.IsDir)
		}
		return Attr{}, err
	}
	r, hasReq := requestOf(ctx)
	if hasReq {
		var prev []byte
		err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
			v, err := tx.Get(fs.k.request(r.sess, r.id))
			if errors.Is(err, kv.ErrNotFound) {
				return nil
			}
			prev = v
			return err
		})
		if err != nil {
			return Attr{}, wrap(op, name, err)
		}
		if prev != nil {
			return fs.replayOpen(ctx, op, s, Ino(u64(prev)), r)
		}
	}
	// Without excl, look first: opening an existing file must hold that
	// inode's open state across its transaction.
	var guess Ino
	if !excl {
		_ = fs.view(ctx, func(tx kv.ReadTxn) error {
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
		hi := st.find(s)
		rec := hi >= 0 && st.holders[hi].rec
		now := fs.now()
		var n node
		var retry Ino
		wrote := false
		err := fs.eng.Update(ctx, func(tx kv.Txn) error {
			retry, wrote = 0, false
			if hasReq {
				v, found, err := fs.applied(tx, op, r)
				if err != nil {
					return err
				}
				if found {
					return &errReplayed{Ino(u64(v))}
				}
			}
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
				if !fs.cfg.Exclusive {
					wrote = true
					if err := fs.markOpen(tx, s, n.Ino); err != nil {
						return err
					}
				}
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
				if err := fs.openTx(tx, op, &id, &n, flags, s, rec, &wrote, now); err != nil {
					return err
				}
			default:
				return err
			}
			if hasReq {
				return fs.recordRequest(tx, r, u64bytes(uint64(n.Ino)))
			}
			return nil
		})
		if err == nil {
			err = fs.addHolder(op, st, s, rec || wrote)
			s.markSeen(r, hasReq)
		}
		st.mu.Unlock()
		fs.releaseOpen(target, st)
		var rp *errReplayed
		if errors.As(err, &rp) {
			return fs.replayOpen(ctx, op, s, rp.ino, r)
		}
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

// addHolder counts one more handle of s on the inode of st (st.mu held).
// A session that ended meanwhile gets none: its cleaning has passed.
func (fs *FS) addHolder(op string, st *openState, s *Session, rec bool) error {
	if s.dead() {
		return errSessionGone(op, s.id)
	}
	if i := st.find(s); i >= 0 {
		st.holders[i].count++
		st.holders[i].rec = st.holders[i].rec || rec
		return nil
	}
	st.holders = append(st.holders, holder{s: s, count: 1, rec: rec})
	s.nopen.Add(1)
	return nil
}

// replayOpen answers a retried Create or Open of ino. If this process
// applied it, the handle is counted already; otherwise the process that
// did is gone (a restart, a failover), and with it the count, which the
// client's resumed session did not include since the reply never came.
func (fs *FS) replayOpen(ctx context.Context, op string, s *Session, ino Ino, r reqID) (Attr, error) {
	st := fs.acquireOpen(ino)
	defer fs.releaseOpen(ino, st)
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.seen(r.id) {
		a, err := fs.GetAttr(ctx, ino)
		return a, wrap(op, inoPath(ino), err)
	}
	hi := st.find(s)
	rec := hi >= 0 && st.holders[hi].rec
	var n node
	wrote := false
	err := fs.eng.Update(ctx, func(tx kv.Txn) error {
		wrote = false
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		if !rec && (!fs.cfg.Exclusive || n.Nlink == 0) {
			wrote = true
			return fs.markOpen(tx, s, ino)
		}
		return nil
	})
	if err == nil {
		err = fs.addHolder(op, st, s, rec || wrote)
	}
	if err != nil {
		return Attr{}, wrap(op, inoPath(ino), err)
	}
	s.markSeen(r, true)
	return n.Attr, nil
}

// Open checks flags against ino and records an open handle for the
// built-in session.
func (fs *FS) Open(ctx context.Context, id Identity, ino Ino, flags int) (Attr, error) {
	return fs.openFile(ctx, fs.own, id, ino, flags)
}

func (fs *FS) openFile(ctx context.Context, s *Session, id Identity, ino Ino, flags int) (Attr, error) {
	const op = "meta.Open"
	if err := s.alive(op); err != nil {
		return Attr{}, err
	}
	r, hasReq := requestOf(ctx)
	st := fs.acquireOpen(ino)
	defer fs.releaseOpen(ino, st)
	st.mu.Lock()
	defer st.mu.Unlock()
	if hasReq && s.seen(r.id) {
		a, err := fs.GetAttr(ctx, ino)
		return a, wrap(op, inoPath(ino), err)
	}
	hi := st.find(s)
	rec := hi >= 0 && st.holders[hi].rec
	for {
		n, wrote, err := fs.openOnce(ctx, op, s, &id, ino, flags, rec)
		if errors.Is(err, errBigTruncate) {
			if err := fs.shrink(ctx, ino, 0); err != nil {
				return Attr{}, wrap(op, inoPath(ino), err)
			}
			continue
		}
		if err == nil {
			err = fs.addHolder(op, st, s, rec || wrote)
		}
		if err != nil {
			return Attr{}, wrap(op, inoPath(ino), err)
		}
		s.markSeen(r, hasReq)
		return n.Attr, nil
	}
}

// openOnce opens ino for s, which already has persisted records of it if
// rec. Only an O_TRUNC open or one that must write records is a write
// transaction; with a request id, O_TRUNC is applied once.
func (fs *FS) openOnce(ctx context.Context, op string, s *Session, id *Identity, ino Ino, flags int, rec bool) (node, bool, error) {
	now := fs.now()
	var n node
	wrote := false
	if flags&os.O_TRUNC == 0 {
		if rec || fs.cfg.Exclusive {
			// Most likely nothing to write: look first.
			err := fs.view(ctx, func(tx kv.ReadTxn) error {
				if err := getNode(tx, &fs.k, ino, &n); err != nil {
					return err
				}
				return mayOpen(op, id, &n, flags)
			})
			if err != nil || rec || n.Nlink > 0 {
				return n, false, err
			}
		}
		err := fs.eng.Update(ctx, func(tx kv.Txn) error {
			if err := getNode(tx, &fs.k, ino, &n); err != nil {
				return err
			}
			return fs.openTx(tx, op, id, &n, flags, s, rec, &wrote, now)
		})
		return n, wrote, err
	}
	err := fs.update(ctx, op, func(tx kv.Txn) error {
		wrote = false
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		return fs.openTx(tx, op, id, &n, flags, s, rec, &wrote, now)
	}, nil, func(tx kv.Txn, _ []byte) error {
		// Truncated before a restart: count the handle, truncate no more.
		wrote = false
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		if !rec && (!fs.cfg.Exclusive || n.Nlink == 0) {
			wrote = true
			return fs.markOpen(tx, s, ino)
		}
		return nil
	})
	return n, wrote, err
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
	if n.Flags&FlagMounted != 0 && n.Type == TypeRegular {
		if mask&AccessWrite != 0 {
			return fserr.E(op, inoPath(n.Ino), fserr.ReadOnly)
		}
		// Its bytes are in the mount's store, not in chunks: until the
		// read path is built, an open must not serve zeros.
		return fserr.Errorf(op, fserr.NotSupported, "meta: %s is a file of a dataset mount: reading mounted files is not built yet", inoPath(n.Ino))
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

// openTx checks and performs an open of n by s inside tx: O_TRUNC
// truncates, and the session's records are written (wrote) unless they
// exist (rec) or, in exclusive mode, the inode still has links.
func (fs *FS) openTx(tx kv.Txn, op string, id *Identity, n *node, flags int, s *Session, rec bool, wrote *bool, now int64) error {
	if err := mayOpen(op, id, n, flags); err != nil {
		return err
	}
	if !rec && (!fs.cfg.Exclusive || n.Nlink == 0) {
		*wrote = true
		if err := fs.markOpen(tx, s, n.Ino); err != nil {
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
		if id.Uid != 0 {
			n.killPrivs()
		}
		if err := putNode(tx, &fs.k, n); err != nil {
			return err
		}
		return u.apply(tx, &fs.k)
	}
	return nil
}

// Release drops one open handle of ino held by the built-in session.
func (fs *FS) Release(ctx context.Context, ino Ino) error {
	return fs.release(ctx, fs.own, ino)
}

// release drops one of s's handles on ino. Only the last one of a hold
// with records is a transaction. With a request id it is applied once by
// this process: counts live in memory, and a resumed session's counts
// come from the client.
func (fs *FS) release(ctx context.Context, s *Session, ino Ino) error {
	const op = "meta.Release"
	if err := fs.check(op); err != nil {
		return err
	}
	r, hasReq := requestOf(ctx)
	st := fs.acquireOpen(ino)
	defer fs.releaseOpen(ino, st)
	st.mu.Lock()
	defer st.mu.Unlock()
	if hasReq && s.seen(r.id) {
		return nil
	}
	i := st.find(s)
	if i < 0 {
		return fserr.E(op, inoPath(ino), fserr.BadHandle)
	}
	h := &st.holders[i]
	if h.count == 1 && h.rec {
		err := fs.eng.Update(ctx, func(tx kv.Txn) error { return fs.closeInTxn(tx, ino, s.id) })
		if err != nil {
			return wrap(op, inoPath(ino), err)
		}
	}
	h.count--
	if h.count == 0 {
		st.drop(i)
		s.nopen.Add(-1)
	}
	s.markSeen(r, hasReq)
	return nil
}
