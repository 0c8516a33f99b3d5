package meta

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Lazy metadata of dataset mounts (docs/datasets.md). Every inode under a
// mount (its root included) carries FlagMounted and a Y record saying what
// it stands for in the store (an object key with its ETag, or a prefix)
// and, for a directory, when its level was last listed. A Lookup, Resolve
// or listing that meets a mounted directory not listed within the mount's
// sync interval stops its transaction with errNeedLoad; outside any
// transaction (network I/O never runs inside one) the MountLoader lists
// that one level of the store and ApplyMountListing reconciles the
// directory with it: new names appear, changed objects (ETag or size)
// take the new size and mtime, names gone from the store disappear (a
// directory with everything materialised under it). Then the call is run
// again. Loading is per directory level, so an ls of one subdirectory
// lists only its prefix, never the bucket.

// MountLoader lists one level of a mount's store for meta. LoadDir lists
// prefix (the mounted directory dir's prefix in m's store, "" or ending
// in "/") and hands the whole level to fs.ApplyMountListing.
type MountLoader interface {
	LoadDir(ctx context.Context, fs *FS, m Mount, dir Ino, prefix string) error
}

// MountEntry is one entry of a store level, as ApplyMountListing takes it.
type MountEntry struct {
	Name string
	Dir  bool
	// Key is the object's key, or the common prefix (ending in "/").
	Key   string
	Size  uint64
	Mtime int64 // ns since the epoch
	ETag  string
}

// mountState is the Y record of an inode under a mount.
type mountState struct {
	Mount    Ino    `json:"m"`           // the mount root
	Key      string `json:"k"`           // object key or prefix
	ETag     string `json:"e,omitempty"` // files
	Listed   int64  `json:"l,omitempty"` // directories: when their level was last applied
	Interval int64  `json:"i"`           // the mount's sync interval, ns
}

type errNeedLoad struct{ dir Ino }

func (e *errNeedLoad) Error() string { return "meta: mounted directory needs loading" }

// maxMountLoads bounds the loads one call may trigger (one per stale
// directory on its path).
const maxMountLoads = 64

func withMountLoads(ctx context.Context, fs *FS, fn func() (Attr, error)) (Attr, error) {
	for i := 0; ; i++ {
		a, err := fn()
		var nl *errNeedLoad
		if !errors.As(err, &nl) {
			return a, err
		}
		if i == maxMountLoads {
			return Attr{}, fserr.Errorf("meta.Resolve", fserr.IO, "meta: mounted directory %d still stale after %d loads", nl.dir, i)
		}
		if err := fs.loadDir(ctx, nl.dir); err != nil {
			return Attr{}, err
		}
	}
}

func (fs *FS) readMountState(tx kv.ReadTxn, ino Ino) (mountState, bool, error) {
	var st mountState
	v, err := tx.Get(fs.k.mountState(ino))
	if errors.Is(err, kv.ErrNotFound) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(v, &st); err != nil {
		return st, false, fserr.Errorf("meta.mount", fserr.Corrupt, "meta: mount state of %d: %v", ino, err)
	}
	return st, true, nil
}

func putMountState(tx kv.Txn, k *keys, ino Ino, st *mountState) error {
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return tx.Put(k.mountState(ino), v)
}

// needLoad returns errNeedLoad when dir is a mounted directory whose level
// is stale and a loader is configured.
func (fs *FS) needLoad(tx kv.ReadTxn, dir *node) error {
	if dir.Flags&FlagMounted == 0 || dir.Type != TypeDir || fs.cfg.MountLoader == nil {
		return nil
	}
	st, ok, err := fs.readMountState(tx, dir.Ino)
	if err != nil || !ok {
		return err
	}
	if st.Listed == 0 || fs.now()-st.Listed > st.Interval {
		return &errNeedLoad{dir.Ino}
	}
	return nil
}

// loadIfStale loads ino first if it is a stale mounted directory.
func (fs *FS) loadIfStale(ctx context.Context, ino Ino) error {
	if fs.cfg.MountLoader == nil {
		return nil
	}
	err := fs.view(ctx, func(tx kv.ReadTxn) error {
		var n node
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		return fs.needLoad(tx, &n)
	})
	var nl *errNeedLoad
	if errors.As(err, &nl) {
		return fs.loadDir(ctx, ino)
	}
	return err
}

// LoadMountDir lists mounted directory ino from its store now, whatever its
// age (`shoal load metadata`).
func (fs *FS) LoadMountDir(ctx context.Context, ino Ino) error {
	if fs.cfg.MountLoader == nil {
		return fserr.Errorf("meta.LoadMountDir", fserr.NotSupported, "meta: this process loads no mounts")
	}
	return fs.loadDir(ctx, ino)
}

