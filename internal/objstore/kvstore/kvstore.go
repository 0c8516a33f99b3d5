// Package kvstore is an objstore.Store that keeps objects as values in a
// kv.Engine, for small objects: writing one is one engine commit instead of
// a file create, write and rename, so small-file workloads are no longer
// bounded by the host filesystem's file-creation rate. It is meant to sit
// under a size threshold in front of a file store (package tiered).
//
// Layout under the store's prefix P: P+"h"+key holds a 16-byte header
// (size and modification time, big endian) and P+"d"+key the object's
// bytes. Head and List read only headers, which are small and stay in the
// engine's tree; only Get reads the data values, which Badger keeps in its
// value log (an append-only file) from 64 KiB up.
//
// Invariants:
//   - An object's header and data are written and deleted in one
//     transaction, so a header exists exactly when its data does, and
//     readers see the old or the new object, never a mix.
//   - Objects larger than Options.MaxObject are refused (kind TooBig): an
//     engine bounds what one transaction may hold.
//   - The store never closes the engine; its owner does (it may be shared
//     with metadata).
//
// Space: Delete removes both keys in one commit. With Badger the bytes of
// a deleted (or overwritten) object stay in the value log until value-log
// garbage collection rewrites the file holding them. Badger picks the file
// from discard statistics that LSM compactions record as they drop dead
// entries, and the kv/badger engine runs that GC every
// badger.Options.GCInterval (10 minutes by default), rewriting files at
// least half garbage. So space comes back lazily, after the deletes have
// been compacted and a GC pass has run; until then small-object data may
// take up to about twice its live size. Objects below Badger's
// ValueThreshold (64 KiB) live in the LSM tree instead, and compaction
// reclaims them (at the cost of rewriting them on every level).
package kvstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/objstore"
)

// Options configure a Store. The zero value works.
type Options struct {
	// MaxObject is the largest object Put accepts (default 256 KiB). It
	// must fit in one engine transaction: with Badger, values at or
	// above its ValueThreshold go to the value log and do not count
	// towards the transaction limit, so a few MiB is fine there; an
	// in-memory Badger or a networked engine (etcd: 1.5 MiB requests)
	// needs it lower.
	MaxObject int
}

// DefaultMaxObject is Options.MaxObject's default.
const DefaultMaxObject = 256 << 10

// EnsureDefaults fills in zero fields.
func (o *Options) EnsureDefaults() {
	if o.MaxObject == 0 {
		o.MaxObject = DefaultMaxObject
	}
}

const headerLen = 16

var errClosed = errors.New("objstore/kvstore: store closed")

// Store keeps objects in a kv.Engine. The zero value is not usable; call
// New.
type Store struct {
	eng    kv.Engine
	hdr    []byte // prefix + 'h'
	dat    []byte // prefix + 'd'
	opts   Options
	closed atomic.Bool

	// group shares engine syncs between concurrent Sync calls: a caller
	// needs a sync that started after its call, and one sync serves every
	// caller that arrived before it started.
	group struct {
		mu      sync.Mutex
		cond    *sync.Cond
		started uint64 // syncs started
		done    uint64 // number of the last sync finished
		running bool
		err     error // result of sync number done
	}
}

var (
	_ objstore.Store  = (*Store)(nil)
	_ objstore.Syncer = (*Store)(nil)
)

// New returns a store keeping its objects in eng under prefix. Two stores
// over one engine must use prefixes neither of which starts with the
// other.
func New(eng kv.Engine, prefix []byte, opts Options) *Store {
	opts.EnsureDefaults()
	p := bytes.Clone(prefix)
	s := &Store{
		eng:  eng,
		hdr:  append(p[:len(p):len(p)], 'h'),
		dat:  append(p[:len(p):len(p)], 'd'),
		opts: opts,
	}
	s.group.cond = sync.NewCond(&s.group.mu)
	return s
}

// MaxObject returns the largest object Put accepts.
func (s *Store) MaxObject() int { return s.opts.MaxObject }

