package shoal

import (
	"context"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kvtable"
	"github.com/shoalfs/shoal/internal/rpc"
)

// KV tables (docs/kvtables.md): records (hash key, sort key) -> value
// with an optional TTL, in named tables kept in the same engine as the
// filesystems, with the operations and semantics of Apache Pegasus's
// clients. A Client from OpenLocal reaches them in process, one from Dial
// over the servers' KV service; both behave the same.
//
// The types are the SDK's own (tabletypes.go). Errors are the engine's
// *Error values: their Op names the engine operation ("kvtable.Set") and
// their Path the table.

// KindArgTooBig is the kind of a key or value over the tables' limits
// (E2BIG).
const KindArgTooBig Kind = 27

// DefaultMultiGetOptions returns Pegasus's defaults (start inclusive, at
// most 100 records and 1,000,000 bytes); Go's zero value would make the
// start exclusive.
func DefaultMultiGetOptions() MultiGetOptions {
	return multiGetOptionsOf(kvtable.DefaultMultiGetOptions())
}

// DefaultScanOptions returns Pegasus's defaults (batches of 1,000, start
// inclusive).
func DefaultScanOptions() ScanOptions { return scanOptionsOf(kvtable.DefaultScanOptions()) }

// DefaultDelRangeOptions returns Pegasus's defaults (start inclusive).
func DefaultDelRangeOptions() DelRangeOptions {
	return delRangeOptionsOf(kvtable.DefaultDelRangeOptions())
}

// tableReclaimInterval is how often a local Client deletes expired
// records when its background GC runs: a pass reads every table, so it
// runs less often than the filesystem GC; expired records are invisible
// whether or not it has run.
const tableReclaimInterval = time.Minute

// tables is what a backend provides: the engine's kvtable.Store in
// process, or the kvtable.KV service over gRPC.
type tables interface {
	CreateTable(ctx context.Context, name string, opts kvtable.TableOptions) (kvtable.TableInfo, error)
	DropTable(ctx context.Context, name string) error
	ListTables(ctx context.Context) ([]kvtable.TableInfo, error)
	DescribeTable(ctx context.Context, name string) (kvtable.TableInfo, error)
	table(name string) tableBackend
}

type scanner interface {
	Next(ctx context.Context) (hashKey, sortKey, value []byte, ok bool, err error)
	Close() error
}

type tableBackend interface {
	Set(ctx context.Context, hashKey, sortKey, value []byte, ttlSeconds int) error
	Get(ctx context.Context, hashKey, sortKey []byte) ([]byte, bool, error)
	Exist(ctx context.Context, hashKey, sortKey []byte) (bool, error)
	TTL(ctx context.Context, hashKey, sortKey []byte) (int, bool, error)
	Remove(ctx context.Context, hashKey, sortKey []byte) error
	Incr(ctx context.Context, hashKey, sortKey []byte, increment int64, ttlSeconds int) (int64, error)
	MultiSet(ctx context.Context, hashKey []byte, kvs []kvtable.KV, ttlSeconds int) error
	MultiGet(ctx context.Context, hashKey []byte, sortKeys [][]byte, maxKVCount, maxKVSize int, noValue bool) ([]kvtable.KV, bool, error)
	MultiGetOpt(ctx context.Context, hashKey, start, stop []byte, o kvtable.MultiGetOptions) ([]kvtable.KV, bool, error)
	GetSortKeys(ctx context.Context, hashKey []byte, maxKVCount, maxKVSize int) ([][]byte, bool, error)
	SortKeyCount(ctx context.Context, hashKey []byte) (int64, error)
	MultiDel(ctx context.Context, hashKey []byte, sortKeys [][]byte) (int, error)
	DelRange(ctx context.Context, hashKey, start, stop []byte, o kvtable.DelRangeOptions) (int, error)
	CheckAndSet(ctx context.Context, hashKey, checkSortKey []byte, checkType kvtable.CheckType, checkOperand []byte,
		setSortKey, setValue []byte, opts kvtable.CheckAndSetOptions) (kvtable.CheckAndSetResult, error)
	CheckAndMutate(ctx context.Context, hashKey, checkSortKey []byte, checkType kvtable.CheckType, checkOperand []byte,
		mutations []kvtable.Mutation, opts kvtable.CheckAndMutateOptions) (kvtable.CheckAndMutateResult, error)
	CompareExchange(ctx context.Context, hashKey, sortKey, expected, desired []byte, ttlSeconds int) (kvtable.CompareExchangeResult, error)
	BatchGet(ctx context.Context, keys []kvtable.Key) ([]kvtable.GetResult, error)
	BatchSet(ctx context.Context, items []kvtable.SetItem) ([]error, error)
	BatchDel(ctx context.Context, keys []kvtable.Key) ([]error, error)
	scanner(hashKey, start, stop []byte, opts kvtable.ScanOptions) (scanner, error)
	unordered(ctx context.Context, maxSplitCount int, opts kvtable.ScanOptions) ([]scanner, error)
}

