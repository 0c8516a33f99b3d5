package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// CopyStats describes an engine's contents as Copy saw them.
type CopyStats struct {
	// Keys and Bytes (keys plus values) copied.
	Keys, Bytes int64
	// Digest is SHA-256 over every key and value in key order, each
	// length-prefixed: two engines with the same digest hold the same
	// pairs.
	Digest [sha256.Size]byte
}

// Batch limits of Copy: below etcd's default --max-txn-ops (128) and
// --max-request-bytes (1.5 MiB), so a copy into an etcd cluster with
// default settings works (a single larger value still goes alone).
const (
	copyBatchKeys  = 100
	copyBatchBytes = 1 << 20
)

// Copy copies every key of src into dst, then reads both back and
// compares their digests (a source that changed meanwhile fails it,
// kind Busy). dst must be empty: a copy never merges into or
// overwrites data (kind Exist otherwise). Neither engine may change
// during the copy, so the processes using src are stopped first; Copy
// does not check that for engines it cannot lock. progress, when set, is
// called after each batch.
func Copy(ctx context.Context, dst, src kv.Engine, progress func(CopyStats)) (CopyStats, error) {
	const op = "storage.Copy"
	var st CopyStats
	empty := true
	err := dst.View(ctx, func(r kv.ReadTxn) error {
		ps, err := r.Scan(nil, nil, 1, false)
		empty = len(ps) == 0
		return err
	})
	if err != nil {
		return st, fserr.E(op, err)
	}
	if !empty {
		return st, fserr.Errorf(op, fserr.Exist, "storage: the destination engine is not empty: copy only into a new one (a fresh etcd prefix, a new PostgreSQL table or database)")
	}
	h := sha256.New()
	var batch []kv.Pair
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := dst.Update(ctx, func(tx kv.Txn) error {
			for _, p := range batch {
				if err := tx.Put(p.Key, p.Value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		batch, size = batch[:0], 0
		if progress != nil {
			progress(st)
		}
		return nil
	}
	err = scanAll(ctx, src, func(p kv.Pair) error {
		if len(batch) > 0 && (len(batch) >= copyBatchKeys || size+len(p.Key)+len(p.Value) > copyBatchBytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, p)
		size += len(p.Key) + len(p.Value)
		st.Keys++
		st.Bytes += int64(len(p.Key) + len(p.Value))
		digest(h, p)
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return st, fserr.E(op, err)
	}
	h.Sum(st.Digest[:0])
	got, err := Digest(ctx, dst)
	if err != nil {
		return st, fserr.E(op, err)
	}
	if got != st {
		return st, fserr.Errorf(op, fserr.IO, "storage: the copy differs from the source: %d keys, %d bytes, digest %x read back; %d keys, %d bytes, digest %x copied",
			got.Keys, got.Bytes, got.Digest[:8], st.Keys, st.Bytes, st.Digest[:8])
	}
	// The source is read a page per transaction, so a process still
	// writing to it (an etcd or PostgreSQL source cannot be locked) makes
	// a torn copy that the check above passes: the copy matches what was
	// read, not the source. Reading the source again catches such a
	// writer, whose acknowledged writes would otherwise be missing from
	// the engine the servers restart on.
	again, err := Digest(ctx, src)
	if err != nil {
		return st, fserr.E(op, err)
	}
	if again != st {
		return st, fserr.Errorf(op, fserr.Busy, "storage: the source changed during the copy (%d keys, %d bytes copied; %d keys, %d bytes now): a process is still writing to it; stop every server using it, then copy into a new, empty destination",
			st.Keys, st.Bytes, again.Keys, again.Bytes)
	}
	return st, nil
}

// Digest reads every pair of e and returns its CopyStats.
func Digest(ctx context.Context, e kv.Engine) (CopyStats, error) {
	var st CopyStats
	h := sha256.New()
	err := scanAll(ctx, e, func(p kv.Pair) error {
		st.Keys++
		st.Bytes += int64(len(p.Key) + len(p.Value))
		digest(h, p)
		return nil
	})
	h.Sum(st.Digest[:0])
	return st, err
}

func digest(h hash.Hash, p kv.Pair) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(p.Key)))])
	h.Write(p.Key)
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(p.Value)))])
	h.Write(p.Value)
}

// scanAll calls fn on every pair of e in key order, a bounded page per
// read transaction (an engine may limit a transaction's size or age).
func scanAll(ctx context.Context, e kv.Engine, fn func(kv.Pair) error) error {
	const page = 256
	var start []byte
	for {
		var ps []kv.Pair
		err := e.View(ctx, func(r kv.ReadTxn) error {
			var err error
			ps, err = r.Scan(start, nil, page, false)
			return err
		})
		if err != nil {
			return err
		}
		for _, p := range ps {
			if start != nil && bytes.Compare(p.Key, start) < 0 {
				return fmt.Errorf("storage: engine scan went backwards at %q", p.Key)
			}
			if err := fn(p); err != nil {
				return err
			}
		}
		if len(ps) < page {
			return nil
		}
		// The next page starts just after the last key.
		start = append(append([]byte(nil), ps[len(ps)-1].Key...), 0)
	}
}
