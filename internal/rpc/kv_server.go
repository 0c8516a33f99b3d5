package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/kvtable"
)

// The KV service (api/shoal/v1/kvtable.proto) is a thin adapter over a
// kvtable.Store: every rpc is one call of the store or of a table, and
// every error is the store's, mapped by toStatus. Scans keep no state on
// the server: each Scan call reads one batch and returns the scanner's
// cursor, from which the next call resumes (on this server or another
// one over the same engine).

// maxScanReply bounds the bytes of one Scan reply; a batch stops early
// when its records reach it (values may be up to a MiB each).
const maxScanReply = 4 << 20

// RegisterKV adds the KV service over store to g. The calls go through
// the interceptors of GRPCOptions, so tokens authenticate them as every
// other call; with tokens, creating and dropping tables needs a super token.
func (s *Server) RegisterKV(g *grpc.Server, store *kvtable.Store) {
	pb.RegisterKVServer(g, &kvServer{s: s, st: store})
}

type kvServer struct {
	pb.UnimplementedKVServer
	s  *Server
	st *kvtable.Store
}

func (k *kvServer) admin(ctx context.Context, method, what string) (context.Context, error) {
	ctx, c, err := k.s.state(ctx, method)
	if err != nil {
		return ctx, err
	}
	if !c.super {
		return ctx, status.Error(codes.PermissionDenied, "rpc: "+what+" needs a super token")
	}
	return ctx, nil
}

func (k *kvServer) table(ctx context.Context, method, name string) (context.Context, *kvtable.Table, error) {
	ctx, _, err := k.s.state(ctx, method)
	if err != nil {
		return ctx, nil, err
	}
	return ctx, k.st.Table(name), nil
}

func tableInfoToPB(t kvtable.TableInfo) *pb.KVTableInfo {
	return &pb.KVTableInfo{Name: t.Name, Id: t.ID, DefaultTtl: int32(t.DefaultTTL), Created: unixNano(t.Created)}
}

func tableInfoFromPB(t *pb.KVTableInfo) kvtable.TableInfo {
	if t == nil {
		return kvtable.TableInfo{}
	}
	return kvtable.TableInfo{Name: t.Name, ID: t.Id, DefaultTTL: int(t.DefaultTtl), Created: fromNano(t.Created)}
}

func filterFromPB(f *pb.KVFilter) kvtable.Filter {
	if f == nil {
		return kvtable.Filter{}
	}
	return kvtable.Filter{Type: kvtable.FilterType(f.Type), Pattern: f.Pattern}
}

func filterToPB(f kvtable.Filter) *pb.KVFilter {
	if f.Type == kvtable.FilterNone && len(f.Pattern) == 0 {
		return nil
	}
	return &pb.KVFilter{Type: int32(f.Type), Pattern: f.Pattern}
}

func scanOptionsFromPB(o *pb.KVScanOptions) kvtable.ScanOptions {
	if o == nil {
		return kvtable.DefaultScanOptions()
	}
	return kvtable.ScanOptions{BatchSize: int(o.BatchSize), StartInclusive: o.StartInclusive, StopInclusive: o.StopInclusive,
		SortKeyFilter: filterFromPB(o.SortKeyFilter), HashKeyFilter: filterFromPB(o.HashKeyFilter), NoValue: o.NoValue}
}

func scanOptionsToPB(o kvtable.ScanOptions) *pb.KVScanOptions {
	return &pb.KVScanOptions{BatchSize: int32(min(o.BatchSize, 1<<30)), StartInclusive: o.StartInclusive, StopInclusive: o.StopInclusive,
		SortKeyFilter: filterToPB(o.SortKeyFilter), HashKeyFilter: filterToPB(o.HashKeyFilter), NoValue: o.NoValue}
}

func kvsToPB(kvs []kvtable.KV) []*pb.KVPair {
	out := make([]*pb.KVPair, len(kvs))
	for i, r := range kvs {
		out[i] = &pb.KVPair{SortKey: r.SortKey, Value: r.Value}
	}
	return out
}

func kvsFromPB(kvs []*pb.KVPair) []kvtable.KV {
	out := make([]kvtable.KV, len(kvs))
	for i, r := range kvs {
		out[i] = kvtable.KV{SortKey: r.GetSortKey(), Value: r.GetValue()}
	}
	return out
}

