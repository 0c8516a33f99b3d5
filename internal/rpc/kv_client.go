package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"google.golang.org/grpc"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kvtable"
)

// KVClient reaches the KV tables of the servers a Conn talks to. Its
// methods and those of KVTable and KVScanner have the signatures and
// semantics of kvtable's Store, Table and Scanner (the errors are the
// server's, rebuilt), so a caller can hold either behind one interface.
//
// Retries: like every call of a Conn, a KV call that never reached a
// server, or whose reply was lost, is sent again to the next server.
// Writes carry no request id here, so a non-idempotent write (incr,
// check_and_set, check_and_mutate) whose reply was lost in a failover may
// be applied twice, as with Pegasus's clients.
type KVClient struct {
	c  *Conn
	co *coalescer // batches concurrent Sets and Gets (kv_coalesce.go)
}

// KV returns a KV table client of c. Concurrent Sets and Gets through
// one KVClient are coalesced into batches; keep one per Conn.
func (c *Conn) KV() *KVClient { return &KVClient{c: c, co: newCoalescer()} }

func kvDo[R any](ctx context.Context, c *Conn, op string, fn func(ctx context.Context, k pb.KVClient) (R, error)) (R, error) {
	var out R
	if c.closed.Load() {
		return out, fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
	}
	err := c.invoke(ctx, op, false, nil, callOpts{noSession: true}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		out, err = fn(ctx, pb.NewKVClient(cc))
		return err
	})
	return out, err
}

// CreateTable creates a table (kind Exist if the name is taken).
func (k *KVClient) CreateTable(ctx context.Context, name string, opts kvtable.TableOptions) (kvtable.TableInfo, error) {
	r, err := kvDo(ctx, k.c, "rpc.CreateTable", func(ctx context.Context, kc pb.KVClient) (*pb.KVTableInfo, error) {
		return kc.CreateTable(ctx, &pb.KVCreateTableRequest{Name: name, DefaultTtl: int32(clampTTL(opts.DefaultTTL))})
	})
	if err != nil {
		return kvtable.TableInfo{}, err
	}
	return tableInfoFromPB(r), nil
}

// DropTable removes a table and its records.
func (k *KVClient) DropTable(ctx context.Context, name string) error {
	_, err := kvDo(ctx, k.c, "rpc.DropTable", func(ctx context.Context, kc pb.KVClient) (*pb.Empty, error) {
		return kc.DropTable(ctx, &pb.KVTableName{Name: name})
	})
	return err
}

// ListTables returns every table in name order.
func (k *KVClient) ListTables(ctx context.Context) ([]kvtable.TableInfo, error) {
	r, err := kvDo(ctx, k.c, "rpc.ListTables", func(ctx context.Context, kc pb.KVClient) (*pb.KVTableList, error) {
		return kc.ListTables(ctx, empty)
	})
	if err != nil {
		return nil, err
	}
	out := make([]kvtable.TableInfo, len(r.Tables))
	for i, t := range r.Tables {
		out[i] = tableInfoFromPB(t)
	}
	return out, nil
}

// DescribeTable returns one table's settings (kind NotFound if none).
func (k *KVClient) DescribeTable(ctx context.Context, name string) (kvtable.TableInfo, error) {
	r, err := kvDo(ctx, k.c, "rpc.DescribeTable", func(ctx context.Context, kc pb.KVClient) (*pb.KVTableInfo, error) {
		return kc.DescribeTable(ctx, &pb.KVTableName{Name: name})
	})
	if err != nil {
		return kvtable.TableInfo{}, err
	}
	return tableInfoFromPB(r), nil
}

// Table returns a handle on the named table. It does no I/O: a missing
// table is reported by each call.
func (k *KVClient) Table(name string) *KVTable { return &KVTable{c: k.c, co: k.co, name: name} }

// clampTTL maps a TTL that does not fit the wire's int32 to one the
// server rejects as out of range too, rather than letting a truncated
// value pass.
func clampTTL(ttl int) int {
	if ttl > math.MaxInt32 || ttl < math.MinInt32 {
		return math.MinInt32
	}
	return ttl
}

