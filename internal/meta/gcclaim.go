package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/shoalfs/shoal/internal/kv"
)

// The collector's claim: on a shared engine several meta processes run a
// GC loop over one filesystem, and only the holder of this claim collects
// (Reclaim, the freed slices, the sweep of dead sessions' ranges), so no
// two delete the same garbage. The claim lives in the engine, not in any
// process's memory:
//
//	K   owner length, owner, expires (ns)
//
// A holder renews it before every pass; when it dies the claim lapses
// after its TTL and another process takes it. The claim guards against
// double work, not against losing data: what a pass deletes (blocks of
// slices with no reference left, uncommitted blocks of dead sessions) is
// garbage whoever deletes it, and every step is idempotent.

func (k *keys) gcClaim() []byte { return k.tag(tagGCClaim, 0) }

// ClaimGC takes or renews the collector's claim for owner, for ttl from
// now. It reports whether owner holds it; false means another live owner
// does.
func (fs *FS) ClaimGC(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	const op = "meta.ClaimGC"
	if err := fs.check(op); err != nil {
		return false, err
	}
	held := false
	err := fs.eng.Update(ctx, func(tx kv.Txn) error {
		held = false
		now := time.Now()
		v, err := tx.Get(fs.k.gcClaim())
		if errors.Is(err, kv.ErrNotFound) {
			v, err = nil, nil
		}
		if err != nil {
			return err
		}
		if cur, exp, ok := decodeClaim(v); ok && cur != owner && now.UnixNano() < exp {
			return nil
		}
		held = true
		b := binary.AppendUvarint(nil, uint64(len(owner)))
		b = append(b, owner...)
		b = binary.BigEndian.AppendUint64(b, uint64(now.Add(ttl).UnixNano()))
		return tx.Put(fs.k.gcClaim(), b)
	})
	return held, wrap(op, "", err)
}

// ReleaseGC gives up owner's claim (a clean stop), so another process
// need not wait for it to lapse.
func (fs *FS) ReleaseGC(ctx context.Context, owner string) error {
	const op = "meta.ReleaseGC"
	if err := fs.check(op); err != nil {
		return err
	}
	err := fs.eng.Update(ctx, func(tx kv.Txn) error {
		v, err := tx.Get(fs.k.gcClaim())
		if errors.Is(err, kv.ErrNotFound) {
			v, err = nil, nil
		}
		if err != nil {
			return err
		}
		if cur, _, ok := decodeClaim(v); ok && cur == owner {
			return tx.Delete(fs.k.gcClaim())
		}
		return nil
	})
	return wrap(op, "", err)
}

// GCClaim returns the claim's owner and expiry (ok false when none).
func (fs *FS) GCClaim(ctx context.Context) (owner string, expires time.Time, ok bool, err error) {
	const op = "meta.GCClaim"
	err = fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		v, err := tx.Get(fs.k.gcClaim())
		if errors.Is(err, kv.ErrNotFound) {
			v, err = nil, nil
		}
		if err != nil {
			return err
		}
		var exp int64
		owner, exp, ok = decodeClaim(v)
		expires = time.Unix(0, exp)
		return nil
	})
	return owner, expires, ok, wrap(op, "", err)
}

func decodeClaim(v []byte) (owner string, expires int64, ok bool) {
	n, k := binary.Uvarint(v)
	// n is compared without adding to it: a corrupt length near 2^64
	// would wrap n+8 around and pass.
	if k <= 0 || len(v)-k < 8 || uint64(len(v)-k-8) != n {
		return "", 0, false
	}
	return string(v[k : k+int(n)]), int64(binary.BigEndian.Uint64(v[k+int(n):])), true
}
