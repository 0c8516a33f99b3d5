package meta

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Dataset mounts (docs/datasets.md). A mount attaches an existing object
// store prefix (s3://bucket/prefix, file:///dir) to a directory of the
// namespace. Its record lives in the engine under tag B, keyed by the
// mount root's inode (the mount's id: stable while the mount lives, and
// the root can be neither removed nor renamed away while it does), so
// every meta process of a filesystem sees the same mounts.
//
// Invariants:
//   - The root of a mount carries FlagMounted and has a B record; nothing
//     else has a B record. SetAttr never sets or clears the flag.
//   - Mounts do not nest: no ancestor of a mount root is mounted, and a
//     mount is made only on a missing or empty directory.
//   - A mounted directory is read-only to namespace calls: creating,
//     removing or renaming entries in it fails with ReadOnly (EROFS), and
//     removing or renaming the root itself with Busy, as for a mount point.
//   - The record holds no secret: credentials are named by a file path
//     (or come from the environment of the process that opens the store).

// DefaultSyncInterval is how long loaded metadata of a mount is trusted
// before an access revalidates it, when Mount.SyncInterval is 0.
const DefaultSyncInterval = time.Minute

// Mount is a dataset mount's record.
type Mount struct {
	// Root is the mount root's inode (set by FS.Mount).
	Root Ino `json:"root"`
	// Path is the mount root's path when it was mounted.
	Path string `json:"path"`
	// URL names the store: s3://bucket[/prefix] or file:///dir.
	URL string `json:"url"`
	// Endpoint, Region, PathStyle: the S3 server (empty: AWS and its
	// defaults).
	Endpoint  string `json:"endpoint,omitempty"`
	Region    string `json:"region,omitempty"`
	PathStyle bool   `json:"path_style,omitempty"`
	// CredentialsFile is the path of an AWS shared credentials file, read
	// by each process that opens the store ("" : the environment).
	CredentialsFile string `json:"credentials_file,omitempty"`
	// SyncInterval is how long loaded metadata is trusted (0: the
	// default, DefaultSyncInterval).
	SyncInterval time.Duration `json:"sync_interval,omitempty"`
	// WriteThrough lets files under the mount be written (each is PUT
	// whole to the store when closed); without it the mount is read-only.
	WriteThrough bool `json:"write_through,omitempty"`
	// Uid, Gid and Mode are the owner and permission bits of files under
	// the mount (Mode 0: 0444, or 0644 with WriteThrough); directories get
	// Mode plus search bits where it has read bits.
	Uid  uint32 `json:"uid"`
	Gid  uint32 `json:"gid"`
	Mode uint32 `json:"mode,omitempty"`
	// Created is when the mount was made (ns since the epoch).
	Created int64 `json:"created"`
}

// EnsureDefaults fills the unset fields with their defaults.
func (m *Mount) EnsureDefaults() {
	if m.SyncInterval == 0 {
		m.SyncInterval = DefaultSyncInterval
	}
	if m.Mode == 0 {
		m.Mode = 0o444
		if m.WriteThrough {
			m.Mode = 0o644
		}
	}
}

// Validate reports a mount record that cannot work.
func (m *Mount) Validate() error {
	const op = "meta.Mount"
	if _, _, err := ParseMountURL(m.URL); err != nil {
		return err
	}
	if m.SyncInterval < 0 {
		return fserr.Errorf(op, fserr.Invalid, "meta: mount: negative sync interval %v", m.SyncInterval)
	}
	if m.Mode&^0o777 != 0 {
		return fserr.Errorf(op, fserr.Invalid, "meta: mount: mode %#o has bits beyond 0777", m.Mode)
	}
	if !strings.HasPrefix(m.Path, "/") || path.Clean(m.Path) != m.Path || m.Path == "/" {
		return fserr.Errorf(op, fserr.Invalid, "meta: mount: path %q is not a clean absolute path below the root", m.Path)
	}
	return nil
}

