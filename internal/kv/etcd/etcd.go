// Package etcd is the kv.Engine over an etcd v3 cluster, for Shoal
// deployments that span machines.
//
// Every key is stored under a prefix, so several Shoal filesystems or
// other users can share one etcd. Transactions are optimistic and
// serializable: all reads of a transaction happen at one revision (the
// first read pins it), the ModRevision of every key read is recorded (0 for
// a missing key) together with every key range scanned, and writes are
// buffered. The commit is one etcd Txn whose conditions are that every key
// read still has the recorded ModRevision and no key in a scanned range
// has a ModRevision newer than the read revision; if they fail, Update
// runs fn again. A read-only Update commits nothing: its reads were
// already consistent at one revision.
//
// Residual gap: a key inserted into a scanned range and deleted again
// before the commit leaves no trace etcd can compare against (tombstones
// are not visible to Compare). The transaction then commits as if the key
// had never existed, which is not serializable only if the inserting
// transaction also read a key this one writes.
//
// Limits: etcd refuses a Txn with more than --max-txn-ops conditions or
// writes (default 128) and requests over --max-request-bytes (default
// 1.5 MiB). Each key a read-write transaction read (including each key a
// Scan returned) is one condition, so Shoal needs --max-txn-ops raised
// (10,000 is what the tests use). Going over either limit fails with kind
// fserr.TooBig. A reverse Scan with a limit makes etcd read the whole
// range (it sorts before it limits).
package etcd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

var (
	errClosed  = errors.New("kv/etcd: engine closed")
	errTxnDone = errors.New("kv/etcd: transaction used after its function returned")
)

// batchOps bounds the reads sent in one etcd Txn by GetMany, below etcd's
// default --max-txn-ops.
const batchOps = 128

// Option configures Open.
type Option func(*options)

type options struct {
	cli           clientv3.Config
	commitTimeout time.Duration
}

// WithDialTimeout bounds connecting to the cluster (default 5s).
func WithDialTimeout(d time.Duration) Option {
	return func(o *options) { o.cli.DialTimeout = d }
}

// WithTLS sets the client's TLS configuration.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) { o.cli.TLS = cfg }
}

// WithAuth sets the user and password etcd authenticates.
func WithAuth(user, password string) Option {
	return func(o *options) { o.cli.Username, o.cli.Password = user, password }
}

// WithCommitTimeout bounds each commit attempt (0, the default: only the
// caller's context bounds it). Why it exists: a commit a follower has
// forwarded to a leader that then stops is lost with that leader, and
// etcd answers it only after its request timeout (5 s + 2 election
// timeouts, 7 s with the defaults) with "request timed out, possibly due
// to previous leader failure". Either way the outcome is unknown and the
// commit fails with kind IO, which a caller retries under its request id
// (the meta layer's retries are deduplicated); a shorter bound turns the
// 7 s stall into this one. Set it well above the cluster's slowest
// healthy commit, or healthy commits fail too.
func WithCommitTimeout(d time.Duration) Option {
	return func(o *options) { o.commitTimeout = d }
}

// Engine is an etcd-backed kv.Engine.
type Engine struct {
	counts kv.Counters // Stats
	cli    *clientv3.Client
	owned  bool // Close closes cli
	prefix string
	// commitTimeout bounds one commit attempt (WithCommitTimeout); 0: none.
	commitTimeout time.Duration

	mu struct {
		sync.Mutex
		closed bool
	}
}

var _ kv.Engine = (*Engine)(nil)

// Open connects to the cluster at endpoints and checks that it answers.
func Open(ctx context.Context, endpoints []string, prefix string, opts ...Option) (*Engine, error) {
	const op = "kv/etcd.Open"
	o := options{cli: clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		Context:     context.WithoutCancel(ctx),
	}}
	for _, opt := range opts {
		opt(&o)
	}
	cli, err := clientv3.New(o.cli)
	if err != nil {
		return nil, fserr.E(op, fmt.Sprint(endpoints), fserr.IO, err)
	}
	if _, err := cli.Get(ctx, prefix, clientv3.WithKeysOnly(), clientv3.WithLimit(1)); err != nil {
		cli.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fserr.E(op, fmt.Sprint(endpoints), fserr.IO, err)
	}
	e := New(cli, prefix)
	e.owned = true
	e.commitTimeout = o.commitTimeout
	return e, nil
}