// localTables serves the tables of the engine a local Client holds.
type localTables struct{ *kvtable.Store }

func (l localTables) table(name string) tableBackend { return localTable{l.Store.Table(name)} }

type localTable struct{ *kvtable.Table }

func (t localTable) scanner(hashKey, start, stop []byte, opts kvtable.ScanOptions) (scanner, error) {
	return t.GetScanner(hashKey, start, stop, opts)
}

func (t localTable) unordered(ctx context.Context, n int, opts kvtable.ScanOptions) ([]scanner, error) {
	scs, err := t.GetUnorderedScanners(ctx, n, opts)
	return asScanners(scs), err
}

// remoteTables serves the tables of a server a Client dialled.
type remoteTables struct{ *rpc.KVClient }

func (r remoteTables) table(name string) tableBackend { return remoteTable{r.KVClient.Table(name)} }

type remoteTable struct{ *rpc.KVTable }

func (t remoteTable) scanner(hashKey, start, stop []byte, opts kvtable.ScanOptions) (scanner, error) {
	sc, err := t.GetScanner(hashKey, start, stop, opts)
	if err != nil {
		return nil, err
	}
	return sc, nil
}

func (t remoteTable) unordered(ctx context.Context, n int, opts kvtable.ScanOptions) ([]scanner, error) {
	scs, err := t.GetUnorderedScanners(ctx, n, opts)
	return asScanners(scs), err
}

func asScanners[S scanner](scs []S) []scanner {
	out := make([]scanner, len(scs))
	for i, s := range scs {
		out[i] = s
	}
	return out
}

// openLocalTables opens the KV tables of a local Client's engine. The
// store is closed before the engine.
func openLocalTables(eng kv.Engine, o options) (*kvtable.Store, error) {
	opts := kvtable.Options{Logger: o.logger}
	if o.gcInterval > 0 {
		opts.ReclaimInterval = tableReclaimInterval
	}
	return kvtable.Open(eng, opts)
}

func (c *Client) tables(op, name string) (tables, error) {
	if err := c.check(op, name); err != nil {
		return nil, err
	}
	if c.core.tables == nil {
		return nil, fserr.E(op, name, fserr.NotSupported)
	}
	return c.core.tables, nil
}

// CreateTable creates a KV table (an error of kind KindExist if the name
// is taken). Names are 1-128 bytes of letters, digits and "_ . - :";
// opts.DefaultTTL (seconds, 0 none) applies to writes without a TTL.
// Over Dial with tokens it needs a super token.
func (c *Client) CreateTable(name string, opts TableOptions) (TableInfo, error) {
	ts, err := c.tables("createtable", name)
	if err != nil {
		return TableInfo{}, err
	}
	ti, err := ts.CreateTable(c.ctx, name, kvtable.TableOptions(opts))
	return tableInfoOf(ti), err
}

// DropTable removes a KV table and its records.
func (c *Client) DropTable(name string) error {
	ts, err := c.tables("droptable", name)
	if err != nil {
		return err
	}
	return ts.DropTable(c.ctx, name)
}

// ListTables returns every KV table in name order.
func (c *Client) ListTables() ([]TableInfo, error) {
	ts, err := c.tables("listtables", "")
	if err != nil {
		return nil, err
	}
	tis, err := ts.ListTables(c.ctx)
	return convertSlice(tis, tableInfoOf), err
}

// DescribeTable returns a KV table's settings (KindNotFound if none).
func (c *Client) DescribeTable(name string) (TableInfo, error) {
	ts, err := c.tables("describetable", name)
	if err != nil {
		return TableInfo{}, err
	}
	ti, err := ts.DescribeTable(c.ctx, name)
	return tableInfoOf(ti), err
}

// Table returns a handle on the KV table name. It does no I/O: a table
// that does not exist is reported (KindNotFound) by each call. Calls run
// under the Client's context (see WithContext).
func (c *Client) Table(name string) *Table {
	return &Table{c: c, name: name}
}

// Table is a KV table. It is safe for concurrent use. Each method has the
// semantics of the Pegasus call of the same name (docs/kvtables.md).
type Table struct {
	c    *Client
	name string
}

// Name is the table's name.
func (t *Table) Name() string { return t.name }

func (t *Table) b() (tableBackend, error) {
	ts, err := t.c.tables("table", t.name)
	if err != nil {
		return nil, err
	}
	return ts.table(t.name), nil
}

