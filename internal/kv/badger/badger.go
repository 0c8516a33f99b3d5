// Package badger is the embedded kv.Engine, over Badger v4: the default
// engine of a single-machine Shoal.
//
// Badger's own optimistic transactions give snapshot reads and detect
// conflicts on the keys a transaction read (by Get, and by the iterator
// items Scan visits). That alone is snapshot isolation for ranges: a key
// inserted into a range another transaction scanned is not a conflict, so
// two transactions could each see a range empty and each insert into it.
// The engine closes that gap itself: every Scan records the key range it
// covered, and every commit records the keys it wrote in an in-process log;
// a transaction whose scanned ranges contain a key committed after its
// snapshot fails with kv.ErrConflict. Badger locks its directory, so one
// process holds the database and an in-process log sees every commit.
//
// Commits run one at a time (Badger's write path batches them anyway), so
// with SyncWrites each commit waits for its own fsync: prefer Sync at the
// points that need durability against power loss.
//
// Invariants: commits run one at a time under commit.mu, so a
// transaction's sequence number taken before its Badger snapshot bounds
// which commits the snapshot can miss; the log holds every commit newer
// than the oldest running read-write transaction.
package badger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Options configure the engine. The zero value is a durable-on-process-
// death, low-memory configuration suited to metadata.
type Options struct {
	// SyncWrites makes every commit wait for fsync, so a commit survives
	// power loss. Without it, commits survive process death and Sync makes
	// them durable on demand.
	SyncWrites bool
	// InMemory keeps everything in memory (for tests); dir must be "".
	InMemory bool
	// Logger receives Badger's warnings and errors; nil discards them.
	Logger *slog.Logger
	// MemTableSize bounds one memtable (default 16 MiB). A transaction may
	// write at most about 15% of it.
	MemTableSize int64
	// BlockCacheSize is the block cache budget (default 16 MiB).
	BlockCacheSize int64
	// ValueThreshold is the size from which values are kept in the value
	// log rather than the LSM tree (default 64 KiB).
	ValueThreshold int64
	// ValueLogFileSize is the size of one value log file (default 64 MiB).
	ValueLogFileSize int64
	// GCInterval is how often value log garbage collection runs (default
	// 10 minutes); negative disables it.
	GCInterval time.Duration
}

// EnsureDefaults fills in zero fields.
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = 16 << 20
	}
	if o.BlockCacheSize == 0 {
		o.BlockCacheSize = 16 << 20
	}
	if o.ValueThreshold == 0 {
		o.ValueThreshold = 64 << 10
	}
	if o.ValueLogFileSize == 0 {
		o.ValueLogFileSize = 64 << 20
	}
	if o.GCInterval == 0 {
		o.GCInterval = 10 * time.Minute
	}
}

var (
	errClosed  = errors.New("kv/badger: engine closed")
	errTxnDone = errors.New("kv/badger: transaction used after its function returned")
)

// Engine is a Badger-backed kv.Engine.
type Engine struct {
	counts   kv.Counters // Stats
	db       *badger.DB
	maxValue int // largest value Put accepts; 0: no limit of ours

	mu struct {
		sync.Mutex
		closed   bool
		inflight int        // transactions running; Close waits for them
		idle     *sync.Cond // signalled when inflight drops to 0
	}
	// commit serialises commits and holds the log of written keys that
	// scanned ranges are checked against. Lock order: mu before commit.mu
	// is never needed; they are not held together.
	commit struct {
		mu      sync.Mutex
		seq     uint64
		log     []commitRec
		active  map[uint64]int // snapshot seq -> running read-write txns
		nactive int
	}
	gcStop context.CancelFunc
	gcDone sync.WaitGroup
}

type commitRec struct {
	seq  uint64
	keys [][]byte
}

var (
	_ kv.Engine = (*Engine)(nil)
	_ kv.Syncer = (*Engine)(nil)
)