// New uses an existing client; Close leaves the client open.
func New(cli *clientv3.Client, prefix string) *Engine {
	return &Engine{cli: cli, prefix: prefix}
}

// Close releases the engine (and the client, when Open made it).
func (e *Engine) Close() error {
	const op = "kv/etcd.Close"
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closed {
		return fserr.E(op, fserr.Closed, errClosed)
	}
	e.mu.closed = true
	if e.owned {
		if err := e.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
			return fserr.E(op, fserr.IO, err)
		}
	}
	return nil
}

func (e *Engine) closed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mu.closed
}

// View runs fn on a snapshot at one revision.
func (e *Engine) View(ctx context.Context, fn func(kv.ReadTxn) error) error {
	return e.counts.CountView(ctx, fn, func(fn func(kv.ReadTxn) error) error { return e.view(ctx, fn) })
}

// Stats returns the engine's transaction counters.
func (e *Engine) Stats() kv.Stats { return e.counts.Stats() }

func (e *Engine) view(ctx context.Context, fn func(kv.ReadTxn) error) error {
	const op = "kv/etcd.View"
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.closed() {
		return fserr.E(op, fserr.Closed, errClosed)
	}
	t := &txn{e: e, ctx: ctx}
	err := fn(t)
	t.done = true
	if err != nil {
		return err
	}
	return ctx.Err()
}

// etcdRetryBase starts the conflict backoff near one etcd round trip, so
// contenders on a hot key spread out instead of retrying in step.
const etcdRetryBase = time.Millisecond

// Update runs fn in a read-write transaction, retrying on conflict.
func (e *Engine) Update(ctx context.Context, fn func(kv.Txn) error) error {
	const op = "kv/etcd.Update"
	return e.counts.CountUpdate(ctx, op, etcdRetryBase, fn, func(fn func(kv.Txn) error) error { return e.try(ctx, fn) })
}

func (e *Engine) try(ctx context.Context, fn func(kv.Txn) error) error {
	const op = "kv/etcd.Update"
	if e.closed() {
		return fserr.E(op, fserr.Closed, errClosed)
	}
	t := &txn{e: e, ctx: ctx, update: true, writes: make(map[string][]byte), readRevs: make(map[string]int64)}
	err := fn(t)
	t.done = true
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(t.writes) == 0 {
		return nil
	}
	cmps := make([]clientv3.Cmp, 0, len(t.readRevs)+len(t.ranges))
	for _, k := range slices.Sorted(maps.Keys(t.readRevs)) {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", t.readRevs[k]))
	}
	for _, r := range t.ranges {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(r.start).WithRange(r.end), "<", t.rev+1))
	}
	ops := make([]clientv3.Op, 0, len(t.writes))
	for _, k := range slices.Sorted(maps.Keys(t.writes)) {
		if v := t.writes[k]; v == nil {
			ops = append(ops, clientv3.OpDelete(e.prefix+k))
		} else {
			ops = append(ops, clientv3.OpPut(e.prefix+k, string(v)))
		}
	}
	cctx := ctx
	if e.commitTimeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, e.commitTimeout)
		defer cancel()
	}
	resp, err := e.cli.Txn(cctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		if ctx.Err() == nil && cctx.Err() != nil {
			return fserr.E(op, fserr.IO, fmt.Errorf("kv/etcd: commit not answered within the commit timeout of %v (outcome unknown): %w", e.commitTimeout, err))
		}
		if ctx.Err() != nil {
			// The commit may have been sent and applied: a bare context
			// error would read as "not applied". The cause is kept as
			// text so errors.Is(err, context.Canceled) stays false.
			return fserr.E(op, fserr.IO, fmt.Errorf("kv/etcd: the caller's context ended (%v) after the commit was sent: outcome unknown", ctx.Err()))
		}
		return e.mapErr(ctx, op, "", err)
	}
	if !resp.Succeeded {
		return kv.ErrConflict
	}
	return nil
}

