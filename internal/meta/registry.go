package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// The filesystem registry maps names to filesystem ids in one engine. Its
// keys sit outside every filesystem's prefix:
//
//	M n name   version, id, created (ns), state (live or being deleted)
//	M c        the next id to try (ids of formatted filesystems are skipped)
//
// "default" is id 1, the filesystem OpenLocal used before the registry.

// DefaultFS is the filesystem every engine has once EnsureDefaultFS ran.
const DefaultFS = "default"

// FSInfo describes a registered filesystem.
type FSInfo struct {
	Name    string
	ID      uint32
	Created time.Time
}

const (
	regPrefix    = 'M'
	regName      = 'n'
	regCounter   = 'c'
	regVersion   = 1
	regLive      = 0
	regDeleting  = 1
	maxFSName    = 64
	deleteFSKeys = 1024
)

func regNameKey(name string) []byte { return append([]byte{regPrefix, regName}, name...) }
func regCounterKey() []byte         { return []byte{regPrefix, regCounter} }

type regRecord struct {
	id      uint32
	created int64
	state   byte
}

func (r regRecord) encode() []byte {
	b := []byte{regVersion}
	b = binary.BigEndian.AppendUint32(b, r.id)
	b = binary.BigEndian.AppendUint64(b, uint64(r.created))
	return append(b, r.state)
}

func decodeReg(b []byte) (regRecord, bool) {
	if len(b) < 14 || b[0] != regVersion {
		return regRecord{}, false
	}
	return regRecord{id: binary.BigEndian.Uint32(b[1:]), created: int64(binary.BigEndian.Uint64(b[5:])), state: b[13]}, true
}

func (r regRecord) info(name string) FSInfo {
	return FSInfo{Name: name, ID: r.id, Created: time.Unix(0, r.created)}
}

func checkFSName(op, name string) error {
	if name == "" || len(name) > maxFSName || name == "." || name == ".." {
		return fserr.Errorf(op, fserr.Invalid, "meta: filesystem name %q: want 1 to %d of [a-zA-Z0-9._-]", name, maxFSName)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fserr.Errorf(op, fserr.Invalid, "meta: filesystem name %q: want 1 to %d of [a-zA-Z0-9._-]", name, maxFSName)
		}
	}
	return nil
}

func getReg(tx kv.ReadTxn, name string) (regRecord, bool, error) {
	v, err := tx.Get(regNameKey(name))
	if errors.Is(err, kv.ErrNotFound) {
		return regRecord{}, false, nil
	}
	if err != nil {
		return regRecord{}, false, err
	}
	r, ok := decodeReg(v)
	if !ok {
		return regRecord{}, false, fserr.Errorf("meta.registry", fserr.Corrupt, "meta: registry record of %q is malformed", name)
	}
	return r, true, nil
}

// CreateFS registers and formats a new filesystem. Exist if the name is
// taken.
func CreateFS(ctx context.Context, eng kv.Engine, name string) (FSInfo, error) {
	const op = "meta.CreateFS"
	if err := checkFSName(op, name); err != nil {
		return FSInfo{}, err
	}
	if name == DefaultFS {
		var info FSInfo
		created := false
		err := eng.Update(ctx, func(tx kv.Txn) error {
			var err error
			info, created, err = ensureDefault(tx)
			return err
		})
		if err == nil && !created {
			err = fserr.E(op, name, fserr.Exist)
		}
		return info, wrap(op, name, err)
	}
	var rec regRecord
	err := eng.Update(ctx, func(tx kv.Txn) error {
		_, found, err := getReg(tx, name)
		if err != nil {
			return err
		}
		if found {
			return fserr.E(op, name, fserr.Exist)
		}
		v, err := tx.Get(regCounterKey())
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		id := uint32(2)
		if len(v) == 4 {
			id = binary.BigEndian.Uint32(v)
		}
		for ; ; id++ {
			if id == 0 {
				return fserr.Errorf(op, fserr.NoSpace, "meta: create fs: filesystem ids exhausted")
			}
			k := newKeys(id)
			if _, err := tx.Get(k.format()); errors.Is(err, kv.ErrNotFound) {
				break
			} else if err != nil {
				return err
			}
		}
		if err := tx.Put(regCounterKey(), binary.BigEndian.AppendUint32(nil, id+1)); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		rec = regRecord{id: id, created: now}
		if err := tx.Put(regNameKey(name), rec.encode()); err != nil {
			return err
		}
		k := newKeys(id)
		return formatTx(tx, &k, name, now)
	})
	if err != nil {
		return FSInfo{}, wrap(op, name, err)
	}
	return rec.info(name), nil
}