// Open opens (creating if needed) the database in dir. A directory held by
// another process (or another Engine) fails with kind fserr.Busy.
func Open(dir string, opts Options) (*Engine, error) {
	const op = "kv/badger.Open"
	opts.EnsureDefaults()
	bo := badger.DefaultOptions(dir)
	if opts.InMemory {
		if dir != "" {
			return nil, fserr.Errorf(op, fserr.Invalid, "kv/badger: InMemory with a directory %q", dir)
		}
		bo = badger.DefaultOptions("").WithInMemory(true)
		// There is no value log in memory: every value lives in the
		// tree, and must stay below the threshold (Badger panics on a
		// value of exactly the threshold, so Put checks it).
		opts.ValueThreshold = min(1<<20, opts.MemTableSize*15/100)
	}
	bo.SyncWrites = opts.SyncWrites
	bo.Logger = logger{opts.Logger}
	bo.MemTableSize = opts.MemTableSize
	bo.NumMemtables = 2
	bo.NumLevelZeroTables = 4
	bo.NumLevelZeroTablesStall = 10
	bo.NumCompactors = 2
	bo.BlockCacheSize = opts.BlockCacheSize
	bo.ValueThreshold = opts.ValueThreshold
	bo.ValueLogFileSize = opts.ValueLogFileSize
	bo.MetricsEnabled = false
	bo.DetectConflicts = true

	db, err := badger.Open(bo)
	if err != nil {
		if !opts.InMemory && dirLocked(dir) {
			return nil, fserr.E(op, dir, fserr.Busy, fmt.Errorf("kv/badger: database in use by another process or engine: %w", unix.EWOULDBLOCK))
		}
		return nil, fserr.E(op, dir, fserr.IO, err)
	}
	e := &Engine{db: db}
	if opts.InMemory {
		e.maxValue = int(opts.ValueThreshold) - 1
	}
	e.mu.idle = sync.NewCond(&e.mu.Mutex)
	e.commit.active = make(map[uint64]int)
	ctx, cancel := context.WithCancel(context.Background())
	e.gcStop = cancel
	if opts.GCInterval > 0 && !opts.InMemory {
		e.gcDone.Go(func() { e.gcLoop(ctx, opts.GCInterval) })
	}
	return e, nil
}

// dirLocked reports whether dir's flock, which Badger takes on the
// directory itself, is held by someone else. Badger's own lock error is
// only text, so the lock is probed instead of parsing it.
func dirLocked(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return false
	}
	return errors.Is(err, unix.EWOULDBLOCK)
}

func (e *Engine) gcLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Each call rewrites at most one value log file; repeat while it
		// finds files worth rewriting.
		for ctx.Err() == nil && e.db.RunValueLogGC(0.5) == nil {
		}
	}
}

// begin registers a running transaction so Close waits for it.
func (e *Engine) begin() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closed {
		return false
	}
	e.mu.inflight++
	return true
}

func (e *Engine) end() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.inflight--; e.mu.inflight == 0 {
		e.mu.idle.Broadcast()
	}
}

// Close waits for running transactions, then closes the database.
func (e *Engine) Close() error {
	const op = "kv/badger.Close"
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		return fserr.E(op, fserr.Closed, errClosed)
	}
	e.mu.closed = true
	for e.mu.inflight > 0 {
		e.mu.idle.Wait()
	}
	e.mu.Unlock()
	e.gcStop()
	e.gcDone.Wait()
	if err := e.db.Close(); err != nil {
		return fserr.E(op, fserr.IO, err)
	}
	return nil
}

// Sync makes every committed transaction durable against power loss.
func (e *Engine) Sync() error {
	const op = "kv/badger.Sync"
	if !e.begin() {
		return fserr.E(op, fserr.Closed, errClosed)
	}
	defer e.end()
	if err := e.db.Sync(); err != nil {
		return fserr.E(op, fserr.IO, err)
	}
	return nil
}

// View runs fn on a snapshot.
func (e *Engine) View(ctx context.Context, fn func(kv.ReadTxn) error) error {
	return e.counts.CountView(ctx, fn, func(fn func(kv.ReadTxn) error) error { return e.view(ctx, fn) })
}

// Stats returns the engine's transaction counters.
func (e *Engine) Stats() kv.Stats { return e.counts.Stats() }

func (e *Engine) view(ctx context.Context, fn func(kv.ReadTxn) error) error {
	const op = "kv/badger.View"
	if err := ctx.Err(); err != nil {
		return err
	}
	if !e.begin() {
		return fserr.E(op, fserr.Closed, errClosed)
	}
	defer e.end()
	bt := e.db.NewTransaction(false)
	defer bt.Discard()
	t := &txn{b: bt}
	err := fn(t)
	t.done = true
	if err != nil {
		return err
	}
	return ctx.Err()
}