// KVTable is a table reached over gRPC; see kvtable.Table for the
// semantics of each method.
type KVTable struct {
	c    *Conn
	co   *coalescer // nil: no coalescing
	name string
}

// Name is the table's name.
func (t *KVTable) Name() string { return t.name }

func (t *KVTable) Set(ctx context.Context, hashKey, sortKey, value []byte, ttlSeconds int) error {
	if sent, err := t.coalesceSet(ctx, hashKey, sortKey, value, ttlSeconds); sent {
		return err
	}
	return t.setOne(ctx, hashKey, sortKey, value, ttlSeconds)
}

// setOne sends one Set rpc.
func (t *KVTable) setOne(ctx context.Context, hashKey, sortKey, value []byte, ttlSeconds int) error {
	_, err := kvDo(ctx, t.c, "rpc.Set", func(ctx context.Context, kc pb.KVClient) (*pb.Empty, error) {
		return kc.Set(ctx, &pb.KVSetRequest{Table: t.name, HashKey: hashKey, SortKey: sortKey, Value: value, Ttl: int32(clampTTL(ttlSeconds))})
	})
	return err
}

func (t *KVTable) key(hashKey, sortKey []byte) *pb.KVKeyRequest {
	return &pb.KVKeyRequest{Table: t.name, HashKey: hashKey, SortKey: sortKey}
}

func (t *KVTable) Get(ctx context.Context, hashKey, sortKey []byte) ([]byte, bool, error) {
	if res, sent, err := t.coalesceGet(ctx, hashKey, sortKey); sent {
		return res.Value, res.Found && err == nil, err
	}
	return t.getOne(ctx, hashKey, sortKey)
}

// getOne sends one Get rpc.
func (t *KVTable) getOne(ctx context.Context, hashKey, sortKey []byte) ([]byte, bool, error) {
	r, err := kvDo(ctx, t.c, "rpc.Get", func(ctx context.Context, kc pb.KVClient) (*pb.KVGetReply, error) {
		return kc.Get(ctx, t.key(hashKey, sortKey))
	})
	if err != nil || !r.Found {
		return nil, false, err
	}
	return nonNil(r.Value), true, nil
}

// nonNil keeps an empty value distinct from "no value" (proto3 decodes
// empty bytes as nil).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (t *KVTable) Exist(ctx context.Context, hashKey, sortKey []byte) (bool, error) {
	r, err := kvDo(ctx, t.c, "rpc.Exist", func(ctx context.Context, kc pb.KVClient) (*pb.KVExistReply, error) {
		return kc.Exist(ctx, t.key(hashKey, sortKey))
	})
	if err != nil {
		return false, err
	}
	return r.Exist, nil
}

func (t *KVTable) TTL(ctx context.Context, hashKey, sortKey []byte) (int, bool, error) {
	r, err := kvDo(ctx, t.c, "rpc.TTL", func(ctx context.Context, kc pb.KVClient) (*pb.KVTTLReply, error) {
		return kc.TTL(ctx, t.key(hashKey, sortKey))
	})
	if err != nil {
		return 0, false, err
	}
	return int(r.Ttl), r.Found, nil
}

func (t *KVTable) Remove(ctx context.Context, hashKey, sortKey []byte) error {
	_, err := kvDo(ctx, t.c, "rpc.Remove", func(ctx context.Context, kc pb.KVClient) (*pb.Empty, error) {
		return kc.Remove(ctx, t.key(hashKey, sortKey))
	})
	return err
}

func (t *KVTable) Incr(ctx context.Context, hashKey, sortKey []byte, increment int64, ttlSeconds int) (int64, error) {
	r, err := kvDo(ctx, t.c, "rpc.Incr", func(ctx context.Context, kc pb.KVClient) (*pb.KVIncrReply, error) {
		return kc.Incr(ctx, &pb.KVIncrRequest{Table: t.name, HashKey: hashKey, SortKey: sortKey, Increment: increment, Ttl: int32(clampTTL(ttlSeconds))})
	})
	if err != nil {
		return 0, err
	}
	return r.Value, nil
}

