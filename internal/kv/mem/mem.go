// Package mem is an in-memory kv.Engine for tests and for single-process
// runs that need no durability.
//
// It is serializable by optimistic concurrency control: a transaction reads
// a copy-on-write snapshot of the tree taken when it starts, records every
// key it read and every key range it scanned, and buffers its writes. At
// commit, under the engine lock, it is checked against the keys written by
// every transaction that committed after its snapshot; if any of those keys
// was read or falls in a scanned range the commit fails with
// kv.ErrConflict and Update runs fn again. Checking against written keys
// rather than per-key versions also catches a key that was inserted and
// deleted again while the transaction ran.
//
// Invariants: the tree only holds values nobody else references (Put copies
// its arguments, reads return copies), and the commit log holds every
// commit newer than the oldest running read-write transaction's snapshot.
package mem

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/google/btree"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

var errClosed = errors.New("kv/mem: engine closed")
var errTxnDone = errors.New("kv/mem: transaction used after its function returned")

type item struct {
	key, val []byte
}

func less(a, b item) bool { return bytes.Compare(a.key, b.key) < 0 }

// commit is one entry of the commit log: the keys a transaction wrote.
type commit struct {
	seq  uint64
	keys [][]byte
}

// Engine is the in-memory engine. The zero value is not usable; call New.
type Engine struct {
	counts kv.Counters // Stats
	mu     struct {
		sync.Mutex
		closed  bool
		tree    *btree.BTreeG[item]
		seq     uint64         // sequence number of the last commit
		log     []commit       // commits with seq > oldest active snapshot
		active  map[uint64]int // snapshot seq -> running read-write txns
		nactive int            // sum of active's counts
	}
}

var (
	_ kv.Engine = (*Engine)(nil)
	_ kv.Syncer = (*Engine)(nil)
)

// New returns an empty engine.
func New() *Engine {
	e := &Engine{}
	e.mu.tree = btree.NewG(32, less)
	e.mu.active = make(map[uint64]int)
	return e
}

// Sync is a no-op: nothing in memory survives power loss anyway.
func (e *Engine) Sync() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closed {
		return fserr.E("kv/mem.Sync", fserr.Closed, errClosed)
	}
	return nil
}

// Close drops the data. Further calls fail with kind Closed.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closed {
		return fserr.E("kv/mem.Close", fserr.Closed, errClosed)
	}
	e.mu.closed = true
	e.mu.tree = nil
	e.mu.log = nil
	return nil
}

// View runs fn on a snapshot.
func (e *Engine) View(ctx context.Context, fn func(kv.ReadTxn) error) error {
	return e.counts.CountView(ctx, fn, func(fn func(kv.ReadTxn) error) error { return e.view(ctx, fn) })
}

// Stats returns the engine's transaction counters.
func (e *Engine) Stats() kv.Stats { return e.counts.Stats() }

func (e *Engine) view(ctx context.Context, fn func(kv.ReadTxn) error) error {
	const op = "kv/mem.View"
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		return fserr.E(op, fserr.Closed, errClosed)
	}
	t := &txn{snap: e.mu.tree.Clone()}
	e.mu.Unlock()
	defer func() { t.done = true }()
	if err := fn(t); err != nil {
		return err
	}
	return ctx.Err()
}

// Update runs fn in a read-write transaction, retrying on conflict.
func (e *Engine) Update(ctx context.Context, fn func(kv.Txn) error) error {
	const op = "kv/mem.Update"
	return e.counts.CountUpdate(ctx, op, 0, fn, func(fn func(kv.Txn) error) error { return e.try(ctx, fn) })
}

// try makes one attempt at fn; it returns kv.ErrConflict when the commit
// check fails.
func (e *Engine) try(ctx context.Context, fn func(kv.Txn) error) error {
	const op = "kv/mem.Update"
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		return fserr.E(op, fserr.Closed, errClosed)
	}
	t := &txn{snap: e.mu.tree.Clone(), seq: e.mu.seq, writes: make(map[string][]byte)}
	e.mu.active[t.seq]++
	e.mu.nactive++
	e.mu.Unlock()

	err := fn(t)
	t.done = true
	if err == nil {
		err = ctx.Err()
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	// Released after the conflict check, which needs the log entries newer
	// than t's snapshot that releasing t may drop.
	defer e.releaseLocked(t.seq)
	if err != nil {
		return err
	}
	if e.mu.closed {
		return fserr.E(op, fserr.Closed, errClosed)
	}
	if len(t.writes) == 0 {
		return nil // read-only: its snapshot was consistent
	}
	if e.conflictsLocked(t) {
		return kv.ErrConflict
	}
	e.mu.seq++
	keys := make([][]byte, 0, len(t.writes))
	for k, v := range t.writes {
		key := []byte(k)
		keys = append(keys, key)
		if v == nil {
			e.mu.tree.Delete(item{key: key})
		} else {
			e.mu.tree.ReplaceOrInsert(item{key: key, val: v})
		}
	}
	if e.mu.nactive > 1 { // someone besides t may conflict with it
		e.mu.log = append(e.mu.log, commit{seq: e.mu.seq, keys: keys})
	}
	return nil
}

// releaseLocked forgets a finished transaction and drops log entries no
// running transaction can still conflict with.
func (e *Engine) releaseLocked(seq uint64) {
	e.mu.nactive--
	if e.mu.active[seq]--; e.mu.active[seq] == 0 {
		delete(e.mu.active, seq)
	}
	if len(e.mu.active) == 0 {
		e.mu.log = nil
		return
	}
	oldest := uint64(1<<64 - 1)
	for s := range e.mu.active {
		oldest = min(oldest, s)
	}
	i := 0
	for i < len(e.mu.log) && e.mu.log[i].seq <= oldest {
		i++
	}
	if i > 0 {
		e.mu.log = slices.Delete(e.mu.log, 0, i)
	}
}

