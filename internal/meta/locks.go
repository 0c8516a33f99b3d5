package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"math"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Advisory file locks (fcntl record locks and flock) live in the engine so
// that they hold between every client of the filesystem: two mounts, a
// mount and an SDK. A lock belongs to a session and an owner within it
// (FUSE's lock owner for a POSIX lock, the open file for a flock); the
// session's end or expiry releases all of its locks (cleanSession).
//
// Records: K ino kind sess owner start -> end type pid, one per held
// range, and P sess ino -> "" while the session holds any lock on ino, so
// that cleaning a session finds its locks without scanning every inode.
// A caller's own ranges of one kind never overlap and same-type ranges
// that touch are merged, as POSIX keeps them.

// LockType is the mode of a lock.
type LockType uint8

// Lock types. Unlock releases a range.
const (
	Unlock LockType = iota
	ReadLock
	WriteLock
)

// LockEOF is the End of a range that runs to the end of the file (and
// beyond, as Linux's l_len 0).
const LockEOF = math.MaxUint64

// Lock describes a held or wanted lock on one inode.
type Lock struct {
	// Flock selects flock's lock space; POSIX record locks are a separate
	// one, as on Linux (the two never conflict with each other).
	Flock bool
	// Owner identifies the holder within its session. Flock locks are
	// whole-file (Start 0, End LockEOF).
	Owner      uint64
	Type       LockType
	Start, End uint64 // inclusive byte range
	PID        uint32 // reported by GetLock
	Session    uint64 // the holding session; set by GetLock
}

var (
	_ Locker = (*FS)(nil)
	_ Locker = (*Session)(nil)
)

func lockKind(flock bool) byte {
	if flock {
		return 'f'
	}
	return 'p'
}

func (k *keys) lockPrefix(ino Ino, kind byte) []byte {
	b := binary.BigEndian.AppendUint64(k.tag(tagLock, 8+1+24), uint64(ino))
	return append(b, kind)
}

func (k *keys) lock(ino Ino, kind byte, sess, owner, start uint64) []byte {
	b := k.lockPrefix(ino, kind)
	b = binary.BigEndian.AppendUint64(b, sess)
	b = binary.BigEndian.AppendUint64(b, owner)
	return binary.BigEndian.AppendUint64(b, start)
}

func (k *keys) lockIdx(sess uint64, ino Ino) []byte { return k.u64u64(tagLockIdx, sess, uint64(ino)) }

type lockRec struct {
	sess, owner, start, end uint64
	typ                     LockType
	pid                     uint32
}

func (r *lockRec) value() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 13), r.end)
	b = append(b, byte(r.typ))
	return binary.BigEndian.AppendUint32(b, r.pid)
}

func decodeLock(key, val []byte) (lockRec, bool) {
	off := pfxLen + 1 + 8 + 1
	if len(key) != off+24 || len(val) != 13 {
		return lockRec{}, false
	}
	return lockRec{sess: u64(key[off:]), owner: u64(key[off+8:]), start: u64(key[off+16:]),
		end: u64(val), typ: LockType(val[8]), pid: binary.BigEndian.Uint32(val[9:])}, true
}

func (r *lockRec) overlaps(start, end uint64) bool { return r.start <= end && start <= r.end }

func checkLock(op string, l *Lock) error {
	if l.Type > WriteLock {
		return fserr.Errorf(op, fserr.Invalid, "meta: lock: bad type %d", l.Type)
	}
	if l.Flock {
		l.Start, l.End = 0, LockEOF
	}
	if l.Start > l.End {
		return fserr.Errorf(op, fserr.Invalid, "meta: lock: range %d-%d ends before it starts", l.Start, l.End)
	}
	return nil
}

