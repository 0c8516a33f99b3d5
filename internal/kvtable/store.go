package kvtable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Limits. MaxHashKeyLen is Pegasus's (the length must fit in two bytes and
// stay below UINT16_MAX); the defaults of Options are ours.
const (
	MaxHashKeyLen       = math.MaxUint16 - 1
	DefaultMaxValueSize = 1 << 20
	// DefaultMaxKeySize bounds hash key + sort key so the engine key (7
	// bytes more) fits Badger's 65,000-byte key limit.
	DefaultMaxKeySize   = 64000
	DefaultReclaimBatch = 256
	// MaxTableNameLen bounds a table name.
	MaxTableNameLen = 128
	// MaxTTL is the largest TTL in seconds (Pegasus keeps TTLs in int32).
	MaxTTL = math.MaxInt32
)

// Pegasus client defaults for multi_get's limits, for surfaces that mirror
// Pegasus's keyword defaults. In this package a limit <= 0 means none.
const (
	DefaultMaxKVCount = 100
	DefaultMaxKVSize  = 1000000
	DefaultBatchSize  = 1000
)

// Options configure a Store. The zero value is valid.
type Options struct {
	// MaxValueSize bounds a value in bytes (default 1 MiB).
	MaxValueSize int
	// MaxKeySize bounds hash key + sort key in bytes (default 64,000).
	MaxKeySize int
	// Clock gives the time TTLs are measured against (nil: time.Now).
	Clock func() time.Time
	// ReclaimInterval, when positive, makes Open start a goroutine that
	// calls ReclaimExpired this often until Close.
	ReclaimInterval time.Duration
	// ReclaimBatch is how many records one reclaim (or drop) transaction
	// examines (default 256), which keeps each transaction well inside
	// Badger's size limit and etcd's --max-txn-ops.
	ReclaimBatch int
	// Logger receives reclaim failures (Warn). Nil discards.
	Logger *slog.Logger
}