func (e *Engine) conflictsLocked(t *txn) bool {
	for _, c := range e.mu.log {
		if c.seq <= t.seq {
			continue
		}
		for _, k := range c.keys {
			if _, ok := t.reads[string(k)]; ok {
				return true
			}
			for _, r := range t.ranges {
				if bytes.Compare(k, r.start) >= 0 && (r.end == nil || bytes.Compare(k, r.end) < 0) {
					return true
				}
			}
		}
	}
	return false
}

type keyRange struct{ start, end []byte }

// txn is both the read-only and the read-write transaction. It is used by
// one goroutine at a time, like the callers' fn.
type txn struct {
	snap   *btree.BTreeG[item]
	seq    uint64
	done   bool
	writes map[string][]byte // nil value: delete; nil map: read-only
	reads  map[string]struct{}
	ranges []keyRange
}

func (t *txn) readKey(k []byte) {
	if t.writes == nil {
		return
	}
	if t.reads == nil {
		t.reads = make(map[string]struct{})
	}
	t.reads[string(k)] = struct{}{}
}

func (t *txn) get(key []byte) ([]byte, bool) {
	if v, ok := t.writes[string(key)]; ok {
		if v == nil {
			return nil, false
		}
		return bytes.Clone(v), true
	}
	t.readKey(key)
	it, ok := t.snap.Get(item{key: key})
	if !ok {
		return nil, false
	}
	return append([]byte{}, it.val...), true
}

func (t *txn) Get(key []byte) ([]byte, error) {
	if t.done {
		return nil, fserr.E("kv/mem.Get", fserr.Closed, errTxnDone)
	}
	v, ok := t.get(key)
	if !ok {
		return nil, kv.ErrNotFound
	}
	return v, nil
}

func (t *txn) GetMany(keys [][]byte) ([][]byte, error) {
	if t.done {
		return nil, fserr.E("kv/mem.GetMany", fserr.Closed, errTxnDone)
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i], _ = t.get(k)
	}
	return out, nil
}

func (t *txn) Scan(start, end []byte, limit int, reverse bool) ([]kv.Pair, error) {
	if t.done {
		return nil, fserr.E("kv/mem.Scan", fserr.Closed, errTxnDone)
	}
	if end != nil && bytes.Compare(start, end) >= 0 {
		return nil, nil
	}
	in := func(k []byte) bool {
		return bytes.Compare(k, start) >= 0 && (end == nil || bytes.Compare(k, end) < 0)
	}
	// Buffered writes in the range, in scan order, merged with the snapshot.
	var pending []string
	for k := range t.writes {
		if in([]byte(k)) {
			pending = append(pending, k)
		}
	}
	slices.Sort(pending)
	if reverse {
		slices.Reverse(pending)
	}
	before := func(a, b []byte) bool { // a comes before b in scan order
		if reverse {
			return bytes.Compare(a, b) > 0
		}
		return bytes.Compare(a, b) < 0
	}
	var out []kv.Pair
	full := func() bool { return limit > 0 && len(out) >= limit }
	emitPending := func(upto []byte) { // pending keys before upto (nil: all)
		for len(pending) > 0 && !full() {
			k := []byte(pending[0])
			if upto != nil && !before(k, upto) {
				return
			}
			pending = pending[1:]
			if v := t.writes[string(k)]; v != nil {
				out = append(out, kv.Pair{Key: k, Value: bytes.Clone(v)})
			}
		}
	}
	visit := func(it item) bool {
		if reverse && !in(it.key) {
			return bytes.Compare(it.key, start) >= 0 // skip key == end
		}
		emitPending(it.key)
		if full() {
			return false
		}
		if _, ok := t.writes[string(it.key)]; !ok {
			out = append(out, kv.Pair{Key: bytes.Clone(it.key), Value: append([]byte{}, it.val...)})
		}
		return !full()
	}
	switch {
	case !reverse && end == nil:
		t.snap.AscendGreaterOrEqual(item{key: start}, visit)
	case !reverse:
		t.snap.AscendRange(item{key: start}, item{key: end}, visit)
	case end == nil:
		t.snap.Descend(visit)
	default:
		t.snap.DescendLessOrEqual(item{key: end}, visit)
	}
	emitPending(nil)

	if t.writes != nil {
		// Record only the part of the range the scan looked at, so a
		// paginated scan does not conflict with writes beyond its page.
		r := keyRange{start: bytes.Clone(start), end: bytes.Clone(end)}
		if full() {
			last := out[len(out)-1].Key
			if reverse {
				r.start = bytes.Clone(last)
			} else {
				r.end = append(bytes.Clone(last), 0)
			}
		}
		t.ranges = append(t.ranges, r)
	}
	return out, nil
}

func (t *txn) Put(key, value []byte) error {
	if t.done {
		return fserr.E("kv/mem.Put", fserr.Closed, errTxnDone)
	}
	if t.writes == nil {
		return fserr.Errorf("kv/mem.Put", fserr.ReadOnly, "kv/mem: put in a read-only transaction")
	}
	t.writes[string(key)] = append([]byte{}, value...)
	return nil
}

func (t *txn) Delete(key []byte) error {
	if t.done {
		return fserr.E("kv/mem.Delete", fserr.Closed, errTxnDone)
	}
	if t.writes == nil {
		return fserr.Errorf("kv/mem.Delete", fserr.ReadOnly, "kv/mem: delete in a read-only transaction")
	}
	t.writes[string(key)] = nil
	return nil
}
