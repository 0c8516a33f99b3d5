package rpc

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"

	"github.com/shoalfs/shoal/internal/kvtable"
)

// Coalescing of concurrent KV calls.
//
// A profile of `shoal bench kv` (50 clients, 2 connections; the profiles
// are in bench/profiles/) put four fifths of the CPU of a set or a get in
// gRPC's per-call work on both sides and one fifth in the engine. So the
// Sets and Gets that callers of one KVClient issue at the same time are
// sent together: while coalesceInflight rpcs of a table and kind are in
// flight, new calls queue, and the slot of the next rpc to finish carries
// up to coalesceMaxItems of them as one BatchSet or BatchGet rpc (the
// server commits a small BatchSet in one engine transaction: a group
// commit). A call that finds a free slot goes out at once as its own Set
// or Get, so a lone caller pays nothing; the queue only forms under
// concurrency, and the batch size follows the load.
//
// Isolation: each item carries its own keys, value and TTL. A batch whose
// item, or whole call, failed is not trusted for the error: each caller
// concerned sends its call again alone and gets exactly the error (kind,
// op, message) its own call gets, with its own context. Resending a Set is
// safe: a set is idempotent, and a caller's call has not returned yet, so
// its write landing later is still within the call. Items are copied when
// queued, so a caller that gives up on its context may reuse its buffers.

const (
	// coalesceMaxItems bounds a batch (the server's single-transaction
	// bound for BatchSet is the same).
	coalesceMaxItems = 128
	// coalesceMaxValue: bigger values go alone, since a batch saves
	// nothing on them and the copy would cost.
	coalesceMaxValue = 64 << 10
	// coalesceInflight is how many batches of one table and kind may be in
	// flight at once: two keep the server busy while the next one fills.
	coalesceInflight = 2
)

type coalescer struct {
	batches atomic.Int64 // batch rpcs sent (for tests)
	mu      sync.Mutex
	sets    map[string]*queue[setCall]
	gets    map[string]*queue[getCall]
}

func newCoalescer() *coalescer {
	return &coalescer{sets: map[string]*queue[setCall]{}, gets: map[string]*queue[getCall]{}}
}

func queueOf[T any](co *coalescer, m map[string]*queue[T], table string) *queue[T] {
	co.mu.Lock()
	defer co.mu.Unlock()
	q := m[table]
	if q == nil {
		q = &queue[T]{}
		m[table] = q
	}
	return q
}

// queue holds the calls of one table and kind waiting for a batch.
type queue[T any] struct {
	mu       sync.Mutex
	inflight int
	pending  []*T
}

type setCall struct {
	item kvtable.SetItem
	// alone is set when the caller must send its call by itself; done is
	// closed when the outcome is known.
	alone bool
	done  chan struct{}
}

type getCall struct {
	key   kvtable.Key
	res   kvtable.GetResult
	alone bool
	done  chan struct{}
}

// enqueue reports whether the caller should send its call alone at once
// (fewer than coalesceInflight rpcs of the queue are in flight; the
// caller then holds a slot and calls release after). Otherwise c is
// queued, and c.done will be closed by the batch that carries it.
func enqueue[T any](q *queue[T], c *T) (direct bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.inflight < coalesceInflight {
		q.inflight++
		return true
	}
	q.pending = append(q.pending, c)
	return false
}

// release ends an rpc of the queue: its slot carries the calls queued
// meanwhile as the next batch, sent from a goroutine of its own so that
// the caller who held the slot returns at once.
func release[T any](q *queue[T], flush func(ctx context.Context, batch []*T), ctx context.Context) {
	q.mu.Lock()
	n := min(len(q.pending), coalesceMaxItems)
	if n == 0 {
		q.inflight--
		q.mu.Unlock()
		return
	}
	batch := q.pending[:n:n]
	q.pending = q.pending[n:]
	if len(q.pending) == 0 {
		q.pending = nil
	}
	q.mu.Unlock()
	go func() {
		flush(ctx, batch)
		release(q, flush, ctx)
	}()
}

func (t *KVTable) coalesceSet(ctx context.Context, hashKey, sortKey, value []byte, ttl int) (sent bool, err error) {
	if t.co == nil || len(value) > coalesceMaxValue || ctx.Err() != nil {
		return false, nil
	}
	q := queueOf(t.co, t.co.sets, t.name)
	c := &setCall{done: make(chan struct{}), item: kvtable.SetItem{
		HashKey: bytes.Clone(hashKey), SortKey: bytes.Clone(sortKey), Value: bytes.Clone(value), TTL: ttl}}
	if enqueue(q, c) {
		err := t.setOne(ctx, hashKey, sortKey, value, ttl)
		release(q, t.flushSets, context.WithoutCancel(ctx))
		return true, err
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return true, ctx.Err()
	}
	if c.alone {
		return false, nil
	}
	return true, nil
}

func (t *KVTable) flushSets(ctx context.Context, batch []*setCall) {
	if len(batch) == 1 {
		c := batch[0]
		c.alone = t.setOne(ctx, c.item.HashKey, c.item.SortKey, c.item.Value, c.item.TTL) != nil
		close(c.done)
		return
	}
	items := make([]kvtable.SetItem, len(batch))
	for i, c := range batch {
		items[i] = c.item
	}
	t.co.batches.Add(1)
	errs, err := t.BatchSet(ctx, items)
	for i, c := range batch {
		c.alone = err != nil || i >= len(errs) || errs[i] != nil
		close(c.done)
	}
}

func (t *KVTable) coalesceGet(ctx context.Context, hashKey, sortKey []byte) (res kvtable.GetResult, sent bool, err error) {
	if t.co == nil || ctx.Err() != nil {
		return res, false, nil
	}
	q := queueOf(t.co, t.co.gets, t.name)
	c := &getCall{done: make(chan struct{}), key: kvtable.Key{HashKey: bytes.Clone(hashKey), SortKey: bytes.Clone(sortKey)}}
	if enqueue(q, c) {
		v, ok, err := t.getOne(ctx, hashKey, sortKey)
		release(q, t.flushGets, context.WithoutCancel(ctx))
		return kvtable.GetResult{Value: v, Found: ok}, true, err
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return res, true, ctx.Err()
	}
	if c.alone {
		return res, false, nil
	}
	return c.res, true, nil
}

func (t *KVTable) flushGets(ctx context.Context, batch []*getCall) {
	if len(batch) == 1 {
		c := batch[0]
		v, ok, err := t.getOne(ctx, c.key.HashKey, c.key.SortKey)
		c.alone, c.res = err != nil, kvtable.GetResult{Value: v, Found: ok}
		close(c.done)
		return
	}
	keys := make([]kvtable.Key, len(batch))
	for i, c := range batch {
		keys[i] = c.key
	}
	t.co.batches.Add(1)
	res, err := t.BatchGet(ctx, keys)
	for i, c := range batch {
		c.alone = err != nil || i >= len(res) || res[i].Err != nil
		if !c.alone {
			c.res = res[i]
		}
		close(c.done)
	}
}