func (fs *FS) loadDir(ctx context.Context, dir Ino) error {
	const op = "meta.loadMount"
	var st mountState
	var ok bool
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		var err error
		st, ok, err = fs.readMountState(tx, dir)
		return err
	})
	if err != nil {
		return wrap(op, inoPath(dir), err)
	}
	if !ok {
		return fserr.Errorf(op, fserr.Invalid, "meta: %d is not a mounted directory", dir)
	}
	m, err := fs.MountOf(ctx, st.Mount)
	if err != nil {
		return err
	}
	return fs.cfg.MountLoader.LoadDir(ctx, fs, m, dir, st.Key)
}

// applyBatch is how many entries one transaction of ApplyMountListing
// writes.
const applyBatch = 256

// ApplyMountListing reconciles mounted directory dir with ents, the whole
// level of its store prefix as listed just now: see the comment at the top
// of this file. The directory counts as listed from the moment it returns.
func (fs *FS) ApplyMountListing(ctx context.Context, dir Ino, ents []MountEntry) error {
	const op = "meta.ApplyMountListing"
	var dst mountState
	var dn node
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		var ok bool
		var err error
		if dst, ok, err = fs.readMountState(tx, dir); err != nil {
			return err
		}
		if !ok {
			return fserr.Errorf(op, fserr.Invalid, "meta: %d is not a mounted directory", dir)
		}
		return getNode(tx, &fs.k, dir, &dn)
	})
	if err != nil {
		return wrap(op, inoPath(dir), err)
	}
	m, err := fs.MountOf(ctx, dst.Mount)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(ents))
	for len(ents) > 0 {
		batch := ents[:min(len(ents), applyBatch)]
		ents = ents[len(batch):]
		for _, e := range batch {
			seen[e.Name] = true
		}
		if err := fs.applyEntries(ctx, op, &m, dir, batch); err != nil {
			return wrap(op, inoPath(dir), err)
		}
	}
	// Names gone from the store.
	var gone []string
	err = fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		gone = gone[:0]
		start, end := fs.k.under(tagDentry, uint64(dir))
		pairs, err := tx.Scan(start, end, 0, false)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			name := string(p.Key[pfxLen+1+8:])
			if !seen[name] {
				gone = append(gone, name)
			}
		}
		return nil
	})
	if err != nil {
		return wrap(op, inoPath(dir), err)
	}
	for _, name := range gone {
		if err := fs.dropMounted(ctx, dir, name); err != nil {
			return wrap(op, name, err)
		}
	}
	now := fs.now()
	return wrap(op, inoPath(dir), fs.eng.Update(ctx, func(tx kv.Txn) error {
		st, ok, err := fs.readMountState(tx, dir)
		if err != nil || !ok {
			return err // unmounted meanwhile
		}
		st.Listed = now
		return putMountState(tx, &fs.k, dir, &st)
	}))
}