func (t *KVTable) MultiSet(ctx context.Context, hashKey []byte, kvs []kvtable.KV, ttlSeconds int) error {
	_, err := kvDo(ctx, t.c, "rpc.MultiSet", func(ctx context.Context, kc pb.KVClient) (*pb.Empty, error) {
		return kc.MultiSet(ctx, &pb.KVMultiSetRequest{Table: t.name, HashKey: hashKey, Kvs: kvsToPB(kvs), Ttl: int32(clampTTL(ttlSeconds))})
	})
	return err
}

func multiGetReply(r *pb.KVMultiGetReply, noValue bool, err error) ([]kvtable.KV, bool, error) {
	if err != nil {
		return nil, false, err
	}
	out := kvsFromPB(r.Kvs)
	if !noValue {
		for i := range out {
			out[i].Value = nonNil(out[i].Value)
		}
	}
	return out, r.More, nil
}

func (t *KVTable) MultiGet(ctx context.Context, hashKey []byte, sortKeys [][]byte, maxKVCount, maxKVSize int, noValue bool) ([]kvtable.KV, bool, error) {
	r, err := kvDo(ctx, t.c, "rpc.MultiGet", func(ctx context.Context, kc pb.KVClient) (*pb.KVMultiGetReply, error) {
		return kc.MultiGet(ctx, &pb.KVMultiGetRequest{Table: t.name, HashKey: hashKey, SortKeys: sortKeys,
			MaxKvCount: int64(maxKVCount), MaxKvSize: int64(maxKVSize), NoValue: noValue})
	})
	return multiGetReply(r, noValue, err)
}

func (t *KVTable) MultiGetOpt(ctx context.Context, hashKey, start, stop []byte, o kvtable.MultiGetOptions) ([]kvtable.KV, bool, error) {
	r, err := kvDo(ctx, t.c, "rpc.MultiGetOpt", func(ctx context.Context, kc pb.KVClient) (*pb.KVMultiGetReply, error) {
		return kc.MultiGetOpt(ctx, &pb.KVMultiGetOptRequest{Table: t.name, HashKey: hashKey, StartSortKey: start, StopSortKey: stop,
			StartInclusive: o.StartInclusive, StopInclusive: o.StopInclusive, SortKeyFilter: filterToPB(o.SortKeyFilter),
			NoValue: o.NoValue, Reverse: o.Reverse, MaxKvCount: int64(o.MaxKVCount), MaxKvSize: int64(o.MaxKVSize)})
	})
	return multiGetReply(r, o.NoValue, err)
}

func (t *KVTable) GetSortKeys(ctx context.Context, hashKey []byte, maxKVCount, maxKVSize int) ([][]byte, bool, error) {
	r, err := kvDo(ctx, t.c, "rpc.GetSortKeys", func(ctx context.Context, kc pb.KVClient) (*pb.KVSortKeysReply, error) {
		return kc.GetSortKeys(ctx, &pb.KVGetSortKeysRequest{Table: t.name, HashKey: hashKey, MaxKvCount: int64(maxKVCount), MaxKvSize: int64(maxKVSize)})
	})
	if err != nil {
		return nil, false, err
	}
	for i := range r.SortKeys {
		r.SortKeys[i] = nonNil(r.SortKeys[i])
	}
	return r.SortKeys, r.More, nil
}

func (t *KVTable) SortKeyCount(ctx context.Context, hashKey []byte) (int64, error) {
	r, err := kvDo(ctx, t.c, "rpc.SortKeyCount", func(ctx context.Context, kc pb.KVClient) (*pb.KVCountReply, error) {
		return kc.SortKeyCount(ctx, &pb.KVHashKeyRequest{Table: t.name, HashKey: hashKey})
	})
	if err != nil {
		return 0, err
	}
	return r.Count, nil
}

func (t *KVTable) MultiDel(ctx context.Context, hashKey []byte, sortKeys [][]byte) (int, error) {
	r, err := kvDo(ctx, t.c, "rpc.MultiDel", func(ctx context.Context, kc pb.KVClient) (*pb.KVCountReply, error) {
		return kc.MultiDel(ctx, &pb.KVMultiDelRequest{Table: t.name, HashKey: hashKey, SortKeys: sortKeys})
	})
	if err != nil {
		return 0, err
	}
	return int(r.Count), nil
}