// itemError is the ErrorDetail of one batch item's failure, as toStatus
// would have sent it for a whole call.
func itemError(err error) *pb.ErrorDetail {
	if err == nil {
		return nil
	}
	if d := detailOf(status.Convert(toStatus(err))); d != nil {
		return d
	}
	return &pb.ErrorDetail{Message: err.Error()}
}

// ---- tables ----

func (k *kvServer) CreateTable(ctx context.Context, r *pb.KVCreateTableRequest) (*pb.KVTableInfo, error) {
	ctx, err := k.admin(ctx, pb.KV_CreateTable_FullMethodName, "creating a table")
	if err != nil {
		return nil, err
	}
	info, err := k.st.CreateTable(ctx, r.Name, kvtable.TableOptions{DefaultTTL: int(r.DefaultTtl)})
	if err != nil {
		return nil, toStatus(err)
	}
	return tableInfoToPB(info), nil
}

func (k *kvServer) DropTable(ctx context.Context, r *pb.KVTableName) (*pb.Empty, error) {
	ctx, err := k.admin(ctx, pb.KV_DropTable_FullMethodName, "dropping a table")
	if err != nil {
		return nil, err
	}
	return emptyReply(k.st.DropTable(ctx, r.Name))
}

func (k *kvServer) ListTables(ctx context.Context, _ *pb.Empty) (*pb.KVTableList, error) {
	ctx, _, err := k.s.state(ctx, pb.KV_ListTables_FullMethodName)
	if err != nil {
		return nil, err
	}
	list, err := k.st.ListTables(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.KVTableList{Tables: make([]*pb.KVTableInfo, len(list))}
	for i, t := range list {
		out.Tables[i] = tableInfoToPB(t)
	}
	return out, nil
}

func (k *kvServer) DescribeTable(ctx context.Context, r *pb.KVTableName) (*pb.KVTableInfo, error) {
	ctx, _, err := k.s.state(ctx, pb.KV_DescribeTable_FullMethodName)
	if err != nil {
		return nil, err
	}
	info, err := k.st.DescribeTable(ctx, r.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	return tableInfoToPB(info), nil
}

// ---- records ----

func (k *kvServer) Set(ctx context.Context, r *pb.KVSetRequest) (*pb.Empty, error) {
	ctx, t, err := k.table(ctx, pb.KV_Set_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	return emptyReply(t.Set(ctx, r.HashKey, r.SortKey, r.Value, int(r.Ttl)))
}

func (k *kvServer) Get(ctx context.Context, r *pb.KVKeyRequest) (*pb.KVGetReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_Get_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	v, ok, err := t.Get(ctx, r.HashKey, r.SortKey)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KVGetReply{Found: ok, Value: v}, nil
}

func (k *kvServer) Exist(ctx context.Context, r *pb.KVKeyRequest) (*pb.KVExistReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_Exist_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	ok, err := t.Exist(ctx, r.HashKey, r.SortKey)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KVExistReply{Exist: ok}, nil
}

func (k *kvServer) TTL(ctx context.Context, r *pb.KVKeyRequest) (*pb.KVTTLReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_TTL_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	ttl, ok, err := t.TTL(ctx, r.HashKey, r.SortKey)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KVTTLReply{Found: ok, Ttl: int32(ttl)}, nil
}

func (k *kvServer) Remove(ctx context.Context, r *pb.KVKeyRequest) (*pb.Empty, error) {
	ctx, t, err := k.table(ctx, pb.KV_Remove_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	return emptyReply(t.Remove(ctx, r.HashKey, r.SortKey))
}

func (k *kvServer) Incr(ctx context.Context, r *pb.KVIncrRequest) (*pb.KVIncrReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_Incr_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	v, err := t.Incr(ctx, r.HashKey, r.SortKey, r.Increment, int(r.Ttl))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KVIncrReply{Value: v}, nil
}

func (k *kvServer) MultiSet(ctx context.Context, r *pb.KVMultiSetRequest) (*pb.Empty, error) {
	ctx, t, err := k.table(ctx, pb.KV_MultiSet_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	return emptyReply(t.MultiSet(ctx, r.HashKey, kvsFromPB(r.Kvs), int(r.Ttl)))
}

func (k *kvServer) MultiGet(ctx context.Context, r *pb.KVMultiGetRequest) (*pb.KVMultiGetReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_MultiGet_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	kvs, more, err := t.MultiGet(ctx, r.HashKey, r.SortKeys, int(r.MaxKvCount), int(r.MaxKvSize), r.NoValue)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KVMultiGetReply{Kvs: kvsToPB(kvs), More: more}, nil
}

func (k *kvServer) MultiGetOpt(ctx context.Context, r *pb.KVMultiGetOptRequest) (*pb.KVMultiGetReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_MultiGetOpt_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	o := kvtable.MultiGetOptions{StartInclusive: r.StartInclusive, StopInclusive: r.StopInclusive,
		SortKeyFilter: filterFromPB(r.SortKeyFilter), NoValue: r.NoValue, Reverse: r.Reverse,
		MaxKVCount: int(r.MaxKvCount), MaxKVSize: int(r.MaxKvSize)}
	kvs, more, err := t.MultiGetOpt(ctx, r.HashKey, r.StartSortKey, r.StopSortKey, o)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KVMultiGetReply{Kvs: kvsToPB(kvs), More: more}, nil
}

func (k *kvServer) GetSortKeys(ctx context.Context, r *pb.KVGetSortKeysRequest) (*pb.KVSortKeysReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_GetSortKeys_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	keys, more, err := t.GetSortKeys(ctx, r.HashKey, int(r.MaxKvCount), int(r.MaxKvSize))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KVSortKeysReply{SortKeys: keys, More: more}, nil
}

func (k *kvServer) SortKeyCount(ctx context.Context, r *pb.KVHashKeyRequest) (*pb.KVCountReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_SortKeyCount_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	n, err := t.SortKeyCount(ctx, r.HashKey)
	return countReply(n, err)
}

func countReply(n int64, err error) (*pb.KVCountReply, error) {
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KVCountReply{Count: n}, nil
}

func (k *kvServer) MultiDel(ctx context.Context, r *pb.KVMultiDelRequest) (*pb.KVCountReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_MultiDel_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	n, err := t.MultiDel(ctx, r.HashKey, r.SortKeys)
	return countReply(int64(n), err)
}

func (k *kvServer) DelRange(ctx context.Context, r *pb.KVDelRangeRequest) (*pb.KVCountReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_DelRange_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	o := kvtable.DelRangeOptions{StartInclusive: r.StartInclusive, StopInclusive: r.StopInclusive, SortKeyFilter: filterFromPB(r.SortKeyFilter)}
	n, err := t.DelRange(ctx, r.HashKey, r.StartSortKey, r.StopSortKey, o)
	return countReply(int64(n), err)
}

func (k *kvServer) CheckAndSet(ctx context.Context, r *pb.KVCheckAndSetRequest) (*pb.KVCheckReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_CheckAndSet_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	res, err := t.CheckAndSet(ctx, r.HashKey, r.CheckSortKey, kvtable.CheckType(r.CheckType), r.CheckOperand,
		r.SetSortKey, r.SetValue, kvtable.CheckAndSetOptions{SetValueTTL: int(r.SetValueTtl), ReturnCheckValue: r.ReturnCheckValue})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KVCheckReply{Succeed: res.SetSucceed, CheckValueReturned: res.CheckValueReturned,
		CheckValueExist: res.CheckValueExist, CheckValue: res.CheckValue}, nil
}

func (k *kvServer) CheckAndMutate(ctx context.Context, r *pb.KVCheckAndMutateRequest) (*pb.KVCheckReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_CheckAndMutate_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	muts := make([]kvtable.Mutation, len(r.Mutations))
	for i, m := range r.Mutations {
		muts[i] = kvtable.Mutation{Op: kvtable.MutateOp(m.GetOp()), SortKey: m.GetSortKey(), Value: m.GetValue(), TTL: int(m.GetTtl())}
	}
	res, err := t.CheckAndMutate(ctx, r.HashKey, r.CheckSortKey, kvtable.CheckType(r.CheckType), r.CheckOperand,
		muts, kvtable.CheckAndMutateOptions{ReturnCheckValue: r.ReturnCheckValue})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KVCheckReply{Succeed: res.MutateSucceed, CheckValueReturned: res.CheckValueReturned,
		CheckValueExist: res.CheckValueExist, CheckValue: res.CheckValue}, nil
}

func (k *kvServer) CompareExchange(ctx context.Context, r *pb.KVCompareExchangeRequest) (*pb.KVCompareExchangeReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_CompareExchange_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	res, err := t.CompareExchange(ctx, r.HashKey, r.SortKey, r.Expected, r.Desired, int(r.Ttl))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KVCompareExchangeReply{Succeed: res.SetSucceed, ActualValue: res.ActualValue, ActualExist: res.ActualExist}, nil
}

func keysFromPB(keys []*pb.KVKey) []kvtable.Key {
	out := make([]kvtable.Key, len(keys))
	for i, k := range keys {
		out[i] = kvtable.Key{HashKey: k.GetHashKey(), SortKey: k.GetSortKey()}
	}
	return out
}

func batchReply(errs []error, err error) (*pb.KVBatchReply, error) {
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.KVBatchReply{Items: make([]*pb.KVItemResult, len(errs))}
	for i, e := range errs {
		out.Items[i] = &pb.KVItemResult{Error: itemError(e)}
	}
	return out, nil
}

func (k *kvServer) BatchGet(ctx context.Context, r *pb.KVBatchKeysRequest) (*pb.KVBatchGetReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_BatchGet_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	res, err := t.BatchGet(ctx, keysFromPB(r.Keys))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.KVBatchGetReply{Items: make([]*pb.KVBatchGetItem, len(res))}
	for i, g := range res {
		out.Items[i] = &pb.KVBatchGetItem{Found: g.Found, Value: g.Value, Error: itemError(g.Err)}
	}
	return out, nil
}

func (k *kvServer) BatchSet(ctx context.Context, r *pb.KVBatchSetRequest) (*pb.KVBatchReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_BatchSet_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	items := make([]kvtable.SetItem, len(r.Items))
	for i, it := range r.Items {
		items[i] = kvtable.SetItem{HashKey: it.GetHashKey(), SortKey: it.GetSortKey(), Value: it.GetValue(), TTL: int(it.GetTtl())}
	}
	return batchReply(t.BatchSet(ctx, items))
}

func (k *kvServer) BatchDel(ctx context.Context, r *pb.KVBatchKeysRequest) (*pb.KVBatchReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_BatchDel_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	return batchReply(t.BatchDel(ctx, keysFromPB(r.Keys)))
}

// ---- scans ----

// Scan reads one batch: up to the scanner's batch size of records (fewer
// if they reach maxScanReply bytes), from the cursor if the request has
// one, else from the start of the hash-key range it names.
func (k *kvServer) Scan(ctx context.Context, r *pb.KVScanRequest) (*pb.KVScanReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_Scan_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	opts := scanOptionsFromPB(r.Options)
	if opts.BatchSize <= 0 {
		opts.BatchSize = kvtable.DefaultBatchSize
	}
	var sc *kvtable.Scanner
	if len(r.Cursor) > 0 {
		sc, err = t.ResumeScanner(r.Cursor, opts)
	} else {
		sc, err = t.GetScanner(r.HashKey, r.StartSortKey, r.StopSortKey, opts)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	defer sc.Close()
	out := &pb.KVScanReply{Records: make([]*pb.KVRecord, 0, min(opts.BatchSize, 4096))}
	size := 0
	// A batch the filters thin out may take several engine reads; give
	// the reply back after a while with what it has, so a sparse scan
	// never holds a call open indefinitely.
	deadline := time.Now().Add(time.Second)
	for len(out.Records) < opts.BatchSize && size < maxScanReply {
		hk, sk, v, ok, err := sc.Next(ctx)
		if err != nil {
			return nil, toStatus(err)
		}
		if !ok {
			break
		}
		out.Records = append(out.Records, &pb.KVRecord{HashKey: hk, SortKey: sk, Value: v})
		size += len(hk) + len(sk) + len(v)
		if len(out.Records)%256 == 0 && time.Now().After(deadline) {
			break
		}
	}
	cur, err := sc.Cursor()
	if err != nil {
		return nil, toStatus(err)
	}
	out.Cursor = cur
	return out, nil
}

func (k *kvServer) GetUnorderedScanners(ctx context.Context, r *pb.KVUnorderedScannersRequest) (*pb.KVUnorderedScannersReply, error) {
	ctx, t, err := k.table(ctx, pb.KV_GetUnorderedScanners_FullMethodName, r.Table)
	if err != nil {
		return nil, err
	}
	scs, err := t.GetUnorderedScanners(ctx, int(r.MaxSplitCount), scanOptionsFromPB(r.Options))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.KVUnorderedScannersReply{Cursors: make([][]byte, 0, len(scs))}
	for _, sc := range scs {
		cur, err := sc.Cursor()
		sc.Close()
		if err != nil {
			return nil, toStatus(err)
		}
		if cur != nil {
			out.Cursors = append(out.Cursors, cur)
		}
	}
	return out, nil
}