// Set stores value under (hashKey, sortKey). ttl is in seconds; 0 gives
// the table's default TTL (none if it has none).
func (t *Table) Set(hashKey, sortKey, value []byte, ttl int) error {
	b, err := t.b()
	if err != nil {
		return err
	}
	return b.Set(t.c.ctx, hashKey, sortKey, value, ttl)
}

// Get returns the value of (hashKey, sortKey); found is false when there
// is no live record.
func (t *Table) Get(hashKey, sortKey []byte) (value []byte, found bool, err error) {
	b, err := t.b()
	if err != nil {
		return nil, false, err
	}
	return b.Get(t.c.ctx, hashKey, sortKey)
}

// Exist reports whether (hashKey, sortKey) holds a live record.
func (t *Table) Exist(hashKey, sortKey []byte) (bool, error) {
	b, err := t.b()
	if err != nil {
		return false, err
	}
	return b.Exist(t.c.ctx, hashKey, sortKey)
}

// TTL returns the record's remaining seconds (-1: none); found is false
// when there is no live record.
func (t *Table) TTL(hashKey, sortKey []byte) (ttl int, found bool, err error) {
	b, err := t.b()
	if err != nil {
		return 0, false, err
	}
	return b.TTL(t.c.ctx, hashKey, sortKey)
}

// Remove deletes (hashKey, sortKey); a missing record is not an error.
func (t *Table) Remove(hashKey, sortKey []byte) error {
	b, err := t.b()
	if err != nil {
		return err
	}
	return b.Remove(t.c.ctx, hashKey, sortKey)
}

// Incr adds increment to the decimal integer stored at (hashKey, sortKey)
// and returns the result; ttl 0 keeps the record's TTL, > 0 sets one, -1
// removes it.
func (t *Table) Incr(hashKey, sortKey []byte, increment int64, ttl int) (int64, error) {
	b, err := t.b()
	if err != nil {
		return 0, err
	}
	return b.Incr(t.c.ctx, hashKey, sortKey, increment, ttl)
}

// MultiSet stores several records of one hash key atomically.
func (t *Table) MultiSet(hashKey []byte, kvs []KV, ttl int) error {
	b, err := t.b()
	if err != nil {
		return err
	}
	return b.MultiSet(t.c.ctx, hashKey, convertSlice(kvs, kvEngine), ttl)
}

// MultiGet reads the given sort keys of hashKey (all of them when
// sortKeys is empty), within the limits (<= 0: none); more reports that
// the limits cut the result.
func (t *Table) MultiGet(hashKey []byte, sortKeys [][]byte, maxKVCount, maxKVSize int, noValue bool) (kvs []KV, more bool, err error) {
	b, err := t.b()
	if err != nil {
		return nil, false, err
	}
	ekvs, more, err := b.MultiGet(t.c.ctx, hashKey, sortKeys, maxKVCount, maxKVSize, noValue)
	return convertSlice(ekvs, kvOf), more, err
}

// MultiGetOpt reads hashKey's records from start to stop (empty: the
// end) as opts selects.
func (t *Table) MultiGetOpt(hashKey, start, stop []byte, opts MultiGetOptions) (kvs []KV, more bool, err error) {
	b, err := t.b()
	if err != nil {
		return nil, false, err
	}
	ekvs, more, err := b.MultiGetOpt(t.c.ctx, hashKey, start, stop, opts.engine())
	return convertSlice(ekvs, kvOf), more, err
}

// GetSortKeys returns hashKey's sort keys within the limits.
func (t *Table) GetSortKeys(hashKey []byte, maxKVCount, maxKVSize int) (sortKeys [][]byte, more bool, err error) {
	b, err := t.b()
	if err != nil {
		return nil, false, err
	}
	return b.GetSortKeys(t.c.ctx, hashKey, maxKVCount, maxKVSize)
}

// SortKeyCount counts hashKey's live records.
func (t *Table) SortKeyCount(hashKey []byte) (int64, error) {
	b, err := t.b()
	if err != nil {
		return 0, err
	}
	return b.SortKeyCount(t.c.ctx, hashKey)
}

// MultiDel deletes sort keys of hashKey atomically and returns how many
// were live.
func (t *Table) MultiDel(hashKey []byte, sortKeys [][]byte) (int, error) {
	b, err := t.b()
	if err != nil {
		return 0, err
	}
	return b.MultiDel(t.c.ctx, hashKey, sortKeys)
}

// DelRange deletes hashKey's records from start to stop as opts selects
// and returns how many it deleted.
func (t *Table) DelRange(hashKey, start, stop []byte, opts DelRangeOptions) (int, error) {
	b, err := t.b()
	if err != nil {
		return 0, err
	}
	return b.DelRange(t.c.ctx, hashKey, start, stop, opts.engine())
}