func (t *KVTable) DelRange(ctx context.Context, hashKey, start, stop []byte, o kvtable.DelRangeOptions) (int, error) {
	r, err := kvDo(ctx, t.c, "rpc.DelRange", func(ctx context.Context, kc pb.KVClient) (*pb.KVCountReply, error) {
		return kc.DelRange(ctx, &pb.KVDelRangeRequest{Table: t.name, HashKey: hashKey, StartSortKey: start, StopSortKey: stop,
			StartInclusive: o.StartInclusive, StopInclusive: o.StopInclusive, SortKeyFilter: filterToPB(o.SortKeyFilter)})
	})
	if err != nil {
		return 0, err
	}
	return int(r.Count), nil
}

func checkValue(r *pb.KVCheckReply) []byte {
	if r.CheckValueReturned && r.CheckValueExist {
		return nonNil(r.CheckValue)
	}
	return nil
}

func (t *KVTable) CheckAndSet(ctx context.Context, hashKey, checkSortKey []byte, checkType kvtable.CheckType, checkOperand []byte,
	setSortKey, setValue []byte, opts kvtable.CheckAndSetOptions) (kvtable.CheckAndSetResult, error) {
	r, err := kvDo(ctx, t.c, "rpc.CheckAndSet", func(ctx context.Context, kc pb.KVClient) (*pb.KVCheckReply, error) {
		return kc.CheckAndSet(ctx, &pb.KVCheckAndSetRequest{Table: t.name, HashKey: hashKey, CheckSortKey: checkSortKey,
			CheckType: int32(checkType), CheckOperand: checkOperand, SetSortKey: setSortKey, SetValue: setValue,
			SetValueTtl: int32(clampTTL(opts.SetValueTTL)), ReturnCheckValue: opts.ReturnCheckValue})
	})
	if err != nil {
		return kvtable.CheckAndSetResult{}, err
	}
	return kvtable.CheckAndSetResult{SetSucceed: r.Succeed, CheckValueReturned: r.CheckValueReturned,
		CheckValueExist: r.CheckValueExist, CheckValue: checkValue(r)}, nil
}

func (t *KVTable) CheckAndMutate(ctx context.Context, hashKey, checkSortKey []byte, checkType kvtable.CheckType, checkOperand []byte,
	mutations []kvtable.Mutation, opts kvtable.CheckAndMutateOptions) (kvtable.CheckAndMutateResult, error) {
	muts := make([]*pb.KVMutation, len(mutations))
	for i, m := range mutations {
		muts[i] = &pb.KVMutation{Op: int32(m.Op), SortKey: m.SortKey, Value: m.Value, Ttl: int32(clampTTL(m.TTL))}
	}
	r, err := kvDo(ctx, t.c, "rpc.CheckAndMutate", func(ctx context.Context, kc pb.KVClient) (*pb.KVCheckReply, error) {
		return kc.CheckAndMutate(ctx, &pb.KVCheckAndMutateRequest{Table: t.name, HashKey: hashKey, CheckSortKey: checkSortKey,
			CheckType: int32(checkType), CheckOperand: checkOperand, Mutations: muts, ReturnCheckValue: opts.ReturnCheckValue})
	})
	if err != nil {
		return kvtable.CheckAndMutateResult{}, err
	}
	return kvtable.CheckAndMutateResult{MutateSucceed: r.Succeed, CheckValueReturned: r.CheckValueReturned,
		CheckValueExist: r.CheckValueExist, CheckValue: checkValue(r)}, nil
}

func (t *KVTable) CompareExchange(ctx context.Context, hashKey, sortKey, expected, desired []byte, ttlSeconds int) (kvtable.CompareExchangeResult, error) {
	r, err := kvDo(ctx, t.c, "rpc.CompareExchange", func(ctx context.Context, kc pb.KVClient) (*pb.KVCompareExchangeReply, error) {
		return kc.CompareExchange(ctx, &pb.KVCompareExchangeRequest{Table: t.name, HashKey: hashKey, SortKey: sortKey,
			Expected: expected, Desired: desired, Ttl: int32(clampTTL(ttlSeconds))})
	})
	if err != nil {
		return kvtable.CompareExchangeResult{}, err
	}
	res := kvtable.CompareExchangeResult{SetSucceed: r.Succeed, ActualExist: r.ActualExist}
	if r.ActualExist {
		res.ActualValue = nonNil(r.ActualValue)
	}
	return res, nil
}