func (s *Store) hkey(key string) []byte { return append(bytes.Clone(s.hdr), key...) }
func (s *Store) dkey(key string) []byte { return append(bytes.Clone(s.dat), key...) }

func (s *Store) check(op, key string) error {
	if s.closed.Load() {
		return fserr.E(op, key, fserr.Closed, errClosed)
	}
	return nil
}

func notFound(op, key string) error {
	return fserr.E(op, key, fserr.NotExist, objstore.ErrNotFound)
}

func encodeHeader(size int, mtime time.Time) []byte {
	var h [headerLen]byte
	binary.BigEndian.PutUint64(h[:8], uint64(size))
	binary.BigEndian.PutUint64(h[8:], uint64(mtime.UnixNano()))
	return h[:]
}

func decodeHeader(op, key string, h []byte) (objstore.Info, error) {
	if len(h) != headerLen {
		return objstore.Info{}, fserr.Errorf(op, fserr.Corrupt, "objstore/kvstore: %q: header of %d bytes, want %d", key, len(h), headerLen)
	}
	return objstore.Info{
		Key:     key,
		Size:    int64(binary.BigEndian.Uint64(h[:8])),
		ModTime: time.Unix(0, int64(binary.BigEndian.Uint64(h[8:]))),
	}, nil
}

// wrap gives engine errors this store's op and key; context errors pass
// through untouched.
func wrap(op, key string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var fe *fserr.Error
	if errors.As(err, &fe) && fe.Op == op {
		return err
	}
	return fserr.E(op, key, err)
}

// Get implements objstore.Store. The whole value is read and sliced: the
// objects are small by construction.
func (s *Store) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	const op = "objstore/kvstore.Get"
	if err := s.check(op, key); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fserr.Errorf(op, fserr.Invalid, "objstore/kvstore: negative offset %d", off)
	}
	var out []byte
	err := s.eng.View(ctx, func(t kv.ReadTxn) error {
		v, err := t.Get(s.dkey(key))
		if errors.Is(err, kv.ErrNotFound) {
			return notFound(op, key)
		}
		if err != nil {
			return err
		}
		n := int64(len(v))
		if off >= n {
			out = []byte{}
			return nil
		}
		end := n
		if length >= 0 && off+length < n {
			end = off + length
		}
		// Engines return copies; a sub-slice is ours to hand out, but
		// keep only what was asked for when that is much less.
		if end-off < n/2 {
			out = bytes.Clone(v[off:end])
		} else {
			out = v[off:end:end]
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, key, err)
	}
	return out, nil
}

// Put implements objstore.Store as one transaction of two blind writes,
// which never conflict.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	const op = "objstore/kvstore.Put"
	if err := s.check(op, key); err != nil {
		return err
	}
	if key == "" {
		return fserr.Errorf(op, fserr.Invalid, "objstore/kvstore: empty key")
	}
	if len(data) > s.opts.MaxObject {
		return fserr.E(op, key, fserr.TooBig, fmt.Errorf("objstore/kvstore: object of %d bytes exceeds MaxObject %d", len(data), s.opts.MaxObject))
	}
	h := encodeHeader(len(data), time.Now())
	hk, dk := s.hkey(key), s.dkey(key)
	err := s.eng.Update(ctx, func(t kv.Txn) error {
		if err := t.Put(hk, h); err != nil {
			return err
		}
		return t.Put(dk, data)
	})
	return wrap(op, key, err)
}