// CheckAndSet checks (hashKey, checkSortKey) and, if the check passes,
// sets (hashKey, setSortKey), atomically.
func (t *Table) CheckAndSet(hashKey, checkSortKey []byte, checkType CheckType, checkOperand []byte,
	setSortKey, setValue []byte, opts CheckAndSetOptions) (CheckAndSetResult, error) {
	b, err := t.b()
	if err != nil {
		return CheckAndSetResult{}, err
	}
	r, err := b.CheckAndSet(t.c.ctx, hashKey, checkSortKey, kvtable.CheckType(checkType), checkOperand,
		setSortKey, setValue, kvtable.CheckAndSetOptions(opts))
	return CheckAndSetResult(r), err
}

// CheckAndMutate checks (hashKey, checkSortKey) and, if the check passes,
// applies mutations, atomically.
func (t *Table) CheckAndMutate(hashKey, checkSortKey []byte, checkType CheckType, checkOperand []byte,
	mutations []Mutation, opts CheckAndMutateOptions) (CheckAndMutateResult, error) {
	b, err := t.b()
	if err != nil {
		return CheckAndMutateResult{}, err
	}
	r, err := b.CheckAndMutate(t.c.ctx, hashKey, checkSortKey, kvtable.CheckType(checkType), checkOperand,
		convertSlice(mutations, mutationEngine), kvtable.CheckAndMutateOptions(opts))
	return CheckAndMutateResult(r), err
}

// CompareExchange sets (hashKey, sortKey) to desired if it holds expected.
func (t *Table) CompareExchange(hashKey, sortKey, expected, desired []byte, ttl int) (CompareExchangeResult, error) {
	b, err := t.b()
	if err != nil {
		return CompareExchangeResult{}, err
	}
	r, err := b.CompareExchange(t.c.ctx, hashKey, sortKey, expected, desired, ttl)
	return CompareExchangeResult(r), err
}

// BatchGet reads records of any hash keys, with a result per key.
func (t *Table) BatchGet(keys []Key) ([]GetResult, error) {
	b, err := t.b()
	if err != nil {
		return nil, err
	}
	rs, err := b.BatchGet(t.c.ctx, convertSlice(keys, keyEngine))
	return convertSlice(rs, getResultOf), err
}

// BatchSet writes records of any hash keys (atomically per hash key) and
// returns an error per item.
func (t *Table) BatchSet(items []SetItem) ([]error, error) {
	b, err := t.b()
	if err != nil {
		return nil, err
	}
	return b.BatchSet(t.c.ctx, convertSlice(items, setItemEngine))
}

// BatchDel deletes records of any hash keys, with an error per key.
func (t *Table) BatchDel(keys []Key) ([]error, error) {
	b, err := t.b()
	if err != nil {
		return nil, err
	}
	return b.BatchDel(t.c.ctx, convertSlice(keys, keyEngine))
}

// GetScanner returns a scanner over hashKey's records from start to stop
// (empty: the end), in sort-key order, read in batches of
// opts.BatchSize.
func (t *Table) GetScanner(hashKey, start, stop []byte, opts ScanOptions) (*Scanner, error) {
	b, err := t.b()
	if err != nil {
		return nil, err
	}
	sc, err := b.scanner(hashKey, start, stop, opts.engine())
	if err != nil {
		return nil, err
	}
	return &Scanner{sc: sc, ctx: t.c.ctx}, nil
}

// GetUnorderedScanners returns at most maxSplitCount scanners over
// disjoint parts of the table that together cover it exactly once.
func (t *Table) GetUnorderedScanners(maxSplitCount int, opts ScanOptions) ([]*Scanner, error) {
	b, err := t.b()
	if err != nil {
		return nil, err
	}
	scs, err := b.unordered(t.c.ctx, maxSplitCount, opts.engine())
	if err != nil {
		return nil, err
	}
	out := make([]*Scanner, len(scs))
	for i, sc := range scs {
		out[i] = &Scanner{sc: sc, ctx: t.c.ctx}
	}
	return out, nil
}

// Scanner streams records in batches. It is meant for one goroutine;
// Close may be called from any.
type Scanner struct {
	sc  scanner
	ctx context.Context
}

// Next returns the next record; ok is false at the end. After Close it
// fails with KindClosed.
func (s *Scanner) Next() (hashKey, sortKey, value []byte, ok bool, err error) {
	return s.sc.Next(s.ctx)
}

// Close releases the scanner.
func (s *Scanner) Close() error { return s.sc.Close() }
