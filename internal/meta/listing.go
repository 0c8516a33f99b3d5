package meta

import (
	"context"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Name-ordered listing. Dentries (D parent name) are stored in raw-byte
// name order, so the entries of a directory after a given name are one
// Scan: S3 listings walk directories in key order with it and read only
// what a page needs, where ReadDir (ordered by creation) would have to
// read a whole directory to sort it.

// ReadDirByName returns up to limit entries of directory ino whose names
// sort after after (raw bytes; "" starts at the first), in name order.
// after need not name an entry, nor be a valid name. With plus set each
// Entry has Attr. It needs read permission on ino, like ReadDir.
func (fs *FS) ReadDirByName(ctx context.Context, id Identity, ino Ino, after string, limit int, plus bool) ([]Entry, error) {
	ents, _, err := fs.readDirByName(ctx, "meta.ReadDirByName", &id, ino, after, limit, plus, "")
	return ents, err
}

// ReadDirByNameXattr is ReadDirByName with attributes, and with the value
// of xattr name of each entry (nil when it has none, or when id may not
// read it): the S3 gateway lists objects and their stored metadata in
// one call.
func (fs *FS) ReadDirByNameXattr(ctx context.Context, id Identity, ino Ino, after string, limit int, name string) ([]Entry, [][]byte, error) {
	const op = "meta.ReadDirByNameXattr"
	if err := checkXattrName(op, name); err != nil {
		return nil, nil, err
	}
	return fs.readDirByName(ctx, op, &id, ino, after, limit, true, name)
}

func (fs *FS) readDirByName(ctx context.Context, op string, id *Identity, ino Ino, after string, limit int, plus bool, xattr string) ([]Entry, [][]byte, error) {
	if err := fs.check(op); err != nil {
		return nil, nil, err
	}
	if limit <= 0 {
		limit = 1024
	}
	if after == "" {
		if err := fs.loadIfStale(ctx, ino); err != nil {
			return nil, nil, wrap(op, inoPath(ino), err)
		}
	}
	var (
		out  []Entry
		vals [][]byte
	)
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		out, vals = nil, nil
		var dir node
		if err := getNode(tx, &fs.k, ino, &dir); err != nil {
			return err
		}
		if dir.Type != TypeDir {
			return fserr.E(op, inoPath(ino), fserr.NotDir)
		}
		if err := inodePermission(op, &dir.Attr, id, AccessRead); err != nil {
			return err
		}
		start, end := fs.k.under(tagDentry, uint64(ino))
		if after != "" {
			// The smallest key above D ino after: names hold no NUL.
			start = append(fs.k.dentry(ino, after), 0)
		}
		pairs, err := tx.Scan(start, end, limit, false)
		if err != nil {
			return err
		}
		nameAt := len(fs.k.dentry(ino, ""))
		out = make([]Entry, 0, len(pairs))
		for _, p := range pairs {
			child, typ, _, ok := decodeDentry(p.Value)
			if !ok {
				return fserr.Errorf(op, fserr.Corrupt, "meta: readdir by name: bad dentry in %d", ino)
			}
			out = append(out, Entry{Name: string(p.Key[nameAt:]), Ino: child, Type: typ})
		}
		if !plus || len(out) == 0 {
			return nil
		}
		ks := make([][]byte, len(out))
		for i := range out {
			ks[i] = fs.k.inode(out[i].Ino)
		}
		nodes, err := tx.GetMany(ks)
		if err != nil {
			return err
		}
		attrs := make([]node, len(out))
		for i, v := range nodes {
			if v == nil {
				return fserr.Errorf(op, fserr.Corrupt, "meta: readdir by name: entry %q of %d has no inode", out[i].Name, ino)
			}
			if err := decodeNode(out[i].Ino, v, &attrs[i]); err != nil {
				return fserr.E(op, fserr.Corrupt, err)
			}
			out[i].Attr = &attrs[i].Attr
		}
		if xattr == "" {
			return nil
		}
		for i := range out {
			ks[i] = fs.k.xattr(out[i].Ino, xattr)
		}
		xv, err := tx.GetMany(ks)
		if err != nil {
			return err
		}
		vals = make([][]byte, len(out))
		for i, v := range xv {
			// Each value is the entry's own business: show it only to
			// those who could read it with GetXattr.
			if v != nil && xattrPermission(op, &attrs[i], id, xattr, false) == nil {
				vals[i] = v
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, wrap(op, inoPath(ino), err)
	}
	return out, vals, nil
}

// ReadDirByName is FS.ReadDirByName.
func (s *Session) ReadDirByName(ctx context.Context, id Identity, ino Ino, after string, limit int, plus bool) ([]Entry, error) {
	return s.fs.ReadDirByName(ctx, id, ino, after, limit, plus)
}

// ReadDirByNameXattr is FS.ReadDirByNameXattr.
func (s *Session) ReadDirByNameXattr(ctx context.Context, id Identity, ino Ino, after string, limit int, name string) ([]Entry, [][]byte, error) {
	return s.fs.ReadDirByNameXattr(ctx, id, ino, after, limit, name)
}