// Update runs fn in a read-write transaction, retrying on conflict.
func (e *Engine) Update(ctx context.Context, fn func(kv.Txn) error) error {
	const op = "kv/badger.Update"
	return e.counts.CountUpdate(ctx, op, 0, fn, func(fn func(kv.Txn) error) error { return e.try(ctx, fn) })
}

func (e *Engine) try(ctx context.Context, fn func(kv.Txn) error) error {
	const op = "kv/badger.Update"
	if !e.begin() {
		return fserr.E(op, fserr.Closed, errClosed)
	}
	defer e.end()

	// The sequence number is taken before the Badger snapshot: any commit
	// numbered after it may be missing from the snapshot and is checked.
	e.commit.mu.Lock()
	seq := e.commit.seq
	e.commit.active[seq]++
	e.commit.nactive++
	e.commit.mu.Unlock()

	bt := e.db.NewTransaction(true)
	defer bt.Discard()
	t := &txn{b: bt, maxValue: e.maxValue, update: true, writes: make(map[string]struct{})}
	err := fn(t)
	t.done = true
	if err == nil {
		err = ctx.Err()
	}

	e.commit.mu.Lock()
	if err != nil || len(t.writes) == 0 {
		e.releaseLocked(seq)
		e.commit.mu.Unlock()
		return err
	}
	if e.rangeConflictLocked(seq, t.ranges) {
		e.releaseLocked(seq)
		e.commit.mu.Unlock()
		return kv.ErrConflict
	}
	// CommitWith orders the transaction (Badger's own conflict check and
	// commit timestamp) before it returns and writes it in the background,
	// so the range check and the ordering happen together under our lock
	// while the write itself overlaps with other commits: Badger batches
	// them into one write. Waiting under the lock would serialise every
	// commit behind the previous one's write.
	done := make(chan error, 1)
	bt.CommitWith(func(err error) { done <- err })
	// Recorded before the outcome is known: a commit Badger then rejects
	// only costs a concurrent scanner a needless retry.
	e.commit.seq++
	if e.commit.nactive > 1 {
		keys := make([][]byte, 0, len(t.writes))
		for k := range t.writes {
			keys = append(keys, []byte(k))
		}
		e.commit.log = append(e.commit.log, commitRec{seq: e.commit.seq, keys: keys})
	}
	e.releaseLocked(seq)
	e.commit.mu.Unlock()
	if err := <-done; err != nil {
		switch {
		case errors.Is(err, badger.ErrConflict):
			return kv.ErrConflict
		case errors.Is(err, badger.ErrTxnTooBig):
			return fserr.E(op, fserr.TooBig, fmt.Errorf("kv/badger: transaction writes too much (limit ~15%% of MemTableSize): %w", err))
		}
		return fserr.E(op, fserr.IO, err)
	}
	return nil
}

func (e *Engine) releaseLocked(seq uint64) {
	e.commit.nactive--
	if e.commit.active[seq]--; e.commit.active[seq] == 0 {
		delete(e.commit.active, seq)
	}
	if e.commit.nactive == 0 {
		e.commit.log = nil
		return
	}
	oldest := uint64(1<<64 - 1)
	for s := range e.commit.active {
		oldest = min(oldest, s)
	}
	i := 0
	for i < len(e.commit.log) && e.commit.log[i].seq <= oldest {
		i++
	}
	if i > 0 {
		e.commit.log = slices.Delete(e.commit.log, 0, i)
	}
}

func (e *Engine) rangeConflictLocked(seq uint64, ranges []keyRange) bool {
	if len(ranges) == 0 {
		return false
	}
	for _, c := range e.commit.log {
		if c.seq <= seq {
			continue
		}
		for _, k := range c.keys {
			for _, r := range ranges {
				if bytes.Compare(k, r.start) >= 0 && (r.end == nil || bytes.Compare(k, r.end) < 0) {
					return true
				}
			}
		}
	}
	return false
}

type keyRange struct{ start, end []byte }

// txn adapts a Badger transaction. Badger merges the transaction's pending
// writes into Get and iterators, which gives read-your-writes.
type txn struct {
	b        *badger.Txn
	maxValue int
	update   bool
	done     bool
	writes   map[string]struct{}
	ranges   []keyRange
}

func (t *txn) check(op string) error {
	if t.done {
		return fserr.E(op, fserr.Closed, errTxnDone)
	}
	return nil
}