// ParseMountURL splits a mount URL into its scheme ("s3" or "file") and
// the rest: for s3 "bucket/prefix" (prefix may be empty), for file the
// absolute directory.
func ParseMountURL(raw string) (scheme, rest string, err error) {
	const op = "meta.Mount"
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fserr.Errorf(op, fserr.Invalid, "meta: mount: bad URL %q: %v", raw, err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", fserr.Errorf(op, fserr.Invalid, "meta: mount: URL %q: no query, fragment or user info allowed (give options as flags)", raw)
	}
	switch u.Scheme {
	case "s3":
		if u.Host == "" {
			return "", "", fserr.Errorf(op, fserr.Invalid, "meta: mount: URL %q names no bucket", raw)
		}
		return "s3", u.Host + "/" + strings.Trim(u.Path, "/"), nil
	case "file":
		if u.Host != "" || !strings.HasPrefix(u.Path, "/") || path.Clean(u.Path) != strings.TrimSuffix(u.Path, "/") && u.Path != "/" {
			return "", "", fserr.Errorf(op, fserr.Invalid, "meta: mount: URL %q: want file:///absolute/dir", raw)
		}
		return "file", path.Clean(u.Path), nil
	}
	return "", "", fserr.Errorf(op, fserr.Invalid, "meta: mount: URL %q: scheme must be s3 or file", raw)
}

// Mount mounts m.URL on m.Path: the path is created as a directory if
// missing; an existing one must be an empty directory (else Exist or
// NotEmpty) and neither it nor an ancestor may be mounted (Busy). Only
// root may mount. Returns the stored record.
func (fs *FS) Mount(ctx context.Context, id Identity, m Mount) (Mount, error) {
	const op = "meta.Mount"
	if err := fs.check(op); err != nil {
		return Mount{}, err
	}
	if id.Uid != 0 {
		return Mount{}, fserr.E(op, m.Path, fserr.NotPermitted)
	}
	m.EnsureDefaults()
	if err := m.Validate(); err != nil {
		return Mount{}, err
	}
	dirPath, name := path.Split(m.Path)
	parent, err := fs.Resolve(ctx, id, path.Clean(dirPath), true)
	if err != nil {
		return Mount{}, err
	}
	if parent.Type != TypeDir {
		return Mount{}, fserr.E(op, m.Path, fserr.NotDir)
	}
	newIno, err := fs.newIno(ctx)
	if err != nil {
		return Mount{}, wrap(op, m.Path, err)
	}
	now := fs.now()
	err = fs.update(ctx, op, func(tx kv.Txn) error {
		// No ancestor (the parent included) may be mounted.
		var a node
		for ino := parent.Ino; ; ino = a.Parent {
			if err := getNode(tx, &fs.k, ino, &a); err != nil {
				return err
			}
			if a.Flags&FlagMounted != 0 {
				return fserr.Errorf(op, fserr.Busy, "meta: mount: %s is inside a mounted directory: mounts do not nest", m.Path)
			}
			if ino == RootIno {
				break
			}
		}
		var n node
		ino, _, _, found, err := fs.lookupEntry(tx, parent.Ino, name)
		if err != nil {
			return err
		}
		if found {
			if err := getNode(tx, &fs.k, ino, &n); err != nil {
				return err
			}
			switch {
			case n.Type != TypeDir:
				return fserr.Errorf(op, fserr.Exist, "meta: mount: %s exists and is not a directory", m.Path)
			case n.Flags&FlagMounted != 0:
				return fserr.Errorf(op, fserr.Busy, "meta: mount: %s is already mounted", m.Path)
			}
			if empty, err := fs.dirEmpty(tx, ino); err != nil || !empty {
				if err == nil {
					err = fserr.Errorf(op, fserr.NotEmpty, "meta: mount: %s is not empty", m.Path)
				}
				return err
			}
		} else {
			n = node{Attr: Attr{Ino: newIno, Type: TypeDir, Mode: 0o755}}
			if err := fs.create(tx, op, &id, parent.Ino, name, &n, now, nil); err != nil {
				return err
			}
		}
		n.Flags |= FlagMounted
		n.Ctime = now
		if err := putNode(tx, &fs.k, &n); err != nil {
			return err
		}
		m.Root, m.Created = n.Ino, now
		v, err := json.Marshal(&m)
		if err != nil {
			return err
		}
		if err := putMountState(tx, &fs.k, n.Ino, &mountState{Mount: n.Ino, Interval: int64(m.SyncInterval)}); err != nil {
			return err
		}
		return tx.Put(fs.k.mount(n.Ino), v)
	}, nil, nil)
	if err != nil {
		return Mount{}, wrap(op, m.Path, err)
	}
	return m, nil
}