// applyEntries upserts one batch of entries in one transaction.
func (fs *FS) applyEntries(ctx context.Context, op string, m *Mount, dir Ino, batch []MountEntry) error {
	// Inode numbers for the names not there yet, taken before the
	// transaction (they cannot be allocated inside it).
	var missing int
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		missing = 0
		for _, e := range batch {
			_, typ, _, found, err := fs.lookupEntry(tx, dir, e.Name)
			if err != nil {
				return err
			}
			if !found || (typ == TypeDir) != e.Dir {
				missing++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	inos := make([]Ino, 0, missing)
	for range missing {
		ino, err := fs.newIno(ctx)
		if err != nil {
			return err
		}
		inos = append(inos, ino)
	}
	now := fs.now()
	fileMode := m.Mode & 0o777
	dirMode := fileMode | (fileMode&0o444)>>2
	for {
		retry := false
		err := fs.updateHolding(ctx, op, func(tx kv.Txn, h *hold) error {
			var d node
			if err := getNode(tx, &fs.k, dir, &d); err != nil {
				return err
			}
			free := inos
			var u usageDelta
			dirty := false
			for _, e := range batch {
				ino, typ, seq, found, err := fs.lookupEntry(tx, dir, e.Name)
				if err != nil {
					return err
				}
				if found && (typ == TypeDir) != e.Dir {
					// A file became a prefix or the other way round: the
					// old entry goes (it can only be an empty
					// directory or a file here: a directory with entries
					// under it is dropped by dropMounted first).
					var old node
					if err := getNode(tx, &fs.k, ino, &old); err != nil {
						return err
					}
					if old.Type == TypeDir {
						if empty, err := fs.dirEmpty(tx, ino); err != nil || !empty {
							if err == nil {
								retry = true
								err = errRetryApply
							}
							return err
						}
						d.Nlink--
					}
					if err := fs.removeEntry(tx, dir, e.Name, seq); err != nil {
						return err
					}
					if err := fs.unlinkNode(tx, &old, now, &u, h); err != nil {
						return err
					}
					found, dirty = false, true
				}
				if found {
					var n node
					if err := getNode(tx, &fs.k, ino, &n); err != nil {
						return err
					}
					st, _, err := fs.readMountState(tx, ino)
					if err != nil {
						return err
					}
					if !e.Dir && (st.ETag != e.ETag || n.Size != e.Size) {
						u.add(ino, int64(e.Size)-int64(n.Size), 0)
						n.Size, n.Mtime, n.Ctime = e.Size, e.Mtime, now
						st.ETag = e.ETag
						if err := putNode(tx, &fs.k, &n); err != nil {
							return err
						}
						if err := putMountState(tx, &fs.k, ino, &st); err != nil {
							return err
						}
					}
					continue
				}
				if len(free) == 0 {
					retry = true
					return errRetryApply
				}
				n := node{Attr: Attr{Ino: free[0], Uid: m.Uid, Gid: m.Gid, Nlink: 1, Flags: FlagMounted,
					Atime: e.Mtime, Mtime: e.Mtime, Ctime: now}}
				free = free[1:]
				st := mountState{Mount: m.Root, Key: e.Key, Interval: int64(m.SyncInterval)}
				if e.Dir {
					n.Type, n.Mode, n.Nlink, n.Size, n.Parent, n.next = TypeDir, dirMode, 2, 4096, dir, 1
					n.Atime, n.Mtime = now, now
					d.Nlink++
				} else {
					n.Type, n.Mode, n.Size = TypeRegular, fileMode, e.Size
					st.ETag = e.ETag
					u.add(n.Ino, int64(e.Size), 0)
				}
				u.add(n.Ino, 0, 1)
				if err := fs.addEntry(tx, &d, e.Name, n.Ino, n.Type); err != nil {
					return err
				}
				if err := putNode(tx, &fs.k, &n); err != nil {
					return err
				}
				if err := putMountState(tx, &fs.k, n.Ino, &st); err != nil {
					return err
				}
				dirty = true
			}
			if dirty {
				d.Mtime, d.Ctime = now, now
			}
			if err := putNode(tx, &fs.k, &d); err != nil {
				return err
			}
			return u.apply(tx, &fs.k)
		})
		if !retry {
			return err
		}
		// More names were missing than counted (a concurrent change),
		// or a type change met a directory with entries: drop those and
		// count again.
		for _, e := range batch {
			var typ Type
			var found bool
			err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
				var err error
				_, typ, _, found, err = fs.lookupEntry(tx, dir, e.Name)
				return err
			})
			if err != nil {
				return err
			}
			if found && (typ == TypeDir) != e.Dir {
				if err := fs.dropMounted(ctx, dir, e.Name); err != nil {
					return err
				}
			}
		}
		return fs.applyEntries(ctx, op, m, dir, batch)
	}
}

var errRetryApply = errors.New("meta: apply again")

// dropMounted removes entry name of mounted directory dir and, for a
// directory, everything materialised under it (one transaction per entry).
func (fs *FS) dropMounted(ctx context.Context, dir Ino, name string) error {
	const op = "meta.dropMounted"
	var child node
	found := false
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		ino, _, _, ok, err := fs.lookupEntry(tx, dir, name)
		if err != nil || !ok {
			return err
		}
		found = true
		return getNode(tx, &fs.k, ino, &child)
	})
	if err != nil || !found {
		return err
	}
	if child.Flags&FlagMounted == 0 {
		return fserr.Errorf(op, fserr.Corrupt, "meta: %s in mounted directory %d is not a mounted entry", name, dir)
	}
	if child.Type == TypeDir {
		for {
			var names []string
			err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
				start, end := fs.k.under(tagDentry, uint64(child.Ino))
				pairs, err := tx.Scan(start, end, applyBatch, false)
				names = names[:0]
				for _, p := range pairs {
					names = append(names, string(p.Key[pfxLen+1+8:]))
				}
				return err
			})
			if err != nil {
				return err
			}
			if len(names) == 0 {
				break
			}
			for _, n := range names {
				if err := fs.dropMounted(ctx, child.Ino, n); err != nil {
					return err
				}
			}
		}
	}
	now := fs.now()
	return fs.updateHolding(ctx, op, func(tx kv.Txn, h *hold) error {
		var d, victim node
		if err := getNode(tx, &fs.k, dir, &d); err != nil {
			return err
		}
		ino, _, seq, ok, err := fs.lookupEntry(tx, dir, name)
		if err != nil || !ok {
			return err
		}
		if err := getNode(tx, &fs.k, ino, &victim); err != nil {
			return err
		}
		if victim.Type == TypeDir {
			if empty, err := fs.dirEmpty(tx, ino); err != nil || !empty {
				if err == nil {
					err = fserr.E(op, name, fserr.Conflict)
				}
				return err
			}
			d.Nlink--
		}
		if err := fs.removeEntry(tx, dir, name, seq); err != nil {
			return err
		}
		d.Mtime, d.Ctime = now, now
		if err := putNode(tx, &fs.k, &d); err != nil {
			return err
		}
		var u usageDelta
		if err := fs.unlinkNode(tx, &victim, now, &u, h); err != nil {
			return err
		}
		return u.apply(tx, &fs.k)
	})
}