// mapErr classifies an etcd client error. A failed commit whose outcome is
// unknown (the connection broke) is reported as IO, not retried.
func (e *Engine) mapErr(ctx context.Context, op, key string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		// The pinned revision was compacted away: retry on a new one.
		return fserr.E(op, key, fserr.Conflict, kv.ErrConflict)
	case errors.Is(err, rpctypes.ErrTooManyOps):
		return fserr.E(op, key, fserr.TooBig, fmt.Errorf("kv/etcd: transaction has more reads or writes than etcd's --max-txn-ops allows: %w", err))
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fserr.E(op, key, fserr.TooBig, fmt.Errorf("kv/etcd: transaction larger than etcd's --max-request-bytes: %w", err))
	case errors.Is(err, rpctypes.ErrEmptyKey):
		return fserr.E(op, key, fserr.Invalid, err)
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.ResourceExhausted {
		return fserr.E(op, key, fserr.TooBig, fmt.Errorf("kv/etcd: request too large for the client: %w", err))
	}
	if e.closed() {
		return fserr.E(op, key, fserr.Closed, errClosed)
	}
	return fserr.E(op, key, fserr.IO, err)
}

type keyRange struct{ start, end string } // etcd keys, prefix included

// txn is one attempt of a transaction (or a View). Keys in writes and
// readRevs are without the prefix in writes, with it in readRevs.
type txn struct {
	e      *Engine
	ctx    context.Context
	update bool
	done   bool
	rev    int64 // read revision; 0 until the first read

	writes   map[string][]byte // nil value: delete
	readRevs map[string]int64  // etcd key -> ModRevision seen (0: missing)
	ranges   []keyRange
}

func (t *txn) check(op string) error {
	if t.done {
		return fserr.E(op, fserr.Closed, errTxnDone)
	}
	if t.e.closed() {
		return fserr.E(op, fserr.Closed, errClosed)
	}
	return nil
}

// readOpts pins reads to the transaction's revision once it has one.
func (t *txn) readOpts(opts ...clientv3.OpOption) []clientv3.OpOption {
	if t.rev != 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	return opts
}

func (t *txn) pin(h int64) {
	if t.rev == 0 {
		t.rev = h
	}
}

func (t *txn) record(key string, modRev int64) {
	if t.update {
		t.readRevs[key] = modRev
	}
}

func value(kvp *mvccpb.KeyValue) []byte {
	if kvp.Value == nil {
		return []byte{}
	}
	return kvp.Value
}

func (t *txn) Get(key []byte) ([]byte, error) {
	vs, err := t.getMany("kv/etcd.Get", [][]byte{key})
	if err != nil {
		return nil, err
	}
	if vs[0] == nil {
		return nil, kv.ErrNotFound
	}
	return vs[0], nil
}

func (t *txn) GetMany(keys [][]byte) ([][]byte, error) {
	return t.getMany("kv/etcd.GetMany", keys)
}

func (t *txn) getMany(op string, keys [][]byte) ([][]byte, error) {
	if err := t.check(op); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	var remote []int // indexes of keys not answered by the write buffer
	for i, k := range keys {
		if v, ok := t.writes[string(k)]; ok {
			if v != nil {
				out[i] = bytes.Clone(v)
			}
			continue
		}
		remote = append(remote, i)
	}
	for len(remote) > 0 {
		n := min(len(remote), batchOps)
		batch := remote[:n]
		remote = remote[n:]
		if len(batch) == 1 {
			// One key needs no Txn.
			k := t.e.prefix + string(keys[batch[0]])
			resp, err := t.e.cli.Get(t.ctx, k, t.readOpts()...)
			if err != nil {
				return nil, t.e.mapErr(t.ctx, op, string(keys[batch[0]]), err)
			}
			t.pin(resp.Header.Revision)
			t.take(out, batch[0], k, resp.Kvs)
			continue
		}
		ops := make([]clientv3.Op, len(batch))
		for j, i := range batch {
			ops[j] = clientv3.OpGet(t.e.prefix+string(keys[i]), t.readOpts()...)
		}
		resp, err := t.e.cli.Txn(t.ctx).Then(ops...).Commit()
		if err != nil {
			return nil, t.e.mapErr(t.ctx, op, "", err)
		}
		t.pin(resp.Header.Revision)
		for j, i := range batch {
			t.take(out, i, t.e.prefix+string(keys[i]), resp.Responses[j].GetResponseRange().Kvs)
		}
	}
	return out, nil
}

func (t *txn) take(out [][]byte, i int, key string, kvs []*mvccpb.KeyValue) {
	if len(kvs) == 0 {
		t.record(key, 0)
		return
	}
	t.record(key, kvs[0].ModRevision)
	out[i] = value(kvs[0])
}