// Unmount removes the mount whose root is at path (Invalid if none is).
// The root stays behind as an ordinary empty directory, as a mount point
// does. Only root may unmount.
func (fs *FS) Unmount(ctx context.Context, id Identity, p string) (Mount, error) {
	const op = "meta.Unmount"
	if err := fs.check(op); err != nil {
		return Mount{}, err
	}
	if id.Uid != 0 {
		return Mount{}, fserr.E(op, p, fserr.NotPermitted)
	}
	a, err := fs.Resolve(ctx, id, p, false)
	if err != nil {
		return Mount{}, err
	}
	if a.Flags&FlagMounted != 0 {
		// Everything materialised under the mount goes first, one
		// transaction per entry (files still open stay readable until
		// closed, as after an unlink).
		for {
			var names []string
			err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
				start, end := fs.k.under(tagDentry, uint64(a.Ino))
				pairs, err := tx.Scan(start, end, applyBatch, false)
				names = names[:0]
				for _, p := range pairs {
					names = append(names, string(p.Key[pfxLen+1+8:]))
				}
				return err
			})
			if err != nil {
				return Mount{}, wrap(op, p, err)
			}
			if len(names) == 0 {
				break
			}
			for _, n := range names {
				if err := fs.dropMounted(ctx, a.Ino, n); err != nil {
					return Mount{}, wrap(op, p, err)
				}
			}
		}
	}
	var m Mount
	err = fs.update(ctx, op, func(tx kv.Txn) error {
		var n node
		if err := getNode(tx, &fs.k, a.Ino, &n); err != nil {
			return err
		}
		v, err := tx.Get(fs.k.mount(a.Ino))
		if errors.Is(err, kv.ErrNotFound) || n.Flags&FlagMounted == 0 {
			return fserr.Errorf(op, fserr.Invalid, "meta: unmount: %s is not a mount", p)
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(v, &m); err != nil {
			return fserr.E(op, p, fserr.Corrupt, err)
		}
		// A load that raced with the drop above may have added entries.
		if empty, err := fs.dirEmpty(tx, a.Ino); err != nil || !empty {
			if err == nil {
				err = fserr.Errorf(op, fserr.NotEmpty, "meta: unmount: %s holds entries", p)
			}
			return err
		}
		n.Flags &^= FlagMounted
		n.Ctime = fs.now()
		if err := putNode(tx, &fs.k, &n); err != nil {
			return err
		}
		if err := tx.Delete(fs.k.mountState(a.Ino)); err != nil {
			return err
		}
		return tx.Delete(fs.k.mount(a.Ino))
	}, nil, nil)
	if err != nil {
		return Mount{}, wrap(op, p, err)
	}
	return m, nil
}

// Mounts lists the mounts by root inode.
func (fs *FS) Mounts(ctx context.Context) ([]Mount, error) {
	const op = "meta.Mounts"
	if err := fs.check(op); err != nil {
		return nil, err
	}
	var out []Mount
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		out = out[:0]
		start, end := fs.k.all(tagMount)
		pairs, err := tx.Scan(start, end, 0, false)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			var m Mount
			if err := json.Unmarshal(p.Value, &m); err != nil {
				return fserr.Errorf(op, fserr.Corrupt, "meta: mount record %x: %v", p.Key, err)
			}
			out = append(out, m)
		}
		return nil
	})
	return out, wrap(op, "", err)
}

// MountOf returns the record of the mount whose root is ino (NotExist if
// ino is no mount root).
func (fs *FS) MountOf(ctx context.Context, ino Ino) (Mount, error) {
	const op = "meta.MountOf"
	var m Mount
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		v, err := tx.Get(fs.k.mount(ino))
		if errors.Is(err, kv.ErrNotFound) {
			return fserr.E(op, inoPath(ino), fserr.NotExist)
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(v, &m)
	})
	return m, wrap(op, inoPath(ino), err)
}

// Session passthroughs: mounts belong to the filesystem, not the session.

// Mount is FS.Mount.
func (s *Session) Mount(ctx context.Context, id Identity, m Mount) (Mount, error) {
	return s.fs.Mount(ctx, id, m)
}

// Unmount is FS.Unmount.
func (s *Session) Unmount(ctx context.Context, id Identity, p string) (Mount, error) {
	return s.fs.Unmount(ctx, id, p)
}

// Mounts is FS.Mounts.
func (s *Session) Mounts(ctx context.Context) ([]Mount, error) { return s.fs.Mounts(ctx) }
