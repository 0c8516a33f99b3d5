package rpc

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/kvtable"
)

// The KV service is tested differentially: every operation runs against
// a table reached over gRPC and against the same table kept in-process by
// kvtable (whose own suite defines the semantics), and the results,
// errors included, must be the same.

type kvClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *kvClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *kvClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// scanner is what both scanner types provide.
type scanner interface {
	Next(ctx context.Context) (hashKey, sortKey, value []byte, ok bool, err error)
	Close() error
}

// table is the API kvtable.Table and KVTable share, scanners aside.
type table interface {
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
}

var (
	_ table = (*kvtable.Table)(nil)
	_ table = (*KVTable)(nil)
)

type kvEnv struct {
	clock  *kvClock
	store  *kvtable.Store // the server's
	eng    kv.Engine      // the server's
	local  *kvtable.Store // the oracle
	conn   *Conn
	addr   string
	remote *KVClient
}

func startKVServer(t testing.TB, eng kv.Engine, store *kvtable.Store, opts ServerOptions) (string, *grpc.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(newBackend(t, eng), opts)
	g := grpc.NewServer(s.GRPCOptions()...)
	s.Register(g)
	s.RegisterKV(g, store)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String(), g
}

func openStore(t testing.TB, eng kv.Engine, clock *kvClock) *kvtable.Store {
	t.Helper()
	s, err := kvtable.Open(eng, kvtable.Options{Clock: clock.Now, MaxValueSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newKVEnv(t testing.TB) *kvEnv {
	t.Helper()
	clock := &kvClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := &kvEnv{clock: clock, eng: mem.New()}
	t.Cleanup(func() { e.eng.Close() })
	e.store = openStore(t, e.eng, clock)
	leng := mem.New()
	t.Cleanup(func() { leng.Close() })
	e.local = openStore(t, leng, clock)
	e.addr, _ = startKVServer(t, e.eng, e.store, ServerOptions{})
	e.conn = dial(t, []string{e.addr}, ClientOptions{})
	e.remote = e.conn.KV()
	return e
}

func mustKV(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// show renders any result for comparison; errors by kind and text.
// Results that come with an error are not compared.
func show(vals ...any) string {
	if err, ok := vals[len(vals)-1].(error); ok && err != nil {
		vals = vals[len(vals)-1:]
	}
	var b strings.Builder
	for _, v := range vals {
		switch x := v.(type) {
		case error:
			if x == nil {
				b.WriteString("<nil> ")
				continue
			}
			fmt.Fprintf(&b, "err[%v: %s] ", fserr.KindOf(x), x.Error())
		case []error:
			for _, e := range x {
				b.WriteString(show(e))
			}
		case []kvtable.GetResult:
			for _, r := range x {
				fmt.Fprintf(&b, "{%q %v %s}", r.Value, r.Found, show(r.Err))
			}
		case []byte, [][]byte, []kvtable.KV:
			fmt.Fprintf(&b, "%+q ", v)
		default:
			fmt.Fprintf(&b, "%+v ", v)
		}
	}
	return b.String()
}

func TestKVDifferential(t *testing.T) {
	e := newKVEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		ttl  int
	}{{"plain", 0}, {"ttl", 30}} {
		_, err1 := e.local.CreateTable(ctx, tc.name, kvtable.TableOptions{DefaultTTL: tc.ttl})
		_, err2 := e.remote.CreateTable(ctx, tc.name, kvtable.TableOptions{DefaultTTL: tc.ttl})
		mustKV(t, err1)
		mustKV(t, err2)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) []byte {
		s := xs[rng.IntN(len(xs))]
		if s == "<nil>" {
			return nil
		}
		return []byte(s)
	}
	hash := func() []byte { return pick("a", "b", "c", "<nil>", "a", "b") }
	sortk := func() []byte { return pick("1", "2", "3", "10", "<nil>", "x") }
	val := func() []byte {
		switch rng.IntN(8) {
		case 0:
			return nil
		case 1:
			return bytes.Repeat([]byte("v"), 5000) // over the 4096 limit
		case 2:
			return []byte(fmt.Sprint(rng.IntN(100) - 20))
		}
		return []byte(fmt.Sprintf("v%d", rng.IntN(1000)))
	}
	ttl := func() int { return []int{0, 0, 0, 5, 60, -1}[rng.IntN(6)] }
	opts := func() kvtable.MultiGetOptions {
		return kvtable.MultiGetOptions{StartInclusive: rng.IntN(2) == 0, StopInclusive: rng.IntN(2) == 0,
			SortKeyFilter: kvtable.Filter{Type: kvtable.FilterType(rng.IntN(5)), Pattern: pick("1", "", "0")},
			NoValue:       rng.IntN(3) == 0, Reverse: rng.IntN(2) == 0, MaxKVCount: rng.IntN(4), MaxKVSize: rng.IntN(30)}
	}
	tables := []string{"plain", "ttl", "missing"}
	for i := range 1500 {
		name := tables[rng.IntN(len(tables))]
		var lt, rt table = e.local.Table(name), e.remote.Table(name)
		run := func(fn func(t table) string) {
			t.Helper()
			l, r := fn(lt), fn(rt)
			if l != r {
				t.Fatalf("op %d on %s:\nlocal:  %s\nremote: %s", i, name, l, r)
			}
		}
		h, s := hash(), sortk()
		switch op := rng.IntN(17); op {
		case 0, 1, 2:
			v, tt := val(), ttl()
			run(func(t table) string { return show(t.Set(ctx, h, s, v, tt)) })
		case 3:
			run(func(t table) string { return show(t.Get(ctx, h, s)) })
		case 4:
			run(func(t table) string { return show(t.Exist(ctx, h, s)) })
		case 5:
			run(func(t table) string { return show(t.TTL(ctx, h, s)) })
		case 6:
			run(func(t table) string { return show(t.Remove(ctx, h, s)) })
		case 7:
			inc, tt := int64(rng.IntN(7)-3), ttl()
			run(func(t table) string { return show(t.Incr(ctx, h, s, inc, tt)) })
		case 8:
			kvs := []kvtable.KV{{SortKey: sortk(), Value: val()}, {SortKey: sortk(), Value: val()}}[:rng.IntN(3)]
			tt := ttl()
			run(func(t table) string { return show(t.MultiSet(ctx, h, kvs, tt)) })
		case 9:
			keys := [][]byte{sortk(), sortk()}[:rng.IntN(3)]
			n, sz, nv := rng.IntN(3), rng.IntN(20), rng.IntN(2) == 0
			run(func(t table) string { return show(t.MultiGet(ctx, h, keys, n, sz, nv)) })
		case 10:
			o, start, stop := opts(), sortk(), sortk()
			run(func(t table) string { return show(t.MultiGetOpt(ctx, h, start, stop, o)) })
		case 11:
			n, sz := rng.IntN(3), rng.IntN(10)
			run(func(t table) string { return show(t.GetSortKeys(ctx, h, n, sz)) })
			run(func(t table) string { return show(t.SortKeyCount(ctx, h)) })
		case 12:
			keys := [][]byte{sortk(), sortk()}[:rng.IntN(3)]
			run(func(t table) string { return show(t.MultiDel(ctx, h, keys)) })
			o := kvtable.DelRangeOptions{StartInclusive: true, SortKeyFilter: kvtable.Filter{Type: kvtable.FilterMatchPrefix, Pattern: []byte("1")}}
			if rng.IntN(4) == 0 {
				run(func(t table) string { return show(t.DelRange(ctx, h, nil, nil, o)) })
			}
		case 13:
			ct, operand, v := kvtable.CheckType(rng.IntN(19)), pick("1", "v", "", "x5"), val()
			o := kvtable.CheckAndSetOptions{SetValueTTL: ttl(), ReturnCheckValue: rng.IntN(2) == 0}
			s2 := sortk()
			run(func(t table) string { return show(t.CheckAndSet(ctx, h, s, ct, operand, s2, v, o)) })
		case 14:
			ct, operand := kvtable.CheckType(rng.IntN(18)), pick("1", "v", "")
			muts := []kvtable.Mutation{{Op: kvtable.MutateSet, SortKey: sortk(), Value: val(), TTL: ttl()},
				{Op: kvtable.MutateOp(rng.IntN(3)), SortKey: sortk()}}[:rng.IntN(3)]
			o := kvtable.CheckAndMutateOptions{ReturnCheckValue: rng.IntN(2) == 0}
			run(func(t table) string { return show(t.CheckAndMutate(ctx, h, s, ct, operand, muts, o)) })
			exp, des := pick("1", "v1", ""), val()
			run(func(t table) string { return show(t.CompareExchange(ctx, h, s, exp, des, 0)) })
		case 15:
			items := []kvtable.SetItem{{HashKey: hash(), SortKey: sortk(), Value: val(), TTL: ttl()},
				{HashKey: hash(), SortKey: sortk(), Value: val()}, {HashKey: hash(), SortKey: sortk(), Value: val()}}
			keys := []kvtable.Key{{HashKey: hash(), SortKey: sortk()}, {HashKey: hash(), SortKey: sortk()}}
			run(func(t table) string { return show(t.BatchSet(ctx, items)) })
			run(func(t table) string { return show(t.BatchGet(ctx, keys)) })
			if rng.IntN(3) == 0 {
				run(func(t table) string { return show(t.BatchDel(ctx, keys)) })
			}
		case 16:
			e.clock.Advance(time.Duration(rng.IntN(10)) * time.Second)
		}
	}
	// The whole tables, scanned both ways, agree too.
	for _, name := range tables[:2] {
		want := scanAll(t, e.local.Table(name))
		got := scanAll(t, e.remote.Table(name))
		if !slices.Equal(want, got) {
			t.Fatalf("table %s: local %v\nremote %v", name, want, got)
		}
		if len(want) == 0 {
			t.Fatalf("table %s is empty: the random ops wrote nothing", name)
		}
	}
}

func drain(t testing.TB, sc scanner) []string {
	t.Helper()
	var out []string
	for {
		hk, sk, v, ok, err := sc.Next(context.Background())
		mustKV(t, err)
		if !ok {
			return out
		}
		out = append(out, fmt.Sprintf("%s/%s=%s", hk, sk, v))
	}
}

// scanAll reads every record of a table through hash-key scanners of
// each hash key the unordered scanners report.
func scanAll(t testing.TB, tb any) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	switch x := tb.(type) {
	case *kvtable.Table:
		scs, err := x.GetUnorderedScanners(ctx, 3, kvtable.ScanOptions{BatchSize: 2})
		mustKV(t, err)
		for _, sc := range scs {
			out = append(out, drain(t, sc)...)
		}
	case *KVTable:
		scs, err := x.GetUnorderedScanners(ctx, 3, kvtable.ScanOptions{BatchSize: 2})
		mustKV(t, err)
		for _, sc := range scs {
			out = append(out, drain(t, sc)...)
		}
	}
	slices.Sort(out)
	return out
}

func TestKVScanners(t *testing.T) {
	e := newKVEnv(t)
	ctx := context.Background()
	_, err := e.remote.CreateTable(ctx, "s", kvtable.TableOptions{})
	mustKV(t, err)
	_, err = e.local.CreateTable(ctx, "s", kvtable.TableOptions{})
	mustKV(t, err)
	lt, rt := e.local.Table("s"), e.remote.Table("s")
	var items []kvtable.SetItem
	for h := range 300 {
		for s := range 7 {
			items = append(items, kvtable.SetItem{HashKey: fmt.Appendf(nil, "h%d", h*13), SortKey: fmt.Appendf(nil, "s%02d", s),
				Value: fmt.Appendf(nil, "v%d.%d", h, s)})
		}
	}
	items = append(items, kvtable.SetItem{SortKey: []byte("empty-hash"), Value: []byte("x")},
		kvtable.SetItem{HashKey: []byte("h0"), SortKey: []byte("empty-value")})
	for _, tb := range []table{lt, rt} {
		errs, err := tb.BatchSet(ctx, items)
		mustKV(t, err)
		for _, e := range errs {
			mustKV(t, e)
		}
	}
	// Hash-key scanners: bounds, inclusiveness, filters, batch sizes.
	for _, o := range []kvtable.ScanOptions{
		kvtable.DefaultScanOptions(),
		{BatchSize: 1, StartInclusive: false, StopInclusive: true},
		{BatchSize: 3, StartInclusive: true, NoValue: true, SortKeyFilter: kvtable.Filter{Type: kvtable.FilterMatchPostfix, Pattern: []byte("3")}},
		{BatchSize: 2, StartInclusive: true, SortKeyFilter: kvtable.Filter{Type: kvtable.FilterMatchPrefix, Pattern: []byte("s0")}},
	} {
		for _, r := range [][2]string{{"", ""}, {"s02", "s05"}, {"s06", "s01"}} {
			ls, err := lt.GetScanner([]byte("h13"), []byte(r[0]), []byte(r[1]), o)
			mustKV(t, err)
			rs, err := rt.GetScanner([]byte("h13"), []byte(r[0]), []byte(r[1]), o)
			mustKV(t, err)
			if l, r := drain(t, ls), drain(t, rs); !slices.Equal(l, r) {
				t.Fatalf("%+v: local %v remote %v", o, l, r)
			}
		}
	}
	// Unordered scanners cover the table exactly once, for any split.
	want := scanAll(t, lt)
	if len(want) != len(items) {
		t.Fatalf("local table holds %d records, want %d", len(want), len(items))
	}
	for _, n := range []int{1, 2, 5, 16} {
		scs, err := rt.GetUnorderedScanners(ctx, n, kvtable.ScanOptions{BatchSize: 100 + n})
		mustKV(t, err)
		if len(scs) == 0 || len(scs) > n {
			t.Fatalf("%d scanners for %d splits", len(scs), n)
		}
		var got []string
		for _, sc := range scs {
			got = append(got, drain(t, sc)...)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("split %d: %d records, want %d", n, len(got), len(want))
		}
	}
	// A hash-key filter and no_value travel with every batch.
	scs, err := rt.GetUnorderedScanners(ctx, 4, kvtable.ScanOptions{BatchSize: 5, NoValue: true,
		HashKeyFilter: kvtable.Filter{Type: kvtable.FilterMatchPrefix, Pattern: []byte("h13")}})
	mustKV(t, err)
	var got []string
	for _, sc := range scs {
		got = append(got, drain(t, sc)...)
	}
	slices.Sort(got)
	var want13 []string
	for _, r := range want {
		if strings.HasPrefix(r, "h13") {
			want13 = append(want13, r[:strings.IndexByte(r, '=')+1])
		}
	}
	if !slices.Equal(got, want13) {
		t.Fatalf("hash key filter: %d %v, want %v", len(got), got, want13)
	}
}

// A scan resumes on another server from the cursor alone: the first
// server stops in the middle of the scan and the client fails over.
func TestKVScanFailover(t *testing.T) {
	clock := &kvClock{t: time.Now()}
	eng := mem.New()
	t.Cleanup(func() { eng.Close() })
	st := openStore(t, eng, clock)
	addr1, g1 := startKVServer(t, eng, st, ServerOptions{})
	addr2, _ := startKVServer(t, eng, st, ServerOptions{})
	c := dial(t, []string{addr1, addr2}, ClientOptions{})
	ctx := context.Background()
	_, err := c.KV().CreateTable(ctx, "f", kvtable.TableOptions{})
	mustKV(t, err)
	tb := c.KV().Table("f")
	var kvs []kvtable.KV
	for i := range 50 {
		kvs = append(kvs, kvtable.KV{SortKey: fmt.Appendf(nil, "%03d", i), Value: []byte("v")})
	}
	mustKV(t, tb.MultiSet(ctx, []byte("h"), kvs, 0))
	sc, err := tb.GetScanner([]byte("h"), nil, nil, kvtable.ScanOptions{BatchSize: 10, StartInclusive: true})
	mustKV(t, err)
	var got []string
	for len(got) < 15 {
		_, sk, _, ok, err := sc.Next(ctx)
		mustKV(t, err)
		if !ok {
			t.Fatal("scan ended early")
		}
		got = append(got, string(sk))
	}
	g1.Stop()
	for _, r := range drain(t, sc) {
		got = append(got, strings.TrimSuffix(strings.TrimPrefix(r, "h/"), "=v"))
	}
	if len(got) != 50 || got[49] != "049" || !slices.IsSorted(got) {
		t.Fatalf("scan across failover: %v", got)
	}
}

func TestKVErrors(t *testing.T) {
	e := newKVEnv(t)
	ctx := context.Background()
	k := e.remote
	_, err := k.CreateTable(ctx, "t", kvtable.TableOptions{DefaultTTL: 10})
	mustKV(t, err)
	wantKindKV(t, second(k.CreateTable(ctx, "t", kvtable.TableOptions{})), fserr.Exist)
	wantKindKV(t, second(k.CreateTable(ctx, "bad name", kvtable.TableOptions{})), fserr.Invalid)
	wantKindKV(t, second(k.CreateTable(ctx, "x", kvtable.TableOptions{DefaultTTL: -1})), fserr.Invalid)
	wantKindKV(t, second(k.DescribeTable(ctx, "nope")), fserr.NotFound)
	wantKindKV(t, k.DropTable(ctx, "nope"), fserr.NotFound)
	info, err := k.DescribeTable(ctx, "t")
	mustKV(t, err)
	if info.Name != "t" || info.DefaultTTL != 10 || info.ID == 0 || !info.Created.Equal(e.clock.Now()) {
		t.Fatalf("describe: %+v", info)
	}
	list, err := k.ListTables(ctx)
	mustKV(t, err)
	if len(list) != 1 || list[0] != info {
		t.Fatalf("list: %+v", list)
	}

	tb := k.Table("t")
	err = tb.Set(ctx, []byte("h"), []byte("s"), make([]byte, 5000), 0)
	wantKindKV(t, err, fserr.ArgTooBig)
	if !strings.Contains(err.Error(), "value of 5000 bytes exceeds the value size limit of 4096 bytes") {
		t.Fatalf("message lost on the wire: %v", err)
	}
	wantKindKV(t, tb.Set(ctx, make([]byte, kvtable.MaxHashKeyLen+1), nil, nil, 0), fserr.ArgTooBig)
	wantKindKV(t, tb.MultiSet(ctx, nil, []kvtable.KV{{SortKey: []byte("a")}}, 0), fserr.Invalid)
	wantKindKV(t, tb.Set(ctx, []byte("h"), nil, nil, kvtable.MaxTTL+1), fserr.Invalid)
	wantKindKV(t, k.Table("nope").Set(ctx, []byte("h"), nil, nil, 0), fserr.NotFound)
	_, err = tb.GetScanner(nil, nil, nil, kvtable.DefaultScanOptions())
	wantKindKV(t, err, fserr.Invalid)
	_, err = tb.GetScanner([]byte("h"), nil, nil, kvtable.ScanOptions{SortKeyFilter: kvtable.Filter{Type: 9}})
	wantKindKV(t, err, fserr.Invalid)
	_, err = tb.GetUnorderedScanners(ctx, 0, kvtable.DefaultScanOptions())
	wantKindKV(t, err, fserr.Invalid)
	sc, err := k.Table("nope").GetScanner([]byte("h"), nil, nil, kvtable.DefaultScanOptions())
	mustKV(t, err) // no I/O yet, as kvtable
	wantKindKV(t, third(sc.Next(ctx)), fserr.NotFound)
	sc, err = tb.GetScanner([]byte("h"), nil, nil, kvtable.DefaultScanOptions())
	mustKV(t, err)
	mustKV(t, sc.Close())
	wantKindKV(t, third(sc.Next(ctx)), fserr.Closed)

	// Cursors are checked: garbage, and a cursor of another table.
	kc := newRawKV(t, e)
	for _, cur := range [][]byte{{9}, {1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, {1, 0, 0, 0, 0, 0, 0, 0, 0}} {
		_, err := kc.scan(ctx, "t", cur)
		wantKindKV(t, err, fserr.Invalid)
	}
	_, err = k.CreateTable(ctx, "u", kvtable.TableOptions{})
	mustKV(t, err)
	mustKV(t, k.Table("u").Set(ctx, []byte("secret"), nil, []byte("x"), 0))
	scs, err := k.Table("u").GetUnorderedScanners(ctx, 1, kvtable.DefaultScanOptions())
	mustKV(t, err)
	recs, err := kc.scan(ctx, "t", scs[0].cursor)
	if err == nil || len(recs) > 0 {
		t.Fatalf("a cursor of table u read table t's scan: %v %v", recs, err)
	}

	// Closed connection.
	mustKV(t, e.conn.Close())
	wantKindKV(t, tb.Set(ctx, []byte("h"), nil, nil, 0), fserr.Closed)
}

func TestKVTokens(t *testing.T) {
	clock := &kvClock{t: time.Now()}
	eng := mem.New()
	t.Cleanup(func() { eng.Close() })
	st := openStore(t, eng, clock)
	addr, _ := startKVServer(t, eng, st, ServerOptions{Tokens: map[string]Token{
		"user": {Uid: 1000, Gid: 1000}, "admin": {Super: true}}})
	ctx := context.Background()
	user := dial(t, []string{addr}, ClientOptions{Token: "user"}).KV()
	admin := dial(t, []string{addr}, ClientOptions{Token: "admin"}).KV()
	wantKindKV(t, second(user.CreateTable(ctx, "t", kvtable.TableOptions{})), fserr.Permission)
	_, err := admin.CreateTable(ctx, "t", kvtable.TableOptions{})
	mustKV(t, err)
	wantKindKV(t, user.DropTable(ctx, "t"), fserr.Permission)
	mustKV(t, user.Table("t").Set(ctx, []byte("h"), nil, []byte("v"), 0))
	if _, err := Dial(ctx, []string{addr}, ClientOptions{Token: "wrong", RetryTimeout: time.Second}); err == nil {
		t.Fatal("a wrong token dialled")
	}
}

// rawKV sends Scan requests as a client could forge them.
type rawKV struct{ c *Conn }

func newRawKV(t testing.TB, e *kvEnv) *rawKV {
	return &rawKV{c: dial(t, []string{e.addr}, ClientOptions{})}
}

func (r *rawKV) scan(ctx context.Context, table string, cursor []byte) ([]string, error) {
	sc := &KVScanner{t: &KVTable{c: r.c, name: table}, opts: scanOptionsToPB(kvtable.DefaultScanOptions()), cursor: cursor, started: true}
	var out []string
	for {
		hk, sk, _, ok, err := sc.Next(ctx)
		if err != nil || !ok {
			return out, err
		}
		out = append(out, string(hk)+"/"+string(sk))
	}
}

func second[T any](_ T, err error) error { return err }

func third[A, B, C, D any](_ A, _ B, _ C, _ D, err error) error { return err }

func wantKindKV(t testing.TB, err error, k fserr.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %v", k)
	}
	if fserr.KindOf(err) != k {
		t.Fatalf("got %v (kind %v), want kind %v", err, fserr.KindOf(err), k)
	}
}
