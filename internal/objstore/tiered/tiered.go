// Package tiered is an objstore.Store that routes objects by size: those
// up to a threshold go to a small-object store (a kvstore over the
// metadata engine's kind of KV engine, where a Put is one commit), larger
// ones to a large-object store (the file store). Small files then cost an
// engine write instead of a file creation, which is what bounds them on a
// local filesystem.
//
// Reads try the small tier first: a miss there is a cheap engine read
// (bloom filters keep it off the disk), and checking it first is what
// makes an overwrite that moves a key between tiers safe.
//
// Invariants (the small tier is authoritative for a key it holds):
//   - A key is in the small tier, the large tier, or neither; a copy of
//     it in the large tier while the small tier holds it is stale and
//     invisible (Get, Head, List, OpenFile and Sync all consult the small
//     tier first), and is removed by Delete.
//   - Put of a large object writes the large tier, then deletes any copy
//     in the small tier (it would shadow the new object); readers see the
//     old object until that delete commits, then the new one.
//   - Delete removes the large copy before the small one, so a stale
//     large copy never shows through between the two.
//
// Overwrites are allowed by the objstore contract but rare in Shoal
// (blocks are immutable); a Put of a small object over a large one leaves
// the stale large file until the key is deleted rather than paying an
// unlink on every small Put.
package tiered

import (
	"context"
	"errors"
	"os"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
)

// Store routes objects between two stores by size. The zero value is not
// usable; call New.
type Store struct {
	small, large objstore.Store
	threshold    int
}

var (
	_ objstore.Store  = (*Store)(nil)
	_ objstore.Syncer = (*Store)(nil)
)

// New returns a store putting objects of at most threshold bytes in small
// and the rest in large. A small tier that states its largest object
// (kvstore's MaxObject) lowers threshold to it. The Store owns both
// tiers: Close closes them.
func New(small, large objstore.Store, threshold int) *Store {
	if m, ok := small.(interface{ MaxObject() int }); ok {
		threshold = min(threshold, m.MaxObject())
	}
	return &Store{small: small, large: large, threshold: threshold}
}

// Threshold returns the largest object size kept in the small tier.
func (s *Store) Threshold() int { return s.threshold }

func isNotFound(err error) bool { return errors.Is(err, objstore.ErrNotFound) }

// Get implements objstore.Store.
func (s *Store) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	b, err := s.small.Get(ctx, key, off, length)
	if !isNotFound(err) {
		return b, err
	}
	return s.large.Get(ctx, key, off, length)
}

// Put implements objstore.Store.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if len(data) <= s.threshold {
		return s.small.Put(ctx, key, data)
	}
	if err := s.large.Put(ctx, key, data); err != nil {
		return err
	}
	// Checked before deleting: a Delete may be a commit, and nearly every
	// large Put has nothing to delete.
	if ok, err := s.inSmall(ctx, key); err != nil || !ok {
		return err
	}
	return s.small.Delete(ctx, key)
}

// inSmall reports whether the small tier holds key.
func (s *Store) inSmall(ctx context.Context, key string) (bool, error) {
	_, err := s.small.Head(ctx, key)
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// Delete implements objstore.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.large.Delete(ctx, key); err != nil {
		return err
	}
	return s.small.Delete(ctx, key)
}

// Head implements objstore.Store.
func (s *Store) Head(ctx context.Context, key string) (objstore.Info, error) {
	info, err := s.small.Head(ctx, key)
	if !isNotFound(err) {
		return info, err
	}
	return s.large.Head(ctx, key)
}

// List implements objstore.Store by merging both tiers' listings. The
// first limit keys of the union are among the first limit of either
// tier, so one page from each suffices.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]objstore.Info, error) {
	a, err := s.small.List(ctx, prefix, after, limit)
	if err != nil {
		return nil, err
	}
	b, err := s.large.List(ctx, prefix, after, limit)
	if err != nil {
		return nil, err
	}
	if len(a) == 0 {
		return b, nil
	}
	out := make([]objstore.Info, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0].Key < b[0].Key:
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || b[0].Key < a[0].Key:
			out, b = append(out, b[0]), b[1:]
		default: // in both: the large copy is stale
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// containser is implemented by small tiers that can tell which of many
// keys they hold in one read (kvstore).
type containser interface {
	Contains(ctx context.Context, keys []string) ([]bool, error)
}

// Sync implements objstore.Syncer: keys held by the small tier are synced
// there, the others in the large tier. A tier that is not a Syncer is
// durable at Put; its keys are still checked to exist.
func (s *Store) Sync(ctx context.Context, keys []string) error {
	const op = "objstore/tiered.Sync"
	if len(keys) == 0 {
		return nil
	}
	have, err := s.smallHas(ctx, keys)
	if err != nil {
		return err
	}
	var smallKeys, largeKeys []string
	for i, k := range keys {
		if have[i] {
			smallKeys = append(smallKeys, k)
		} else {
			largeKeys = append(largeKeys, k)
		}
	}
	// Both run even if one fails, so that one missing key does not stop
	// the others from being synced; an I/O error wins over NotExist.
	errS := syncOrHead(ctx, s.small, smallKeys)
	errL := syncOrHead(ctx, s.large, largeKeys)
	for _, err := range []error{errS, errL} {
		if err != nil && !isNotFound(err) {
			return fserr.E(op, err)
		}
	}
	if errS != nil {
		return errS
	}
	return errL
}

func (s *Store) smallHas(ctx context.Context, keys []string) ([]bool, error) {
	if c, ok := s.small.(containser); ok {
		return c.Contains(ctx, keys)
	}
	have := make([]bool, len(keys))
	for i, k := range keys {
		ok, err := s.inSmall(ctx, k)
		if err != nil {
			return nil, err
		}
		have[i] = ok
	}
	return have, nil
}

// syncOrHead syncs keys in st, or, for a store durable at Put, checks
// that they exist.
func syncOrHead(ctx context.Context, st objstore.Store, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if sy, ok := st.(objstore.Syncer); ok {
		return sy.Sync(ctx, keys)
	}
	var missing error
	for _, k := range keys {
		if _, err := st.Head(ctx, k); err != nil {
			if !isNotFound(err) {
				return err
			}
			if missing == nil {
				missing = err
			}
		}
	}
	return missing
}

// fileOpener is blockserver.FileOpener, declared here to keep the
// import graph pointing down.
type fileOpener interface {
	OpenFile(ctx context.Context, key string) (*os.File, error)
}

// OpenFile returns the large tier's file for key, for serving it with
// sendfile. A key held by the small tier, or a large tier without files,
// gives an error of kind NotExist wrapping objstore.ErrNotFound: the
// caller reads the object with Get instead.
func (s *Store) OpenFile(ctx context.Context, key string) (*os.File, error) {
	const op = "objstore/tiered.OpenFile"
	fo, ok := s.large.(fileOpener)
	if !ok {
		return nil, fserr.E(op, key, fserr.NotExist, objstore.ErrNotFound)
	}
	// Checked first: a stale large copy of a key the small tier now
	// holds must not be served.
	if ok, err := s.inSmall(ctx, key); err != nil {
		return nil, err
	} else if ok {
		return nil, fserr.E(op, key, fserr.NotExist, objstore.ErrNotFound)
	}
	return fo.OpenFile(ctx, key)
}

// Close implements objstore.Store, closing both tiers.
func (s *Store) Close() error {
	errS, errL := s.small.Close(), s.large.Close()
	if errS != nil {
		return errS
	}
	return errL
}
