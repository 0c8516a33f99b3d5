package meta

import (
	"bytes"
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/shoalfs/shoal/internal/kv"
)

// The lookup cache (exclusive mode only). When this process owns the
// engine every write goes through fs.eng, so the cache can be exact: it
// holds the committed values of the keys path walks, opens and small
// reads get (attributes I, dentries D, chunks C, symlink targets L) and
// serves read-only calls (fs.view) without an engine transaction.
//
// Keeping it exact takes three rules, all under the key's shard lock:
//
//   - a write transaction, once its function has returned and before it
//     commits, marks each cacheable key it wrote pending and drops its
//     cached value; nothing is inserted for a pending key, and a cache-only
//     read treats it as a miss, so between that point and the end of the
//     commit every read goes to the engine;
//   - after the commit the marks are removed, and the committed value is
//     installed (write-through) only if no other transaction marked the key
//     meanwhile (pend.w unchanged) and none still has it pending; otherwise
//     the key is left uncached. Removing the marks stamps the shard with a
//     fresh tick of the cache clock;
//   - a read that fills the cache from an engine snapshot takes the clock
//     before the snapshot and inserts only if the shard's stamp is not
//     newer: a commit the snapshot may have missed stamped it since.
//
// A cache-only pass reads each key at a different instant, not one
// snapshot; since a key is never cached while a commit of it is in
// flight, each value it returns was the committed one at the moment it
// was read, which is what a path walk needs (as in the kernel's dcache).
//
// Capacity is bounded per shard with the CLOCK algorithm.

const (
	cacheShards         = 256
	defaultCacheEntries = 1 << 18
)

type lookupCache struct {
	k      keys
	seed   maphash.Seed
	clock  atomic.Uint64
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu      sync.Mutex
	idx     map[string]int32
	slots   []cacheSlot
	free    []int32
	hand    int
	max     int
	pending map[string]*pend
	stamp   uint64 // clock tick of the last commit of a key in the shard
	_       [40]byte
}

type cacheSlot struct {
	key string
	val []byte
	ref bool
}

// pend counts the transactions between marking key and the end of their
// commit; w counts every mark, so a writer can tell whether another one
// marked the key during its own commit.
type pend struct {
	n int32
	w uint64
}

func newLookupCache(k keys, entries int) *lookupCache {
	c := &lookupCache{k: k, seed: maphash.MakeSeed()}
	per := max(entries/cacheShards, 4)
	for i := range c.shards {
		s := &c.shards[i]
		s.idx = make(map[string]int32)
		s.pending = make(map[string]*pend)
		s.max = per
	}
	return c
}

// cacheable reports whether key is an attribute, dentry, chunk or
// symlink key of this filesystem.
func (c *lookupCache) cacheable(key []byte) bool {
	if len(key) <= pfxLen || !bytes.Equal(key[:pfxLen], c.k.pfx[:]) {
		return false
	}
	switch key[pfxLen] {
	case tagInode, tagDentry, tagChunk, tagSymlink:
		return true
	}
	return false
}

func (c *lookupCache) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
}

// shardOf is shard for a string key (maphash hashes both alike).
func (c *lookupCache) shardOf(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%cacheShards]
}

// get returns the cached value of key; the slice is shared and read-only.
func (c *lookupCache) get(key []byte) ([]byte, bool) {
	s := c.shard(key)
	s.mu.Lock()
	i, ok := s.idx[string(key)]
	if !ok {
		s.mu.Unlock()
		return nil, false
	}
	sl := &s.slots[i]
	sl.ref = true
	v := sl.val
	s.mu.Unlock()
	return v, true
}

// fill inserts val read from a snapshot taken after the clock read tick.
func (c *lookupCache) fill(key, val []byte, tick uint64) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stamp > tick || s.pending[string(key)] != nil {
		return
	}
	s.putLocked(string(key), bytes.Clone(val))
}

func (s *cacheShard) putLocked(key string, val []byte) {
	val = val[:len(val):len(val)]
	if i, ok := s.idx[key]; ok {
		s.slots[i].val, s.slots[i].ref = val, true
		return
	}
	var i int32
	switch {
	case len(s.free) > 0:
		i = s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
	case len(s.slots) < s.max:
		s.slots = append(s.slots, cacheSlot{})
		i = int32(len(s.slots) - 1)
	default:
		for {
			sl := &s.slots[s.hand]
			if !sl.ref {
				break
			}
			sl.ref = false
			s.hand = (s.hand + 1) % len(s.slots)
		}
		i = int32(s.hand)
		delete(s.idx, s.slots[i].key)
		s.hand = (s.hand + 1) % len(s.slots)
	}
	s.slots[i] = cacheSlot{key: key, val: val, ref: false}
	s.idx[key] = i
}

func (s *cacheShard) dropLocked(key string) {
	i, ok := s.idx[key]
	if !ok {
		return
	}
	delete(s.idx, key)
	s.slots[i] = cacheSlot{}
	s.free = append(s.free, i)
}

// write is one cacheable key a transaction wrote: its final value (nil
// for a delete) and, once marked, the mark count seen.
type write struct {
	key   string
	val   []byte
	del   bool
	shard *cacheShard
	w     uint64
}

// mark marks the writes of one transaction attempt pending.
func (c *lookupCache) mark(ws []write) {
	for i := range ws {
		w := &ws[i]
		w.shard = c.shardOf(w.key)
		s := w.shard
		s.mu.Lock()
		p := s.pending[w.key]
		if p == nil {
			p = &pend{}
			s.pending[w.key] = p
		}
		p.n++
		p.w++
		w.w = p.w
		s.dropLocked(w.key)
		s.mu.Unlock()
	}
}