// ensureDefault registers "default" as id 1 (formatting it if the engine
// has no filesystem 1 yet) unless it is registered.
func ensureDefault(tx kv.Txn) (FSInfo, bool, error) {
	r, found, err := getReg(tx, DefaultFS)
	if err != nil || found {
		return r.info(DefaultFS), false, err
	}
	now := time.Now().UnixNano()
	r = regRecord{id: 1, created: now}
	if err := tx.Put(regNameKey(DefaultFS), r.encode()); err != nil {
		return FSInfo{}, false, err
	}
	k := newKeys(1)
	if _, err := tx.Get(k.format()); errors.Is(err, kv.ErrNotFound) {
		if err := formatTx(tx, &k, "", now); err != nil {
			return FSInfo{}, false, err
		}
	} else if err != nil {
		return FSInfo{}, false, err
	}
	return r.info(DefaultFS), true, nil
}

// EnsureDefaultFS registers the "default" filesystem (id 1) if it is not.
func EnsureDefaultFS(ctx context.Context, eng kv.Engine) (FSInfo, error) {
	const op = "meta.EnsureDefaultFS"
	var info FSInfo
	err := eng.Update(ctx, func(tx kv.Txn) error {
		var err error
		info, _, err = ensureDefault(tx)
		return err
	})
	return info, wrap(op, DefaultFS, err)
}

// ListFS lists the registered filesystems by name.
func ListFS(ctx context.Context, eng kv.Engine) ([]FSInfo, error) {
	const op = "meta.ListFS"
	var out []FSInfo
	err := eng.View(ctx, func(tx kv.ReadTxn) error {
		out = out[:0]
		start := regNameKey("")
		pairs, err := tx.Scan(start, kv.PrefixEnd(start), 0, false)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			name := string(p.Key[len(start):])
			r, ok := decodeReg(p.Value)
			if !ok {
				return fserr.Errorf(op, fserr.Corrupt, "meta: registry record of %q is malformed", name)
			}
			if r.state == regLive {
				out = append(out, r.info(name))
			}
		}
		return nil
	})
	return out, wrap(op, "", err)
}

// LookupFS returns the filesystem registered as name (NotExist if none).
func LookupFS(ctx context.Context, eng kv.Engine, name string) (FSInfo, error) {
	const op = "meta.LookupFS"
	if err := checkFSName(op, name); err != nil {
		return FSInfo{}, err
	}
	var r regRecord
	err := eng.View(ctx, func(tx kv.ReadTxn) error {
		var found bool
		var err error
		r, found, err = getReg(tx, name)
		if err == nil && (!found || r.state != regLive) {
			err = fserr.E(op, name, fserr.NotExist)
		}
		return err
	})
	if err != nil {
		return FSInfo{}, wrap(op, name, err)
	}
	return r.info(name), nil
}

// DeleteFS removes a filesystem that holds nothing but its root: every
// key of it, in bounded transactions (an interrupted deletion is finished
// by calling DeleteFS again). The caller deletes its blocks and must not
// serve it meanwhile. "default" cannot be deleted (NotPermitted).
func DeleteFS(ctx context.Context, eng kv.Engine, name string) error {
	const op = "meta.DeleteFS"
	if err := checkFSName(op, name); err != nil {
		return err
	}
	if name == DefaultFS {
		return fserr.E(op, name, fserr.NotPermitted)
	}
	var r regRecord
	err := eng.Update(ctx, func(tx kv.Txn) error {
		var found bool
		var err error
		r, found, err = getReg(tx, name)
		if err != nil {
			return err
		}
		if !found {
			return fserr.E(op, name, fserr.NotExist)
		}
		if r.state == regDeleting {
			return nil
		}
		k := newKeys(r.id)
		start, end := k.under(tagDentry, uint64(RootIno))
		pairs, err := tx.Scan(start, end, 1, false)
		if err != nil {
			return err
		}
		if len(pairs) > 0 {
			return fserr.E(op, name, fserr.NotEmpty)
		}
		r.state = regDeleting
		return tx.Put(regNameKey(name), r.encode())
	})
	if err != nil {
		return wrap(op, name, err)
	}
	k := newKeys(r.id)
	start, end := k.pfx[:], prefixEnd(k.pfx[:])
	for {
		done := false
		err := eng.Update(ctx, func(tx kv.Txn) error {
			pairs, err := tx.Scan(start, end, deleteFSKeys, false)
			if err != nil {
				return err
			}
			done = len(pairs) < deleteFSKeys
			for _, p := range pairs {
				if err := tx.Delete(p.Key); err != nil {
					return err
				}
			}
			if done {
				return tx.Delete(regNameKey(name))
			}
			return nil
		})
		if err != nil {
			return wrap(op, name, err)
		}
		if done {
			return nil
		}
	}
}