func (t *txn) Scan(start, end []byte, limit int, reverse bool) ([]kv.Pair, error) {
	const op = "kv/etcd.Scan"
	if err := t.check(op); err != nil {
		return nil, err
	}
	if end != nil && bytes.Compare(start, end) >= 0 {
		return nil, nil
	}
	in := func(k []byte) bool {
		return bytes.Compare(k, start) >= 0 && (end == nil || bytes.Compare(k, end) < 0)
	}
	// Buffered writes in the range, in scan order.
	var pending []string
	deletes := 0
	for k, v := range t.writes {
		if in([]byte(k)) {
			pending = append(pending, k)
			if v == nil {
				deletes++
			}
		}
	}
	slices.Sort(pending)
	if reverse {
		slices.Reverse(pending)
	}

	eStart, eEnd := t.e.etcdRange(start, end)
	opts := []clientv3.OpOption{clientv3.WithRange(eEnd)}
	if limit > 0 {
		// Each buffered delete may hide one stored key; fetching that many
		// more still yields limit pairs when the range has them.
		opts = append(opts, clientv3.WithLimit(int64(limit+deletes)))
	}
	if reverse {
		opts = append(opts, clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	}
	resp, err := t.e.cli.Get(t.ctx, eStart, t.readOpts(opts...)...)
	if err != nil {
		return nil, t.e.mapErr(t.ctx, op, string(start), err)
	}
	t.pin(resp.Header.Revision)

	before := func(a, b []byte) bool {
		if reverse {
			return bytes.Compare(a, b) > 0
		}
		return bytes.Compare(a, b) < 0
	}
	var out []kv.Pair
	full := func() bool { return limit > 0 && len(out) >= limit }
	// emitPending emits the buffered writes up to and including upto (nil:
	// all). Including upto matters: a stored key the transaction
	// overwrote takes its place in the stored order, which counts towards
	// the fetch limit.
	emitPending := func(upto []byte) {
		for len(pending) > 0 && !full() {
			k := []byte(pending[0])
			if upto != nil && before(upto, k) {
				return
			}
			pending = pending[1:]
			if v := t.writes[string(k)]; v != nil {
				out = append(out, kv.Pair{Key: k, Value: bytes.Clone(v)})
			}
		}
	}
	plen := len(t.e.prefix)
	for _, kvp := range resp.Kvs {
		// Every stored key returned is a read: its deletion must fail the
		// commit, which the range condition alone would not notice.
		t.record(string(kvp.Key), kvp.ModRevision)
		if full() {
			continue
		}
		k := kvp.Key[plen:]
		emitPending(k)
		if full() {
			continue
		}
		if _, ok := t.writes[string(k)]; !ok {
			out = append(out, kv.Pair{Key: k, Value: value(kvp)})
		}
	}
	if !resp.More || limit == 0 || len(resp.Kvs) < limit+deletes {
		emitPending(nil) // the stored range is exhausted
	}

	if t.update {
		r := keyRange{start: eStart, end: eEnd}
		if full() {
			last := t.e.prefix + string(out[len(out)-1].Key)
			if reverse {
				r.start = last
			} else {
				r.end = last + "\x00"
			}
		}
		t.ranges = append(t.ranges, r)
	}
	return out, nil
}

// etcdRange maps [start, end) to etcd keys under the prefix. etcd has no
// empty key and spells "to the end of the keyspace" as "\x00".
func (e *Engine) etcdRange(start, end []byte) (string, string) {
	s := e.prefix + string(start)
	if s == "" {
		s = "\x00"
	}
	if end != nil {
		return s, e.prefix + string(end)
	}
	if pe := kv.PrefixEnd([]byte(e.prefix)); pe != nil {
		return s, string(pe)
	}
	return s, "\x00"
}

func (t *txn) Put(key, value []byte) error {
	const op = "kv/etcd.Put"
	if err := t.check(op); err != nil {
		return err
	}
	if !t.update {
		return fserr.Errorf(op, fserr.ReadOnly, "kv/etcd: put in a read-only transaction")
	}
	if len(t.e.prefix)+len(key) == 0 {
		return fserr.Errorf(op, fserr.Invalid, "kv/etcd: empty key")
	}
	t.writes[string(key)] = append([]byte{}, value...)
	return nil
}

func (t *txn) Delete(key []byte) error {
	const op = "kv/etcd.Delete"
	if err := t.check(op); err != nil {
		return err
	}
	if !t.update {
		return fserr.Errorf(op, fserr.ReadOnly, "kv/etcd: delete in a read-only transaction")
	}
	t.writes[string(key)] = nil
	return nil
}