// unmark ends the marks of ws; install says ws is the committed attempt,
// whose values may be installed.
func (c *lookupCache) unmark(ws []write, install bool) {
	for i := range ws {
		w := &ws[i]
		s := w.shard
		s.mu.Lock()
		p := s.pending[w.key]
		p.n--
		last := p.n == 0
		if last {
			delete(s.pending, w.key)
		}
		if install && last && p.w == w.w && !w.del {
			s.putLocked(w.key, w.val)
		} else {
			s.dropLocked(w.key)
		}
		s.stamp = c.clock.Add(1)
		s.mu.Unlock()
	}
}

// cachedEngine is fs.eng in exclusive mode: Update records the cacheable
// keys a transaction writes and keeps the cache exact around the commit;
// View fills the cache with the cacheable keys it gets.
type cachedEngine struct {
	kv.Engine
	c *lookupCache
}

func (e *cachedEngine) Update(ctx context.Context, fn func(kv.Txn) error) error {
	type attempt struct {
		n  int
		ws []write
	}
	var marked []attempt
	n := 0
	t := &recordingTxn{c: e.c}
	err := e.Engine.Update(ctx, func(tx kv.Txn) error {
		n++
		t.Txn, t.writes = tx, t.writes[:0]
		if err := fn(t); err != nil {
			return err
		}
		if ws := t.final(); len(ws) > 0 {
			e.c.mark(ws)
			marked = append(marked, attempt{n, ws})
		}
		return nil
	})
	// Only the last attempt can have committed.
	for _, a := range marked {
		e.c.unmark(a.ws, err == nil && a.n == n)
	}
	return err
}

func (e *cachedEngine) View(ctx context.Context, fn func(kv.ReadTxn) error) error {
	tick := e.c.clock.Load()
	return e.Engine.View(ctx, func(tx kv.ReadTxn) error {
		return fn(&fillingTxn{ReadTxn: tx, c: e.c, tick: tick})
	})
}

// recordingTxn notes the cacheable keys written through it.
type recordingTxn struct {
	kv.Txn
	c      *lookupCache
	writes []write
}

func (t *recordingTxn) Put(key, value []byte) error {
	if err := t.Txn.Put(key, value); err != nil {
		return err
	}
	if t.c.cacheable(key) {
		t.writes = append(t.writes, write{key: string(key), val: bytes.Clone(value)})
	}
	return nil
}

func (t *recordingTxn) Delete(key []byte) error {
	if err := t.Txn.Delete(key); err != nil {
		return err
	}
	if t.c.cacheable(key) {
		t.writes = append(t.writes, write{key: string(key), del: true})
	}
	return nil
}

// final returns the last write of each key, as a fresh slice.
func (t *recordingTxn) final() []write {
	if len(t.writes) == 0 {
		return nil
	}
	out := make([]write, 0, len(t.writes))
	for i := len(t.writes) - 1; i >= 0; i-- {
		w := t.writes[i]
		dup := false
		for j := range out {
			if out[j].key == w.key {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, w)
		}
	}
	return out
}

// fillingTxn inserts what a snapshot's Gets of cacheable keys return.
type fillingTxn struct {
	kv.ReadTxn
	c    *lookupCache
	tick uint64
}

func (t *fillingTxn) Get(key []byte) ([]byte, error) {
	v, err := t.ReadTxn.Get(key)
	if err == nil && t.c.cacheable(key) {
		t.c.fill(key, v, t.tick)
	}
	return v, err
}

// GetMany serves cached keys from the cache and the rest from the
// snapshot: each cached value was the committed one when read, and a
// batch of Gets is not one instant for a caller anyway (ReadDir's
// attributes, read after its scan).
func (t *fillingTxn) GetMany(keys [][]byte) ([][]byte, error) {
	out := make([][]byte, len(keys))
	var miss [][]byte
	var at []int
	for i, k := range keys {
		if t.c.cacheable(k) {
			if v, ok := t.c.get(k); ok {
				out[i] = v
				continue
			}
		}
		miss = append(miss, k)
		at = append(at, i)
	}
	if len(miss) == 0 {
		return out, nil
	}
	vals, err := t.ReadTxn.GetMany(miss)
	if err != nil {
		return nil, err
	}
	for j, v := range vals {
		out[at[j]] = v
		if v != nil && t.c.cacheable(miss[j]) {
			t.c.fill(miss[j], v, t.tick)
		}
	}
	return out, nil
}

// errCacheMiss ends a cache-only pass that needed the engine.
var errCacheMiss = errors.New("meta: cache miss")

// cacheTxn serves Gets of cached keys and fails everything else.
type cacheTxn struct {
	c      *lookupCache
	missed bool
}

func (t *cacheTxn) Get(key []byte) ([]byte, error) {
	if v, ok := t.c.get(key); ok {
		return v, nil
	}
	t.missed = true
	return nil, errCacheMiss
}

func (t *cacheTxn) GetMany([][]byte) ([][]byte, error) {
	t.missed = true
	return nil, errCacheMiss
}

func (t *cacheTxn) Scan([]byte, []byte, int, bool) ([]kv.Pair, error) {
	t.missed = true
	return nil, errCacheMiss
}

// view runs fn, which must be safe to run twice and only read, from the
// cache alone when everything it gets is cached, else in an engine
// snapshot (which fills the cache).
func (fs *FS) view(ctx context.Context, fn func(kv.ReadTxn) error) error {
	if fs.cache != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := cacheTxn{c: fs.cache}
		err := fn(&t)
		if !t.missed {
			return err
		}
	}
	return fs.eng.View(ctx, fn)
}