// Delete implements objstore.Store. A missing key writes nothing, so
// deleting what was never here (the tiered store's common case) costs a
// read, not a commit.
func (s *Store) Delete(ctx context.Context, key string) error {
	const op = "objstore/kvstore.Delete"
	if err := s.check(op, key); err != nil {
		return err
	}
	hk := s.hkey(key)
	err := s.eng.Update(ctx, func(t kv.Txn) error {
		if _, err := t.Get(hk); errors.Is(err, kv.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if err := t.Delete(hk); err != nil {
			return err
		}
		return t.Delete(s.dkey(key))
	})
	return wrap(op, key, err)
}

// Head implements objstore.Store from the header alone.
func (s *Store) Head(ctx context.Context, key string) (objstore.Info, error) {
	const op = "objstore/kvstore.Head"
	if err := s.check(op, key); err != nil {
		return objstore.Info{}, err
	}
	var info objstore.Info
	err := s.eng.View(ctx, func(t kv.ReadTxn) error {
		h, err := t.Get(s.hkey(key))
		if errors.Is(err, kv.ErrNotFound) {
			return notFound(op, key)
		}
		if err != nil {
			return err
		}
		info, err = decodeHeader(op, key, h)
		return err
	})
	if err != nil {
		return objstore.Info{}, wrap(op, key, err)
	}
	return info, nil
}

// Contains reports, for each key, whether the store holds it, in one
// snapshot. The tiered store uses it to route Sync.
func (s *Store) Contains(ctx context.Context, keys []string) ([]bool, error) {
	const op = "objstore/kvstore.Contains"
	if err := s.check(op, ""); err != nil {
		return nil, err
	}
	out := make([]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	ks := make([][]byte, len(keys))
	for i, k := range keys {
		ks[i] = s.hkey(k)
	}
	err := s.eng.View(ctx, func(t kv.ReadTxn) error {
		vs, err := t.GetMany(ks)
		if err != nil {
			return err
		}
		for i, v := range vs {
			out[i] = v != nil
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, "", err)
	}
	return out, nil
}

// List implements objstore.Store with one scan of the headers.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]objstore.Info, error) {
	const op = "objstore/kvstore.List"
	if err := s.check(op, prefix); err != nil {
		return nil, err
	}
	start := s.hkey(prefix)
	if after >= prefix {
		// The smallest key sorting strictly after `after`.
		start = append(s.hkey(after), 0)
	}
	end := kv.PrefixEnd(s.hkey(prefix))
	if end != nil && bytes.Compare(start, end) >= 0 {
		return nil, nil
	}
	var out []objstore.Info
	err := s.eng.View(ctx, func(t kv.ReadTxn) error {
		pairs, err := t.Scan(start, end, max(limit, 0), false)
		if err != nil {
			return err
		}
		out = make([]objstore.Info, 0, len(pairs))
		for _, p := range pairs {
			key := string(p.Key[len(s.hdr):])
			info, err := decodeHeader(op, key, p.Value)
			if err != nil {
				return err
			}
			out = append(out, info)
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, prefix, err)
	}
	return out, nil
}

// Sync implements objstore.Syncer: it checks that the keys exist, then
// syncs the whole engine (one call whatever the number of keys) if the
// engine can sync; an engine that cannot is durable at commit.
func (s *Store) Sync(ctx context.Context, keys []string) error {
	const op = "objstore/kvstore.Sync"
	if len(keys) == 0 {
		return s.check(op, "")
	}
	have, err := s.Contains(ctx, keys)
	if err != nil {
		return wrap(op, "", err)
	}
	if sy, ok := s.eng.(kv.Syncer); ok {
		if err := s.syncShared(sy); err != nil {
			return wrap(op, "", err)
		}
	}
	for i, ok := range have {
		if !ok {
			return notFound(op, keys[i])
		}
	}
	return nil
}

// syncShared runs sy.Sync, or waits for one that started after this call.
func (s *Store) syncShared(sy kv.Syncer) error {
	g := &s.group
	g.mu.Lock()
	defer g.mu.Unlock()
	// The next sync to start is the first one sure to follow our commits
	// (a running one may have started before them).
	need := g.started + 1
	for g.done < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		n := g.started
		g.mu.Unlock()
		err := sy.Sync()
		g.mu.Lock()
		g.running = false
		g.done, g.err = n, err
		g.cond.Broadcast()
	}
	return g.err
}

// Close implements objstore.Store. It does not close the engine.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}