// errFromDetail rebuilds one batch item's error as fromStatus does a call's.
func errFromDetail(d *pb.ErrorDetail) error {
	if d == nil {
		return nil
	}
	e := &fserr.Error{Op: d.Op, Path: string(d.Path), Kind: fserr.Kind(d.Kind)}
	if d.Message != "" {
		e.Err = errors.New(d.Message)
	}
	return e
}

// kvErr builds an error kvtable would have returned for table.
func kvErr(op, table string, k fserr.Kind, format string, args ...any) error {
	return fserr.E(op, table, k, fmt.Errorf(format, args...))
}

func keysToPB(keys []kvtable.Key) []*pb.KVKey {
	out := make([]*pb.KVKey, len(keys))
	for i, k := range keys {
		out[i] = &pb.KVKey{HashKey: k.HashKey, SortKey: k.SortKey}
	}
	return out
}

func (t *KVTable) BatchGet(ctx context.Context, keys []kvtable.Key) ([]kvtable.GetResult, error) {
	r, err := kvDo(ctx, t.c, "rpc.BatchGet", func(ctx context.Context, kc pb.KVClient) (*pb.KVBatchGetReply, error) {
		return kc.BatchGet(ctx, &pb.KVBatchKeysRequest{Table: t.name, Keys: keysToPB(keys)})
	})
	if err != nil {
		return nil, err
	}
	out := make([]kvtable.GetResult, len(r.Items))
	for i, it := range r.Items {
		out[i] = kvtable.GetResult{Found: it.Found, Err: errFromDetail(it.Error)}
		if it.Found {
			out[i].Value = nonNil(it.Value)
		}
	}
	return out, nil
}

func batchErrs(r *pb.KVBatchReply, err error) ([]error, error) {
	if err != nil {
		return nil, err
	}
	out := make([]error, len(r.Items))
	for i, it := range r.Items {
		out[i] = errFromDetail(it.GetError())
	}
	return out, nil
}

func (t *KVTable) BatchSet(ctx context.Context, items []kvtable.SetItem) ([]error, error) {
	ps := make([]*pb.KVSetItem, len(items))
	for i, it := range items {
		ps[i] = &pb.KVSetItem{HashKey: it.HashKey, SortKey: it.SortKey, Value: it.Value, Ttl: int32(clampTTL(it.TTL))}
	}
	return batchErrs(kvDo(ctx, t.c, "rpc.BatchSet", func(ctx context.Context, kc pb.KVClient) (*pb.KVBatchReply, error) {
		return kc.BatchSet(ctx, &pb.KVBatchSetRequest{Table: t.name, Items: ps})
	}))
}

func (t *KVTable) BatchDel(ctx context.Context, keys []kvtable.Key) ([]error, error) {
	return batchErrs(kvDo(ctx, t.c, "rpc.BatchDel", func(ctx context.Context, kc pb.KVClient) (*pb.KVBatchReply, error) {
		return kc.BatchDel(ctx, &pb.KVBatchKeysRequest{Table: t.name, Keys: keysToPB(keys)})
	}))
}

// ---- scanners ----

// GetScanner returns a scanner over hashKey's records from start to stop.
// Like kvtable's, it does no I/O: the first Next reads the first batch.
// The arguments that kvtable rejects up front are rejected here too.
func (t *KVTable) GetScanner(hashKey, start, stop []byte, opts kvtable.ScanOptions) (*KVScanner, error) {
	const op = "kvtable.GetScanner"
	if t.c.closed.Load() {
		return nil, fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
	}
	switch {
	case len(hashKey) == 0:
		return nil, kvErr(op, t.name, fserr.Invalid, "kvtable: hash key must not be empty")
	case len(hashKey) > kvtable.MaxHashKeyLen:
		return nil, kvErr(op, t.name, fserr.ArgTooBig, "kvtable: hash key of %d bytes exceeds the limit of %d bytes",
			len(hashKey), kvtable.MaxHashKeyLen)
	}
	if err := validScanFilters(op, t.name, opts); err != nil {
		return nil, err
	}
	return &KVScanner{t: t, opts: scanOptionsToPB(opts),
		hashKey: bytes.Clone(hashKey), start: bytes.Clone(start), stop: bytes.Clone(stop)}, nil
}