func mapErr(op string, key []byte, err error) error {
	switch {
	case errors.Is(err, badger.ErrEmptyKey), errors.Is(err, badger.ErrInvalidKey):
		return fserr.E(op, fmt.Sprintf("%q", key), fserr.Invalid, err)
	case errors.Is(err, badger.ErrTxnTooBig):
		return fserr.E(op, fserr.TooBig, fmt.Errorf("kv/badger: transaction writes too much (limit ~15%% of MemTableSize): %w", err))
	case errors.Is(err, badger.ErrDBClosed):
		return fserr.E(op, fserr.Closed, err)
	}
	return fserr.E(op, fmt.Sprintf("%q", key), fserr.IO, err)
}

func (t *txn) get(op string, key []byte) ([]byte, error) {
	it, err := t.b.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, kv.ErrNotFound
	}
	if err != nil {
		return nil, mapErr(op, key, err)
	}
	v, err := it.ValueCopy(nil)
	if err != nil {
		return nil, mapErr(op, key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (t *txn) Get(key []byte) ([]byte, error) {
	const op = "kv/badger.Get"
	if err := t.check(op); err != nil {
		return nil, err
	}
	return t.get(op, key)
}

func (t *txn) GetMany(keys [][]byte) ([][]byte, error) {
	const op = "kv/badger.GetMany"
	if err := t.check(op); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := t.get(op, k)
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (t *txn) Scan(start, end []byte, limit int, reverse bool) ([]kv.Pair, error) {
	const op = "kv/badger.Scan"
	if err := t.check(op); err != nil {
		return nil, err
	}
	if end != nil && bytes.Compare(start, end) >= 0 {
		return nil, nil
	}
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Reverse = reverse
	if end != nil {
		// Every key in [start, end) starts with their common prefix, which
		// lets Badger skip tables outside it.
		n := 0
		for n < len(start) && n < len(end) && start[n] == end[n] {
			n++
		}
		opts.Prefix = start[:n]
	}
	it := t.b.NewIterator(opts)
	defer it.Close()
	var out []kv.Pair
	if reverse {
		if end == nil {
			it.Rewind()
		} else {
			it.Seek(end)
		}
	} else {
		it.Seek(start)
	}
	for ; it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if reverse {
			if end != nil && bytes.Compare(k, end) >= 0 {
				continue
			}
			if bytes.Compare(k, start) < 0 {
				break
			}
		} else if end != nil && bytes.Compare(k, end) >= 0 {
			break
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return nil, mapErr(op, k, err)
		}
		if v == nil {
			v = []byte{}
		}
		out = append(out, kv.Pair{Key: item.KeyCopy(nil), Value: v})
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	if t.update {
		// Only the part of the range the scan covered: a page of a
		// paginated listing does not conflict with writes past it.
		r := keyRange{start: bytes.Clone(start), end: bytes.Clone(end)}
		if limit > 0 && len(out) >= limit {
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
	const op = "kv/badger.Put"
	if err := t.check(op); err != nil {
		return err
	}
	if t.maxValue > 0 && len(value) > t.maxValue {
		return fserr.E(op, fmt.Sprintf("%q", key), fserr.TooBig,
			fmt.Errorf("kv/badger: value of %d bytes exceeds the in-memory limit of %d", len(value), t.maxValue))
	}
	// Badger keeps the slices until commit; the caller may reuse its own.
	k := bytes.Clone(key)
	if err := t.b.Set(k, append([]byte{}, value...)); err != nil {
		return mapErr(op, key, err)
	}
	t.writes[string(k)] = struct{}{}
	return nil
}

func (t *txn) Delete(key []byte) error {
	const op = "kv/badger.Delete"
	if err := t.check(op); err != nil {
		return err
	}
	k := bytes.Clone(key)
	if err := t.b.Delete(k); err != nil {
		return mapErr(op, key, err)
	}
	t.writes[string(k)] = struct{}{}
	return nil
}

// logger routes Badger's log lines to slog: errors and warnings as such,
// Badger's chatty info lines at debug level, its debug lines nowhere.
type logger struct{ l *slog.Logger }

func (g logger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if g.l.Enabled(ctx, level) {
		g.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "badger")
	}
}

func (g logger) Errorf(f string, a ...any)   { g.log(slog.LevelError, f, a) }
func (g logger) Warningf(f string, a ...any) { g.log(slog.LevelWarn, f, a) }
func (g logger) Infof(f string, a ...any)    { g.log(slog.LevelDebug, f, a) }
func (g logger) Debugf(string, ...any)       {}