// scanLocks reads every lock of one kind on ino.
func (fs *FS) scanLocks(tx kv.ReadTxn, ino Ino, kind byte) ([]lockRec, error) {
	start := fs.k.lockPrefix(ino, kind)
	pairs, err := tx.Scan(start, prefixEnd(start), 0, false)
	if err != nil {
		return nil, err
	}
	out := make([]lockRec, 0, len(pairs))
	for _, p := range pairs {
		if r, ok := decodeLock(p.Key, p.Value); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func conflicts(r *lockRec, sess uint64, l *Lock) bool {
	if r.sess == sess && r.owner == l.Owner {
		return false
	}
	return r.overlaps(l.Start, l.End) && (r.typ == WriteLock || l.Type == WriteLock)
}

// SetLock sets a lock for the process's built-in session.
func (fs *FS) SetLock(ctx context.Context, ino Ino, l Lock) error {
	return fs.own.SetLock(ctx, ino, l)
}

// GetLock tests a lock for the process's built-in session.
func (fs *FS) GetLock(ctx context.Context, ino Ino, l Lock) (Lock, error) {
	return fs.own.GetLock(ctx, ino, l)
}

// SetLock implements Locker in one transaction.
func (s *Session) SetLock(ctx context.Context, ino Ino, l Lock) error {
	const op = "meta.SetLock"
	if err := s.alive(op); err != nil {
		return err
	}
	if err := checkLock(op, &l); err != nil {
		return err
	}
	fs, kind := s.fs, lockKind(l.Flock)
	err := fs.eng.Update(ctx, func(tx kv.Txn) error {
		// Reading the session record makes this transaction conflict with
		// the one of cleanSession that deletes it: no lock outlives its
		// session.
		if _, err := tx.Get(fs.k.session(s.id)); err != nil {
			if errors.Is(err, kv.ErrNotFound) {
				return errSessionGone(op, s.id)
			}
			return err
		}
		if l.Type != Unlock {
			var n node
			if err := getNode(tx, &fs.k, ino, &n); err != nil {
				return err
			}
		}
		all, err := fs.scanLocks(tx, ino, kind)
		if err != nil {
			return err
		}
		var mine []lockRec
		for i := range all {
			r := &all[i]
			if l.Type != Unlock && conflicts(r, s.id, &l) {
				return fserr.Errorf(op, fserr.Conflict, "meta: lock: range %d-%d of inode %d is held by session %d (pid %d)",
					max(r.start, l.Start), min(r.end, l.End), ino, r.sess, r.pid)
			}
			if r.sess == s.id && r.owner == l.Owner {
				mine = append(mine, *r)
			}
		}
		next := applyLock(mine, lockRec{sess: s.id, owner: l.Owner, start: l.Start, end: l.End, typ: l.Type, pid: l.PID})
		for _, r := range mine {
			if err := tx.Delete(fs.k.lock(ino, kind, r.sess, r.owner, r.start)); err != nil {
				return err
			}
		}
		for _, r := range next {
			if err := tx.Put(fs.k.lock(ino, kind, r.sess, r.owner, r.start), r.value()); err != nil {
				return err
			}
		}
		if len(next) > 0 {
			return tx.Put(fs.k.lockIdx(s.id, ino), nil)
		}
		// The index record goes once the session holds nothing on ino,
		// of either kind and any owner; the owner's own records of this
		// kind were just deleted (a scan may or may not show them).
		for _, k := range []byte{'p', 'f'} {
			start := binary.BigEndian.AppendUint64(fs.k.lockPrefix(ino, k), s.id)
			pairs, err := tx.Scan(start, prefixEnd(start), 0, false)
			if err != nil {
				return err
			}
			for _, p := range pairs {
				if k != kind || u64(p.Key[len(start):]) != l.Owner {
					return nil
				}
			}
		}
		return tx.Delete(fs.k.lockIdx(s.id, ino))
	})
	return wrap(op, "", err)
}

// applyLock returns the owner's ranges after setting want over mine
// (sorted by start, disjoint): the parts of mine outside want are kept,
// want itself is added unless it is Unlock, and same-type ranges that
// overlap or touch are merged.
func applyLock(mine []lockRec, want lockRec) []lockRec {
	var out []lockRec
	for _, r := range mine {
		if !r.overlaps(want.start, want.end) {
			out = append(out, r)
			continue
		}
		if r.start < want.start {
			lo := r
			lo.end = want.start - 1
			out = append(out, lo)
		}
		if r.end > want.end {
			hi := r
			hi.start = want.end + 1
			out = append(out, hi)
		}
	}
	if want.typ == Unlock {
		return out
	}
	merged := want
	kept := out[:0]
	for _, r := range out {
		touches := (r.end != LockEOF && r.end+1 == merged.start) || (merged.end != LockEOF && merged.end+1 == r.start)
		if r.typ == merged.typ && (touches || r.overlaps(merged.start, merged.end)) {
			merged.start, merged.end = min(merged.start, r.start), max(merged.end, r.end)
			continue
		}
		kept = append(kept, r)
	}
	return append(kept, merged)
}

// GetLock implements Locker.
func (s *Session) GetLock(ctx context.Context, ino Ino, l Lock) (Lock, error) {
	const op = "meta.GetLock"
	if err := s.alive(op); err != nil {
		return Lock{}, err
	}
	if err := checkLock(op, &l); err != nil {
		return Lock{}, err
	}
	if l.Type == Unlock {
		return Lock{}, fserr.Errorf(op, fserr.Invalid, "meta: get lock: type Unlock tests nothing")
	}
	fs := s.fs
	var out Lock
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		all, err := fs.scanLocks(tx, ino, lockKind(l.Flock))
		if err != nil {
			return err
		}
		for i := range all {
			if r := &all[i]; conflicts(r, s.id, &l) {
				out = Lock{Flock: l.Flock, Owner: r.owner, Type: r.typ, Start: r.start, End: r.end, PID: r.pid, Session: r.sess}
				return nil
			}
		}
		return nil
	})
	return out, wrap(op, "", err)
}

// cleanLocksInTxn deletes session sess's locks on ino and the index
// record P sess ino.
func (fs *FS) cleanLocksInTxn(tx kv.Txn, sess uint64, ino Ino) error {
	for _, kind := range []byte{'p', 'f'} {
		start := binary.BigEndian.AppendUint64(fs.k.lockPrefix(ino, kind), sess)
		pairs, err := tx.Scan(start, prefixEnd(start), 0, false)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			if err := tx.Delete(p.Key); err != nil {
				return err
			}
		}
	}
	return tx.Delete(fs.k.lockIdx(sess, ino))
}