func validScanFilters(op, table string, o kvtable.ScanOptions) error {
	for _, f := range []struct {
		what string
		f    kvtable.Filter
	}{{"sort key filter", o.SortKeyFilter}, {"hash key filter", o.HashKeyFilter}} {
		if f.f.Type < kvtable.FilterNone || f.f.Type > kvtable.FilterMatchPostfix {
			return kvErr(op, table, fserr.Invalid, "kvtable: %s: unknown filter type %d", f.what, f.f.Type)
		}
	}
	return nil
}

// GetUnorderedScanners returns at most maxSplitCount scanners over
// disjoint ranges that together cover the table.
func (t *KVTable) GetUnorderedScanners(ctx context.Context, maxSplitCount int, opts kvtable.ScanOptions) ([]*KVScanner, error) {
	o := scanOptionsToPB(opts)
	r, err := kvDo(ctx, t.c, "rpc.GetUnorderedScanners", func(ctx context.Context, kc pb.KVClient) (*pb.KVUnorderedScannersReply, error) {
		return kc.GetUnorderedScanners(ctx, &pb.KVUnorderedScannersRequest{Table: t.name, MaxSplitCount: int32(min(maxSplitCount, 1<<30)), Options: o})
	})
	if err != nil {
		return nil, err
	}
	out := make([]*KVScanner, len(r.Cursors))
	for i, c := range r.Cursors {
		out[i] = &KVScanner{t: t, opts: o, cursor: c, started: true}
	}
	return out, nil
}

// KVScanner streams a scan's records, one Scan call per batch; between
// batches only the cursor is kept (on this side). It is meant for one
// goroutine; Close may be called from any.
type KVScanner struct {
	t                    *KVTable
	opts                 *pb.KVScanOptions
	hashKey, start, stop []byte

	mu struct {
		sync.Mutex
		closed bool
	}
	// Owned by the goroutine calling Next.
	cursor  []byte
	started bool // cursor, not the hash-key range, says where to go on
	done    bool
	buf     []*pb.KVRecord
}

// Next returns the next record; ok is false at the end. Using a closed
// scanner fails with kind Closed.
func (s *KVScanner) Next(ctx context.Context) (hashKey, sortKey, value []byte, ok bool, err error) {
	const op = "kvtable.Scanner.Next"
	for {
		s.mu.Lock()
		closed := s.mu.closed
		s.mu.Unlock()
		if closed {
			return nil, nil, nil, false, kvErr(op, s.t.name, fserr.Closed, "kvtable: scanner used after Close")
		}
		if len(s.buf) > 0 {
			r := s.buf[0]
			s.buf[0] = nil
			s.buf = s.buf[1:]
			v := r.Value
			if !s.opts.NoValue {
				v = nonNil(v)
			}
			return nonNil(r.HashKey), nonNil(r.SortKey), v, true, nil
		}
		if s.done {
			return nil, nil, nil, false, nil
		}
		req := &pb.KVScanRequest{Table: s.t.name, Options: s.opts}
		if s.started {
			req.Cursor = s.cursor
		} else {
			req.HashKey, req.StartSortKey, req.StopSortKey = s.hashKey, s.start, s.stop
		}
		r, err := kvDo(ctx, s.t.c, "rpc.Scan", func(ctx context.Context, kc pb.KVClient) (*pb.KVScanReply, error) {
			return kc.Scan(ctx, req)
		})
		if err != nil {
			return nil, nil, nil, false, err
		}
		s.buf, s.cursor, s.started = r.Records, r.Cursor, true
		s.done = len(r.Cursor) == 0
	}
}

// Close releases the scanner; later calls to Next fail.
func (s *KVScanner) Close() error {
	s.mu.Lock()
	s.mu.closed = true
	s.mu.Unlock()
	return nil
}