// EnsureDefaults fills in zero fields.
func (o *Options) EnsureDefaults() {
	if o.MaxValueSize == 0 {
		o.MaxValueSize = DefaultMaxValueSize
	}
	if o.MaxKeySize == 0 {
		o.MaxKeySize = DefaultMaxKeySize
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.ReclaimBatch == 0 {
		o.ReclaimBatch = DefaultReclaimBatch
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a configuration that cannot work.
func (o *Options) Validate() error {
	const op = "kvtable.Open"
	switch {
	case o.MaxValueSize < 0:
		return fserr.Errorf(op, fserr.Invalid, "kvtable: MaxValueSize %d is negative", o.MaxValueSize)
	case o.MaxKeySize < 0:
		return fserr.Errorf(op, fserr.Invalid, "kvtable: MaxKeySize %d is negative", o.MaxKeySize)
	case o.ReclaimBatch < 0:
		return fserr.Errorf(op, fserr.Invalid, "kvtable: ReclaimBatch %d is negative", o.ReclaimBatch)
	case o.ReclaimInterval < 0:
		return fserr.Errorf(op, fserr.Invalid, "kvtable: ReclaimInterval %v is negative", o.ReclaimInterval)
	}
	return nil
}

// TableOptions are the settings a table is created with.
type TableOptions struct {
	// DefaultTTL, in seconds, is given to every write that would otherwise
	// store a record without expiry (0: none).
	DefaultTTL int
}

// TableInfo describes a table.
type TableInfo struct {
	Name       string
	ID         uint32
	DefaultTTL int
	Created    time.Time
}

// Store is the set of KV tables kept in one engine. It is safe for
// concurrent use. Closing it stops the background reclaim; the engine
// stays open (it belongs to the caller).
type Store struct {
	eng    kv.Engine
	opts   Options
	closed atomic.Bool
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		cursor []byte // where the next bounded ReclaimExpired resumes
	}
}

// Open returns the store of KV tables in eng.
func Open(eng kv.Engine, opts Options) (*Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Store{eng: eng, opts: opts}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if opts.ReclaimInterval > 0 {
		s.wg.Go(func() { s.reclaimLoop(ctx) })
	}
	return s, nil
}

// Close stops the background reclaim and waits for it. Later calls on the
// store or its tables fail with kind Closed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	return nil
}

var errClosed = errors.New("kvtable: store closed")

func (s *Store) check(op, table string) error {
	if s.closed.Load() {
		return fserr.E(op, table, fserr.Closed, errClosed)
	}
	return nil
}

func (s *Store) now() int64 { return nowMs(s.opts.Clock) }

func validName(name string) error {
	if name == "" || len(name) > MaxTableNameLen {
		return fmt.Errorf("kvtable: table name must be 1 to %d bytes, got %d", MaxTableNameLen, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-' || c == ':') {
			return fmt.Errorf("kvtable: table name %q: only letters, digits, '_', '.', '-' and ':' are allowed", name)
		}
	}
	return nil
}

// catalogue entry: version 1, id, default TTL, creation time (Unix ms).
const entryLen = 1 + 4 + 4 + 8

type tableMeta struct {
	id         uint32
	defaultTTL int
	created    int64
}

func encodeEntry(m tableMeta) []byte {
	b := make([]byte, 0, entryLen)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint32(b, m.id)
	b = binary.BigEndian.AppendUint32(b, uint32(m.defaultTTL))
	return binary.BigEndian.AppendUint64(b, uint64(m.created))
}

func decodeEntry(b []byte) (tableMeta, error) {
	if len(b) != entryLen || b[0] != 1 {
		return tableMeta{}, fmt.Errorf("kvtable: catalogue entry of %d bytes is not version 1", len(b))
	}
	return tableMeta{
		id:         binary.BigEndian.Uint32(b[1:]),
		defaultTTL: int(binary.BigEndian.Uint32(b[5:])),
		created:    int64(binary.BigEndian.Uint64(b[9:])),
	}, nil
}

func (m tableMeta) info(name string) TableInfo {
	return TableInfo{Name: name, ID: m.id, DefaultTTL: m.defaultTTL, Created: time.UnixMilli(m.created)}
}

// lookup reads a table's catalogue entry in r.
func lookup(op, name string, r kv.ReadTxn) (tableMeta, error) {
	if err := validName(name); err != nil {
		return tableMeta{}, fserr.E(op, name, fserr.Invalid, err)
	}
	b, err := r.Get(nameKey(name))
	if errors.Is(err, kv.ErrNotFound) {
		return tableMeta{}, fserr.E(op, name, fserr.NotFound, fmt.Errorf("kvtable: table %q does not exist", name))
	}
	if err != nil {
		return tableMeta{}, err
	}
	m, err := decodeEntry(b)
	if err != nil {
		return tableMeta{}, fserr.E(op, name, fserr.Corrupt, err)
	}
	return m, nil
}

// CreateTable creates a table. It fails with kind Exist if the name is
// taken. Table ids are never reused, so records of a dropped table that
// are still being purged can never appear in a new one.
func (s *Store) CreateTable(ctx context.Context, name string, opts TableOptions) (TableInfo, error) {
	const op = "kvtable.CreateTable"
	if err := s.check(op, name); err != nil {
		return TableInfo{}, err
	}
	if err := validName(name); err != nil {
		return TableInfo{}, fserr.E(op, name, fserr.Invalid, err)
	}
	if opts.DefaultTTL < 0 || opts.DefaultTTL > MaxTTL {
		return TableInfo{}, fserr.E(op, name, fserr.Invalid, fmt.Errorf("kvtable: default TTL %d is outside 0..%d seconds", opts.DefaultTTL, MaxTTL))
	}
	var m tableMeta
	err := s.eng.Update(ctx, func(tx kv.Txn) error {
		if _, err := tx.Get(nameKey(name)); err == nil {
			return fserr.E(op, name, fserr.Exist, fmt.Errorf("kvtable: table %q already exists", name))
		} else if !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		var last uint32
		b, err := tx.Get(counterKey())
		switch {
		case err == nil && len(b) == 4:
			last = binary.BigEndian.Uint32(b)
		case err == nil:
			return fserr.E(op, name, fserr.Corrupt, fmt.Errorf("kvtable: table id counter of %d bytes", len(b)))
		case !errors.Is(err, kv.ErrNotFound):
			return err
		}
		if last == math.MaxUint32 {
			return fserr.E(op, name, fserr.NoSpace, errors.New("kvtable: table ids exhausted"))
		}
		m = tableMeta{id: last + 1, defaultTTL: opts.DefaultTTL, created: s.now()}
		if err := tx.Put(counterKey(), binary.BigEndian.AppendUint32(nil, m.id)); err != nil {
			return err
		}
		return tx.Put(nameKey(name), encodeEntry(m))
	})
	if err != nil {
		return TableInfo{}, wrap(op, name, err)
	}
	return m.info(name), nil
}

// DropTable removes a table. The name is free again once DropTable
// returns; its records are deleted in bounded transactions before it
// returns, and if that is interrupted ReclaimExpired finishes the job
// (they are unreachable meanwhile).
func (s *Store) DropTable(ctx context.Context, name string) error {
	const op = "kvtable.DropTable"
	if err := s.check(op, name); err != nil {
		return err
	}
	var m tableMeta
	err := s.eng.Update(ctx, func(tx kv.Txn) error {
		var err error
		if m, err = lookup(op, name, tx); err != nil {
			return err
		}
		if err := tx.Delete(nameKey(name)); err != nil {
			return err
		}
		return tx.Put(droppedKey(m.id), []byte(name))
	})
	if err != nil {
		return wrap(op, name, err)
	}
	if _, err := s.purge(ctx, m.id, 0); err != nil {
		s.opts.Logger.Warn("kvtable: purge of dropped table interrupted; reclaim will finish it",
			"table", name, "id", m.id, "err", err)
	}
	return nil
}

// ListTables returns every table in name order.
func (s *Store) ListTables(ctx context.Context) ([]TableInfo, error) {
	const op = "kvtable.ListTables"
	if err := s.check(op, ""); err != nil {
		return nil, err
	}
	var out []TableInfo
	lo, hi := namesRange()
	err := s.eng.View(ctx, func(r kv.ReadTxn) error {
		out = out[:0]
		pairs, err := r.Scan(lo, hi, 0, false)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			name := string(p.Key[len(lo):])
			m, err := decodeEntry(p.Value)
			if err != nil {
				return fserr.E(op, name, fserr.Corrupt, err)
			}
			out = append(out, m.info(name))
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, "", err)
	}
	return out, nil
}

// DescribeTable returns one table's settings, kind NotFound if there is
// no such table.
func (s *Store) DescribeTable(ctx context.Context, name string) (TableInfo, error) {
	const op = "kvtable.DescribeTable"
	if err := s.check(op, name); err != nil {
		return TableInfo{}, err
	}
	var m tableMeta
	err := s.eng.View(ctx, func(r kv.ReadTxn) error {
		var err error
		m, err = lookup(op, name, r)
		return err
	})
	if err != nil {
		return TableInfo{}, wrap(op, name, err)
	}
	return m.info(name), nil
}

// Table returns a handle on the named table. It does no I/O: a missing
// table is reported (kind NotFound) by each operation, so a handle stays
// valid across a drop and re-create of the same name.
func (s *Store) Table(name string) *Table {
	return &Table{s: s, name: name}
}

// ReclaimExpired deletes expired records and the records of dropped
// tables, examining at most Options.ReclaimBatch records per transaction,
// and returns how many it deleted. A limit > 0 stops it after that many
// deletions, and the next bounded call resumes where it stopped; limit <= 0
// makes one full pass. Expired records are invisible whether or not they
// have been reclaimed: this only frees space.
func (s *Store) ReclaimExpired(ctx context.Context, limit int) (int, error) {
	const op = "kvtable.ReclaimExpired"
	if err := s.check(op, ""); err != nil {
		return 0, err
	}
	total := 0
	remaining := func() int {
		if limit <= 0 {
			return 0
		}
		return limit - total
	}
	// Dropped tables first: their records are garbage whatever their TTL.
	var dropped []uint32
	dlo, dhi := droppedRange()
	err := s.eng.View(ctx, func(r kv.ReadTxn) error {
		dropped = dropped[:0]
		pairs, err := r.Scan(dlo, dhi, 0, false)
		for _, p := range pairs {
			dropped = append(dropped, binary.BigEndian.Uint32(p.Key[len(dlo):]))
		}
		return err
	})
	if err != nil {
		return 0, wrap(op, "", err)
	}
	for _, id := range dropped {
		n, err := s.purge(ctx, id, remaining())
		total += n
		if err != nil {
			return total, wrap(op, "", err)
		}
		if limit > 0 && total >= limit {
			return total, nil
		}
	}

	lo, hi := dataRange()
	cursor := lo
	if limit > 0 {
		s.mu.Lock()
		if s.mu.cursor != nil {
			cursor = s.mu.cursor
		}
		s.mu.Unlock()
	}
	for cursor != nil {
		budget := remaining()
		// Find the expired records in a read-only snapshot and open a
		// write transaction only for those: a pass over live records then
		// costs reads alone, and does not conflict with the sets landing
		// in the range it walks (a profile of `shoal bench kv` showed the
		// minute's reclaim pass, a write transaction per 256 records, at
		// 12% of the CPU while nothing had expired).
		var next []byte
		var expired [][]byte
		err := s.eng.View(ctx, func(r kv.ReadTxn) error {
			next, expired = nil, expired[:0]
			now := s.now()
			pairs, err := r.Scan(cursor, hi, s.opts.ReclaimBatch, false)
			if err != nil {
				return err
			}
			for _, p := range pairs {
				if budget > 0 && len(expired) >= budget {
					next = p.Key
					return nil
				}
				if !live(p.Value, now) {
					expired = append(expired, p.Key)
				}
			}
			if len(pairs) == s.opts.ReclaimBatch {
				next = after(pairs[len(pairs)-1].Key)
			}
			return nil
		})
		if err != nil {
			return total, wrap(op, "", err)
		}
		var n int
		if len(expired) > 0 {
			err = s.eng.Update(ctx, func(tx kv.Txn) error {
				n = 0
				now := s.now()
				vals, err := tx.GetMany(expired)
				if err != nil {
					return err
				}
				for i, v := range vals {
					// Rewritten since the snapshot: live again, keep it.
					if v == nil || live(v, now) {
						continue
					}
					if err := tx.Delete(expired[i]); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			if err != nil {
				return total, wrap(op, "", err)
			}
		}
		total += n
		cursor = next
		if limit > 0 && total >= limit {
			break
		}
	}
	if limit > 0 {
		s.mu.Lock()
		s.mu.cursor = cursor
		s.mu.Unlock()
	}
	return total, nil
}

// purge deletes the records of dropped table id, at most limit of them
// when limit > 0, and forgets the table once none is left.
func (s *Store) purge(ctx context.Context, id uint32, limit int) (int, error) {
	lo, hi := tableRange(id)
	total := 0
	for {
		batch := s.opts.ReclaimBatch
		if limit > 0 {
			batch = min(batch, limit-total)
		}
		var n int
		var next []byte
		err := s.eng.Update(ctx, func(tx kv.Txn) error {
			n, next = 0, nil
			pairs, err := tx.Scan(lo, hi, batch, false)
			if err != nil {
				return err
			}
			for _, p := range pairs {
				if err := tx.Delete(p.Key); err != nil {
					return err
				}
			}
			n = len(pairs)
			if n < batch {
				return tx.Delete(droppedKey(id))
			}
			next = after(pairs[n-1].Key)
			return nil
		})
		total += n
		if err != nil || n < batch {
			return total, err
		}
		// The next batch starts after this one's last key: scanning from
		// the table's start again would walk every tombstone left so far,
		// making a drop quadratic in the table's size (a profile of
		// `shoal bench kv` showed dropping 220,000 records costing 54 s of
		// CPU). Nothing is written below lo meanwhile: the table id is
		// never handed out again.
		lo = next
		if limit > 0 && total >= limit {
			return total, nil
		}
	}
}

func (s *Store) reclaimLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.ReclaimInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.ReclaimExpired(ctx, 0); err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("kvtable: reclaim failed", "err", err)
		}
	}
}

// wrap gives an engine error the operation and table it happened in,
// leaving this package's own errors and cancellation as they are.
func wrap(op, table string, err error) error {
	if err == nil {
		return nil
	}
	var fe *fserr.Error
	if errors.As(err, &fe) && fe.Op == op {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fserr.E(op, table, err)
}

// errorf builds one of this package's errors.
func errorf(op, table string, k fserr.Kind, format string, args ...any) error {
	return fserr.E(op, table, k, fmt.Errorf("kvtable: "+format, args...))
}
