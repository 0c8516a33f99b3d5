package kvtable_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/kv/etcd"
	"github.com/shoalfs/shoal/internal/kv/etcd/etcdtest"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/kvtable"
)

// fakeClock is the clock TTL tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	eng   kv.Engine
	s     *kvtable.Store
	clock *fakeClock
	tb    *kvtable.Table
}

type opener func(t testing.TB) kv.Engine

func openMem(t testing.TB) kv.Engine {
	e := mem.New()
	t.Cleanup(func() { e.Close() })
	return e
}

func openBadger(t testing.TB) kv.Engine {
	e, err := badger.Open(t.TempDir(), badger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func newEnv(t testing.TB, open opener, opts kvtable.Options) *env {
	t.Helper()
	eng := open(t)
	clock := newFakeClock()
	if opts.Clock == nil {
		opts.Clock = clock.Now
	}
	s, err := kvtable.Open(eng, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.CreateTable(context.Background(), "t", kvtable.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	return &env{eng: eng, s: s, clock: clock, tb: s.Table("t")}
}

// rawRecords counts the records stored for every table, expired or not.
func rawRecords(t testing.TB, eng kv.Engine) int {
	t.Helper()
	n := 0
	err := eng.View(context.Background(), func(r kv.ReadTxn) error {
		p, err := r.Scan([]byte{'T', 0, 0, 0, 1}, []byte{'U'}, 0, false)
		n = len(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func b(s string) []byte { return []byte(s) }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantKind(t testing.TB, err error, k fserr.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %v", k)
	}
	if fserr.KindOf(err) != k {
		t.Fatalf("got %v (kind %v), want kind %v", err, fserr.KindOf(err), k)
	}
}

func sortKeys(kvs []kvtable.KV) []string {
	var out []string
	for _, r := range kvs {
		out = append(out, string(r.SortKey))
	}
	return out
}

// scale shrinks the loads for slow engines (etcd, -race).
type scale struct {
	incrWorkers, incrEach int
}

// runSuite is the behavioural suite every engine passes.
func runSuite(t *testing.T, open opener, sc scale) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Catalogue", testCatalogue},
		{"SingleRecords", testSingle},
		{"BadInput", testBadInput},
		{"MultiGet", testMultiGet},
		{"MultiGetOpt", testMultiGetOpt},
		{"Deletes", testDeletes},
		{"Incr", testIncr},
		{"CheckAndSet", testCheckAndSet},
		{"CheckAndMutate", testCheckAndMutate},
		{"Batch", testBatch},
		{"Scanner", testScanner},
		{"UnorderedScanners", testUnordered},
		{"TTL", testTTL},
		{"Reclaim", testReclaim},
		{"Concurrent", func(t *testing.T, e *env) { testConcurrent(t, e, sc) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, open, kvtable.Options{}))
		})
	}
}

func TestMem(t *testing.T) {
	t.Parallel()
	runSuite(t, openMem, scale{16, 200})
}

func TestBadger(t *testing.T) {
	t.Parallel()
	sc := scale{16, 100}
	if raceEnabled {
		sc = scale{16, 25} // contended check_and_set loops retry a lot under -race
	}
	runSuite(t, openBadger, sc)
}

func TestEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	endpoints := etcdtest.Start(t)
	var n atomic.Int64
	open := func(t testing.TB) kv.Engine {
		e, err := etcd.Open(context.Background(), endpoints, fmt.Sprintf("kvtable/%d/", n.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	sc := scale{16, 30}
	if raceEnabled {
		sc = scale{16, 8}
	}
	runSuite(t, open, sc)
}

func testCatalogue(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.s
	info, err := s.CreateTable(ctx, "feat.v1", kvtable.TableOptions{DefaultTTL: 60})
	must(t, err)
	if info.Name != "feat.v1" || info.DefaultTTL != 60 || info.ID == 0 {
		t.Fatalf("created %+v", info)
	}
	_, err = s.CreateTable(ctx, "feat.v1", kvtable.TableOptions{})
	wantKind(t, err, fserr.Exist)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("%v is not fs.ErrExist", err)
	}
	for _, bad := range []string{"", "a/b", "sp ace", string(make([]byte, 200))} {
		_, err = s.CreateTable(ctx, bad, kvtable.TableOptions{})
		wantKind(t, err, fserr.Invalid)
	}
	_, err = s.CreateTable(ctx, "neg", kvtable.TableOptions{DefaultTTL: -1})
	wantKind(t, err, fserr.Invalid)

	list, err := s.ListTables(ctx)
	must(t, err)
	var names []string
	for _, ti := range list {
		names = append(names, ti.Name)
	}
	if !slices.Equal(names, []string{"feat.v1", "t"}) {
		t.Fatalf("tables %v", names)
	}
	d, err := s.DescribeTable(ctx, "feat.v1")
	must(t, err)
	if d != info {
		t.Fatalf("describe %+v, created %+v", d, info)
	}
	_, err = s.DescribeTable(ctx, "nope")
	wantKind(t, err, fserr.NotFound)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%v is not fs.ErrNotExist", err)
	}

	// A handle follows the name: after drop and re-create it sees the new,
	// empty table; in between it reports NotFound.
	tb := s.Table("feat.v1")
	must(t, tb.Set(ctx, b("h"), b("s"), b("v"), 0))
	must(t, s.DropTable(ctx, "feat.v1"))
	_, _, err = tb.Get(ctx, b("h"), b("s"))
	wantKind(t, err, fserr.NotFound)
	wantKind(t, tb.Set(ctx, b("h"), b("s"), b("v"), 0), fserr.NotFound)
	wantKind(t, s.DropTable(ctx, "feat.v1"), fserr.NotFound)
	info2, err := s.CreateTable(ctx, "feat.v1", kvtable.TableOptions{})
	must(t, err)
	if info2.ID == info.ID {
		t.Fatal("table id reused")
	}
	if _, ok, err := tb.Get(ctx, b("h"), b("s")); err != nil || ok {
		t.Fatalf("re-created table not empty: %v %v", ok, err)
	}
	if n := rawRecords(t, e.eng); n != 0 {
		t.Fatalf("%d records left after drop", n)
	}
	wantKind(t, s.Table("missing").MultiSet(ctx, b("h"), []kvtable.KV{{SortKey: b("a")}}, 0), fserr.NotFound)
}

func testSingle(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	must(t, tb.Set(ctx, b("h1"), b("s1"), b("v1"), 0))
	v, ok, err := tb.Get(ctx, b("h1"), b("s1"))
	if err != nil || !ok || string(v) != "v1" {
		t.Fatalf("get = %q %v %v", v, ok, err)
	}
	must(t, tb.Set(ctx, b("h1"), b("s1"), b("v2"), 0))
	v, _, _ = tb.Get(ctx, b("h1"), b("s1"))
	if string(v) != "v2" {
		t.Fatalf("overwrite: %q", v)
	}
	// Empty hash key, sort key and value are all allowed for one record.
	must(t, tb.Set(ctx, nil, nil, nil, 0))
	v, ok, err = tb.Get(ctx, nil, nil)
	if err != nil || !ok || len(v) != 0 {
		t.Fatalf("empty record: %q %v %v", v, ok, err)
	}
	if ok, _ := tb.Exist(ctx, b("h1"), b("s1")); !ok {
		t.Fatal("exist = false")
	}
	if ok, _ := tb.Exist(ctx, b("h1"), b("nope")); ok {
		t.Fatal("exist of missing = true")
	}
	ttl, ok, err := tb.TTL(ctx, b("h1"), b("s1"))
	if err != nil || !ok || ttl != -1 {
		t.Fatalf("ttl = %d %v %v", ttl, ok, err)
	}
	if _, ok, _ := tb.TTL(ctx, b("h1"), b("nope")); ok {
		t.Fatal("ttl of missing ok")
	}
	must(t, tb.Remove(ctx, b("h1"), b("s1")))
	must(t, tb.Remove(ctx, b("h1"), b("s1")))
	if _, ok, _ := tb.Get(ctx, b("h1"), b("s1")); ok {
		t.Fatal("removed record still there")
	}
	// Binary keys, including bytes that would confuse a separator.
	hk, sk := []byte{0, 0xff, 0}, []byte{0xff, 0xff}
	must(t, tb.Set(ctx, hk, sk, []byte{1}, 0))
	if v, ok, _ := tb.Get(ctx, hk, sk); !ok || !bytes.Equal(v, []byte{1}) {
		t.Fatal("binary keys")
	}
	// Hash keys that are prefixes of each other stay apart.
	must(t, tb.Set(ctx, b("ab"), b("c"), b("1"), 0))
	must(t, tb.Set(ctx, b("a"), b("bc"), b("2"), 0))
	if n, _ := tb.SortKeyCount(ctx, b("ab")); n != 1 {
		t.Fatalf("sort key count of ab = %d", n)
	}
}

func testBadInput(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	big := make([]byte, kvtable.MaxHashKeyLen+1)
	wantKind(t, tb.Set(ctx, big, nil, nil, 0), fserr.ArgTooBig)
	_, _, err := tb.Get(ctx, big, nil)
	wantKind(t, err, fserr.ArgTooBig)
	wantKind(t, tb.Set(ctx, make([]byte, 40000), make([]byte, 30000), nil, 0), fserr.ArgTooBig)
	wantKind(t, tb.Set(ctx, b("h"), b("s"), make([]byte, kvtable.DefaultMaxValueSize+1), 0), fserr.ArgTooBig)
	wantKind(t, tb.Set(ctx, b("h"), b("s"), nil, -1), fserr.Invalid)
	// Operations on a whole hash key need one (Pegasus).
	wantKind(t, tb.MultiSet(ctx, nil, []kvtable.KV{{SortKey: b("a")}}, 0), fserr.Invalid)
	_, _, err = tb.MultiGet(ctx, nil, nil, 0, 0, false)
	wantKind(t, err, fserr.Invalid)
	_, err = tb.SortKeyCount(ctx, nil)
	wantKind(t, err, fserr.Invalid)
	_, err = tb.MultiDel(ctx, nil, [][]byte{b("a")})
	wantKind(t, err, fserr.Invalid)
	_, err = tb.GetScanner(nil, nil, nil, kvtable.DefaultScanOptions())
	wantKind(t, err, fserr.Invalid)
	_, err = tb.CheckAndSet(ctx, nil, b("a"), kvtable.CheckNoCheck, nil, b("a"), b("v"), kvtable.CheckAndSetOptions{})
	wantKind(t, err, fserr.Invalid)
	wantKind(t, tb.MultiSet(ctx, b("h"), nil, 0), fserr.Invalid)
	_, err = tb.MultiDel(ctx, b("h"), nil)
	wantKind(t, err, fserr.Invalid)
	// Nothing partially written: one bad record fails the whole multi_set.
	err = tb.MultiSet(ctx, b("h"), []kvtable.KV{
		{SortKey: b("a"), Value: b("1")},
		{SortKey: b("b"), Value: make([]byte, kvtable.DefaultMaxValueSize+1)},
	}, 0)
	wantKind(t, err, fserr.ArgTooBig)
	if n := rawRecords(t, e.eng); n != 0 {
		t.Fatalf("%d records written by a failed multi_set", n)
	}
	_, err = tb.CheckAndMutate(ctx, b("h"), b("a"), kvtable.CheckNoCheck, nil, []kvtable.Mutation{
		{Op: kvtable.MutateSet, SortKey: b("a"), Value: b("1")},
		{Op: 7, SortKey: b("b")},
	}, kvtable.CheckAndMutateOptions{})
	wantKind(t, err, fserr.Invalid)
	if n := rawRecords(t, e.eng); n != 0 {
		t.Fatalf("%d records written by a failed check_and_mutate", n)
	}
	_, err = tb.CheckAndSet(ctx, b("h"), b("a"), kvtable.CheckType(99), nil, b("a"), b("v"), kvtable.CheckAndSetOptions{})
	wantKind(t, err, fserr.Invalid)
	_, _, err = tb.MultiGetOpt(ctx, b("h"), nil, nil, kvtable.MultiGetOptions{SortKeyFilter: kvtable.Filter{Type: 9}})
	wantKind(t, err, fserr.Invalid)
	_, err = tb.GetUnorderedScanners(ctx, 0, kvtable.DefaultScanOptions())
	wantKind(t, err, fserr.Invalid)

	// Unknown tables.
	u := e.s.Table("nope")
	_, _, err = u.Get(ctx, b("h"), b("s"))
	wantKind(t, err, fserr.NotFound)
	sc, err := u.GetScanner(b("h"), nil, nil, kvtable.DefaultScanOptions())
	must(t, err)
	_, _, _, _, err = sc.Next(ctx)
	wantKind(t, err, fserr.NotFound)
	_, err = u.BatchSet(ctx, []kvtable.SetItem{{HashKey: b("h")}})
	wantKind(t, err, fserr.NotFound)

	// A scanner after Close.
	sc, err = tb.GetScanner(b("h"), nil, nil, kvtable.DefaultScanOptions())
	must(t, err)
	must(t, sc.Close())
	_, _, _, _, err = sc.Next(ctx)
	wantKind(t, err, fserr.Closed)

	// A closed store.
	must(t, e.s.Close())
	wantKind(t, tb.Set(ctx, b("h"), b("s"), nil, 0), fserr.Closed)
	_, err = e.s.ListTables(ctx)
	wantKind(t, err, fserr.Closed)
}

func fill(t *testing.T, tb *kvtable.Table, hk string, n int) {
	t.Helper()
	var kvs []kvtable.KV
	for i := range n {
		kvs = append(kvs, kvtable.KV{SortKey: fmt.Appendf(nil, "k%02d", i), Value: fmt.Appendf(nil, "v%02d", i)})
	}
	must(t, tb.MultiSet(context.Background(), b(hk), kvs, 0))
}

func testMultiGet(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	fill(t, tb, "h", 10)
	fill(t, tb, "hh", 3) // a neighbour that must not leak in
	kvs, more, err := tb.MultiGet(ctx, b("h"), nil, 0, 0, false)
	must(t, err)
	if len(kvs) != 10 || more || string(kvs[3].Value) != "v03" {
		t.Fatalf("all: %v more=%v", sortKeys(kvs), more)
	}
	kvs, more, _ = tb.MultiGet(ctx, b("h"), nil, 4, 0, false)
	if !slices.Equal(sortKeys(kvs), []string{"k00", "k01", "k02", "k03"}) || !more {
		t.Fatalf("count limit: %v more=%v", sortKeys(kvs), more)
	}
	kvs, more, _ = tb.MultiGet(ctx, b("h"), nil, 10, 0, false)
	if len(kvs) != 10 || more {
		t.Fatalf("exact count limit: %d more=%v", len(kvs), more)
	}
	// Size: each record is 6 bytes; the one crossing the limit is kept.
	kvs, more, _ = tb.MultiGet(ctx, b("h"), nil, 0, 13, false)
	if len(kvs) != 3 || !more {
		t.Fatalf("size limit: %v more=%v", sortKeys(kvs), more)
	}
	kvs, _, _ = tb.MultiGet(ctx, b("h"), [][]byte{b("k05"), b("zz"), b("k01"), b("k05")}, 0, 0, true)
	if !slices.Equal(sortKeys(kvs), []string{"k01", "k05"}) || kvs[0].Value != nil {
		t.Fatalf("given keys: %v", kvs)
	}
	kvs, more, _ = tb.MultiGet(ctx, b("h"), [][]byte{b("k05"), b("k01"), b("k07")}, 2, 0, false)
	if !slices.Equal(sortKeys(kvs), []string{"k01", "k05"}) || !more {
		t.Fatalf("given keys with limit: %v %v", sortKeys(kvs), more)
	}
	keys, more, err := tb.GetSortKeys(ctx, b("hh"), 0, 0)
	if err != nil || len(keys) != 3 || more || string(keys[2]) != "k02" {
		t.Fatalf("sort keys %q %v %v", keys, more, err)
	}
	if n, _ := tb.SortKeyCount(ctx, b("h")); n != 10 {
		t.Fatalf("count %d", n)
	}
	if n, _ := tb.SortKeyCount(ctx, b("none")); n != 0 {
		t.Fatalf("count of missing hash key %d", n)
	}
}

func testMultiGetOpt(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	fill(t, tb, "h", 10)
	must(t, tb.Set(ctx, b("h"), b("x05y"), b("v"), 0))
	get := func(start, stop string, o kvtable.MultiGetOptions) ([]string, bool) {
		t.Helper()
		kvs, more, err := tb.MultiGetOpt(ctx, b("h"), b(start), b(stop), o)
		must(t, err)
		return sortKeys(kvs), more
	}
	o := kvtable.DefaultMultiGetOptions()
	if got, _ := get("k02", "k05", o); !slices.Equal(got, []string{"k02", "k03", "k04"}) {
		t.Fatalf("[k02,k05) = %v", got)
	}
	o.StartInclusive, o.StopInclusive = false, true
	if got, _ := get("k02", "k05", o); !slices.Equal(got, []string{"k03", "k04", "k05"}) {
		t.Fatalf("(k02,k05] = %v", got)
	}
	o = kvtable.DefaultMultiGetOptions()
	if got, _ := get("k08", "", o); !slices.Equal(got, []string{"k08", "k09", "x05y"}) {
		t.Fatalf("[k08,end) = %v", got)
	}
	if got, _ := get("k05", "k02", o); len(got) != 0 {
		t.Fatalf("inverted range = %v", got)
	}
	o.SortKeyFilter = kvtable.Filter{Type: kvtable.FilterMatchAnywhere, Pattern: b("05")}
	if got, _ := get("", "", o); !slices.Equal(got, []string{"k05", "x05y"}) {
		t.Fatalf("anywhere 05 = %v", got)
	}
	o.SortKeyFilter = kvtable.Filter{Type: kvtable.FilterMatchPrefix, Pattern: b("k0")}
	if got, _ := get("k03", "", o); len(got) != 7 || got[0] != "k03" {
		t.Fatalf("prefix k0 from k03 = %v", got)
	}
	o.SortKeyFilter = kvtable.Filter{Type: kvtable.FilterMatchPostfix, Pattern: b("y")}
	if got, _ := get("", "", o); !slices.Equal(got, []string{"x05y"}) {
		t.Fatalf("postfix y = %v", got)
	}
	o = kvtable.DefaultMultiGetOptions()
	o.Reverse, o.MaxKVCount = true, 3
	got, more := get("", "", o)
	if !slices.Equal(got, []string{"k08", "k09", "x05y"}) || !more {
		t.Fatalf("reverse limit 3 = %v more=%v", got, more)
	}
	o.MaxKVCount = 0
	o.NoValue = true
	kvs, _, _ := tb.MultiGetOpt(ctx, b("h"), nil, nil, o)
	if len(kvs) != 11 || kvs[0].Value != nil || string(kvs[0].SortKey) != "k00" {
		t.Fatalf("reverse no_value = %v", kvs)
	}
}

func testDeletes(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	fill(t, tb, "h", 10)
	n, err := tb.MultiDel(ctx, b("h"), [][]byte{b("k01"), b("k02"), b("zz")})
	if err != nil || n != 2 {
		t.Fatalf("multi_del = %d %v", n, err)
	}
	o := kvtable.DefaultDelRangeOptions()
	n, err = tb.DelRange(ctx, b("h"), b("k05"), b("k08"), o)
	if err != nil || n != 3 {
		t.Fatalf("del_range [k05,k08) = %d %v", n, err)
	}
	o.SortKeyFilter = kvtable.Filter{Type: kvtable.FilterMatchPostfix, Pattern: b("9")}
	n, _ = tb.DelRange(ctx, b("h"), nil, nil, o)
	if n != 1 {
		t.Fatalf("del_range postfix 9 = %d", n)
	}
	keys, _, _ := tb.GetSortKeys(ctx, b("h"), 0, 0)
	if got := fmt.Sprintf("%s", keys); got != "[k00 k03 k04 k08]" {
		t.Fatalf("left %s", got)
	}
	// del_range over more than one transaction's worth.
	var kvs []kvtable.KV
	for i := range 2500 {
		kvs = append(kvs, kvtable.KV{SortKey: fmt.Appendf(nil, "%05d", i)})
	}
	must(t, tb.MultiSet(ctx, b("big"), kvs, 0))
	n, err = tb.DelRange(ctx, b("big"), nil, nil, kvtable.DefaultDelRangeOptions())
	if err != nil || n != 2500 {
		t.Fatalf("big del_range = %d %v", n, err)
	}
	if c, _ := tb.SortKeyCount(ctx, b("big")); c != 0 {
		t.Fatalf("%d left", c)
	}
}

func testIncr(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	v, err := tb.Incr(ctx, b("h"), b("c"), 5, 0)
	if err != nil || v != 5 {
		t.Fatalf("incr new = %d %v", v, err)
	}
	v, _ = tb.Incr(ctx, b("h"), b("c"), -7, 0)
	if v != -2 {
		t.Fatalf("incr = %d", v)
	}
	if s, _, _ := tb.Get(ctx, b("h"), b("c")); string(s) != "-2" {
		t.Fatalf("stored %q", s)
	}
	must(t, tb.Set(ctx, b("h"), b("e"), nil, 0))
	if v, _ := tb.Incr(ctx, b("h"), b("e"), 3, 0); v != 3 {
		t.Fatalf("incr of empty value = %d", v)
	}
	must(t, tb.Set(ctx, b("h"), b("x"), b("abc"), 0))
	_, err = tb.Incr(ctx, b("h"), b("x"), 1, 0)
	wantKind(t, err, fserr.Invalid)
	must(t, tb.Set(ctx, b("h"), b("m"), b(strconv.FormatInt(math.MaxInt64-5, 10)), 0))
	_, err = tb.Incr(ctx, b("h"), b("m"), 10, 0)
	wantKind(t, err, fserr.Invalid)
	_, err = tb.Incr(ctx, b("h"), b("c"), 1, -2)
	wantKind(t, err, fserr.Invalid)

	// TTL rules (Pegasus): 0 keeps, >0 sets, -1 clears; expired counts as new.
	must(t, tb.Set(ctx, b("h"), b("t"), b("1"), 100))
	e.clock.Advance(10 * time.Second)
	tb.Incr(ctx, b("h"), b("t"), 1, 0)
	if ttl, _, _ := tb.TTL(ctx, b("h"), b("t")); ttl != 90 {
		t.Fatalf("ttl kept = %d", ttl)
	}
	tb.Incr(ctx, b("h"), b("t"), 1, 30)
	if ttl, _, _ := tb.TTL(ctx, b("h"), b("t")); ttl != 30 {
		t.Fatalf("ttl set = %d", ttl)
	}
	v, _ = tb.Incr(ctx, b("h"), b("t"), 1, -1)
	if ttl, _, _ := tb.TTL(ctx, b("h"), b("t")); ttl != -1 || v != 4 {
		t.Fatalf("ttl cleared = %d (v %d)", ttl, v)
	}
	must(t, tb.Set(ctx, b("h"), b("t"), b("50"), 5))
	e.clock.Advance(6 * time.Second)
	v, _ = tb.Incr(ctx, b("h"), b("t"), 1, 0)
	if ttl, _, _ := tb.TTL(ctx, b("h"), b("t")); ttl != -1 || v != 1 {
		t.Fatalf("incr of expired: v %d ttl %d", v, ttl)
	}
}

func testCheckAndSet(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	must(t, tb.Set(ctx, b("h"), b("e"), nil, 0))
	must(t, tb.Set(ctx, b("h"), b("s"), b("hello"), 0))
	must(t, tb.Set(ctx, b("h"), b("n"), b("10"), 0))
	cases := []struct {
		sk      string // "m" is missing
		ct      kvtable.CheckType
		operand string
		want    bool
	}{
		{"m", kvtable.CheckNoCheck, "", true},
		{"m", kvtable.CheckValueNotExist, "", true},
		{"s", kvtable.CheckValueNotExist, "", false},
		{"e", kvtable.CheckValueNotExistOrEmpty, "", true},
		{"m", kvtable.CheckValueNotExistOrEmpty, "", true},
		{"s", kvtable.CheckValueNotExistOrEmpty, "", false},
		{"e", kvtable.CheckValueExist, "", true},
		{"m", kvtable.CheckValueExist, "", false},
		{"e", kvtable.CheckValueNotEmpty, "", false},
		{"s", kvtable.CheckValueNotEmpty, "", true},
		{"s", kvtable.CheckMatchAnywhere, "ell", true},
		{"s", kvtable.CheckMatchAnywhere, "", true},
		{"m", kvtable.CheckMatchAnywhere, "", false},
		{"s", kvtable.CheckMatchPrefix, "he", true},
		{"s", kvtable.CheckMatchPrefix, "lo", false},
		{"s", kvtable.CheckMatchPostfix, "lo", true},
		{"s", kvtable.CheckBytesLess, "hello", false},
		{"s", kvtable.CheckBytesLess, "hellp", true},
		{"s", kvtable.CheckBytesLessOrEqual, "hello", true},
		{"s", kvtable.CheckBytesEqual, "hello", true},
		{"m", kvtable.CheckBytesEqual, "", false},
		{"s", kvtable.CheckBytesGreaterOrEqual, "hello", true},
		{"s", kvtable.CheckBytesGreater, "hell", true},
		{"s", kvtable.CheckBytesGreater, "i", false},
		{"n", kvtable.CheckIntLess, "9", false}, // 10 < 9; bytes would say "10" < "9"
		{"n", kvtable.CheckIntLess, "11", true},
		{"n", kvtable.CheckIntLessOrEqual, "10", true},
		{"n", kvtable.CheckIntEqual, "10", true},
		{"n", kvtable.CheckIntGreaterOrEqual, "11", false},
		{"n", kvtable.CheckIntGreater, "-3", true},
		{"m", kvtable.CheckIntGreater, "-3", false},
	}
	for i, c := range cases {
		set := fmt.Appendf(nil, "set%d", i)
		r, err := tb.CheckAndSet(ctx, b("h"), b(c.sk), c.ct, b(c.operand), set, b("x"),
			kvtable.CheckAndSetOptions{ReturnCheckValue: true})
		if err != nil {
			t.Fatalf("case %d %+v: %v", i, c, err)
		}
		_, wrote, _ := tb.Get(ctx, b("h"), set)
		if r.SetSucceed != c.want || wrote != c.want {
			t.Fatalf("case %d %+v: succeed=%v wrote=%v", i, c, r.SetSucceed, wrote)
		}
		if !r.CheckValueReturned || r.CheckValueExist != (c.sk != "m") {
			t.Fatalf("case %d: check value %+v", i, r)
		}
	}
	r, _ := tb.CheckAndSet(ctx, b("h"), b("s"), kvtable.CheckValueExist, nil, b("s2"), b("v"), kvtable.CheckAndSetOptions{})
	if r.CheckValueReturned || r.CheckValue != nil {
		t.Fatalf("value returned unasked: %+v", r)
	}
	r, _ = tb.CheckAndSet(ctx, b("h"), b("s"), kvtable.CheckValueExist, nil, b("s"), b("new"),
		kvtable.CheckAndSetOptions{ReturnCheckValue: true, SetValueTTL: 20})
	if !r.SetSucceed || string(r.CheckValue) != "hello" {
		t.Fatalf("same-key set: %+v", r)
	}
	if ttl, _, _ := tb.TTL(ctx, b("h"), b("s")); ttl != 20 {
		t.Fatalf("set ttl %d", ttl)
	}
	_, err := tb.CheckAndSet(ctx, b("h"), b("s"), kvtable.CheckIntLess, b("1"), b("z"), b("v"), kvtable.CheckAndSetOptions{})
	wantKind(t, err, fserr.Invalid) // stored "new" is not an integer
	_, err = tb.CheckAndSet(ctx, b("h"), b("n"), kvtable.CheckIntLess, b("x"), b("z"), b("v"), kvtable.CheckAndSetOptions{})
	wantKind(t, err, fserr.Invalid)
	if _, ok, _ := tb.Get(ctx, b("h"), b("z")); ok {
		t.Fatal("failed check_and_set wrote")
	}

	x, err := tb.CompareExchange(ctx, b("h"), b("n"), b("10"), b("11"), 0)
	if err != nil || !x.SetSucceed {
		t.Fatalf("compare_exchange: %+v %v", x, err)
	}
	x, _ = tb.CompareExchange(ctx, b("h"), b("n"), b("10"), b("12"), 0)
	if x.SetSucceed || !x.ActualExist || string(x.ActualValue) != "11" {
		t.Fatalf("failed compare_exchange: %+v", x)
	}
}

func testCheckAndMutate(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	fill(t, tb, "h", 3)
	muts := []kvtable.Mutation{
		{Op: kvtable.MutateSet, SortKey: b("new"), Value: b("1"), TTL: 50},
		{Op: kvtable.MutateDel, SortKey: b("k00")},
		{Op: kvtable.MutateSet, SortKey: b("k01"), Value: b("changed")},
	}
	r, err := tb.CheckAndMutate(ctx, b("h"), b("k02"), kvtable.CheckBytesEqual, b("nope"), muts, kvtable.CheckAndMutateOptions{})
	if err != nil || r.MutateSucceed {
		t.Fatalf("failing check: %+v %v", r, err)
	}
	r, err = tb.CheckAndMutate(ctx, b("h"), b("k02"), kvtable.CheckBytesEqual, b("v02"), muts, kvtable.CheckAndMutateOptions{ReturnCheckValue: true})
	if err != nil || !r.MutateSucceed || string(r.CheckValue) != "v02" {
		t.Fatalf("passing check: %+v %v", r, err)
	}
	kvs, _, _ := tb.MultiGet(ctx, b("h"), nil, 0, 0, false)
	if got := fmt.Sprint(sortKeys(kvs)); got != "[k01 k02 new]" || string(kvs[0].Value) != "changed" {
		t.Fatalf("after mutate: %s", got)
	}
	if ttl, _, _ := tb.TTL(ctx, b("h"), b("new")); ttl != 50 {
		t.Fatalf("mutation ttl %d", ttl)
	}
}

func testBatch(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	items := []kvtable.SetItem{
		{HashKey: b("a"), SortKey: b("1"), Value: b("a1")},
		{HashKey: b("b"), SortKey: b("1"), Value: b("b1"), TTL: 5},
		{HashKey: b("a"), SortKey: b("2"), Value: make([]byte, kvtable.DefaultMaxValueSize+1)},
		{HashKey: b("a"), SortKey: b("3"), Value: b("a3")},
		{HashKey: nil, SortKey: b("x"), Value: b("nohash")},
	}
	errs, err := tb.BatchSet(ctx, items)
	must(t, err)
	for i, want := range []bool{true, true, false, true, true} {
		if (errs[i] == nil) != want {
			t.Fatalf("item %d: %v", i, errs[i])
		}
	}
	wantKind(t, errs[2], fserr.ArgTooBig)
	// The valid items went in one transaction (a group commit); each kept
	// its own TTL.
	if ttl, ok, err := tb.TTL(ctx, b("a"), b("1")); err != nil || !ok || ttl != -1 {
		t.Fatalf("a/1 ttl %d %v %v", ttl, ok, err)
	}
	if ttl, ok, err := tb.TTL(ctx, b("b"), b("1")); err != nil || !ok || ttl != 5 {
		t.Fatalf("b/1 ttl %d %v %v", ttl, ok, err)
	}
	// Over the group bound (128 items): one transaction per hash key.
	var big []kvtable.SetItem
	for i := range 200 {
		big = append(big, kvtable.SetItem{HashKey: fmt.Appendf(nil, "g%d", i%50), SortKey: fmt.Appendf(nil, "%d", i), Value: b("v"), TTL: i % 3})
	}
	errs, err = tb.BatchSet(ctx, big)
	must(t, err)
	for i, e := range errs {
		if e != nil {
			t.Fatalf("big item %d: %v", i, e)
		}
	}
	if n, err := tb.SortKeyCount(ctx, b("g7")); err != nil || n != 4 {
		t.Fatalf("g7 has %d sort keys, %v", n, err)
	}
	_, err = e.s.Table("missing").BatchSet(ctx, items[:2])
	wantKind(t, err, fserr.NotFound)
	keys := []kvtable.Key{{HashKey: b("a"), SortKey: b("1")}, {HashKey: b("a"), SortKey: b("2")},
		{HashKey: b("b"), SortKey: b("1")}, {HashKey: make([]byte, kvtable.MaxHashKeyLen+1)}, {SortKey: b("x")}}
	res, err := tb.BatchGet(ctx, keys)
	must(t, err)
	if string(res[0].Value) != "a1" || !res[0].Found || res[1].Found || res[1].Err != nil ||
		string(res[2].Value) != "b1" || res[3].Err == nil || string(res[4].Value) != "nohash" {
		t.Fatalf("batch get %+v", res)
	}
	errs, err = tb.BatchDel(ctx, keys[:3])
	must(t, err)
	for _, e := range errs {
		must(t, e)
	}
	res, _ = tb.BatchGet(ctx, keys[:3])
	for i, r := range res {
		if r.Found {
			t.Fatalf("item %d still there", i)
		}
	}
}

func collect(t *testing.T, sc *kvtable.Scanner) []string {
	t.Helper()
	var out []string
	for {
		hk, sk, v, ok, err := sc.Next(context.Background())
		must(t, err)
		if !ok {
			return out
		}
		out = append(out, fmt.Sprintf("%s/%s=%s", hk, sk, v))
	}
}

func testScanner(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	fill(t, tb, "h", 25)
	fill(t, tb, "h2", 2)
	o := kvtable.DefaultScanOptions()
	o.BatchSize = 4
	sc, err := tb.GetScanner(b("h"), b("k03"), b("k20"), o)
	must(t, err)
	got := collect(t, sc)
	if len(got) != 17 || got[0] != "h/k03=v03" || got[16] != "h/k19=v19" {
		t.Fatalf("scan [k03,k20): %v", got)
	}
	_, _, _, ok, err := sc.Next(ctx)
	if ok || err != nil {
		t.Fatal("next after end")
	}
	o.StartInclusive, o.StopInclusive, o.NoValue = false, true, true
	o.SortKeyFilter = kvtable.Filter{Type: kvtable.FilterMatchPostfix, Pattern: b("0")}
	sc, _ = tb.GetScanner(b("h"), b("k00"), b("k20"), o)
	if got := collect(t, sc); fmt.Sprint(got) != "[h/k10= h/k20=]" {
		t.Fatalf("filtered scan %v", got)
	}
	// Records expiring mid-scan are skipped by later batches.
	must(t, tb.Set(ctx, b("h"), b("k24"), b("gone"), 1))
	sc, _ = tb.GetScanner(b("h"), nil, nil, kvtable.ScanOptions{BatchSize: 5, StartInclusive: true})
	for range 5 {
		_, _, _, _, err := sc.Next(ctx)
		must(t, err)
	}
	e.clock.Advance(2 * time.Second)
	rest := collect(t, sc)
	if len(rest) != 19 || slices.Contains(rest, "h/k24=gone") {
		t.Fatalf("rest after expiry: %d %v", len(rest), rest)
	}
}

func testUnordered(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	want := map[string]bool{}
	for h := range 40 {
		hk := fmt.Sprintf("user%03d", h*7)
		fill(t, tb, hk, 3)
		for i := range 3 {
			want[fmt.Sprintf("%s/k%02d=v%02d", hk, i, i)] = true
		}
	}
	must(t, tb.Set(ctx, nil, b("x"), b("y"), 0))
	want["/x=y"] = true
	for _, n := range []int{1, 2, 5, 100} {
		scs, err := tb.GetUnorderedScanners(ctx, n, kvtable.ScanOptions{BatchSize: 7})
		must(t, err)
		if len(scs) == 0 || len(scs) > n {
			t.Fatalf("%d scanners for max %d", len(scs), n)
		}
		seen := map[string]bool{}
		for _, sc := range scs {
			for _, r := range collect(t, sc) {
				if seen[r] || !want[r] {
					t.Fatalf("split %d: %q seen twice or unexpected", n, r)
				}
				seen[r] = true
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("split %d: saw %d of %d", n, len(seen), len(want))
		}
		if n == 5 && len(scs) < 3 {
			t.Fatalf("only %d scanners for 5 splits of 41 hash keys", len(scs))
		}
	}
	o := kvtable.ScanOptions{HashKeyFilter: kvtable.Filter{Type: kvtable.FilterMatchPrefix, Pattern: b("user00")}}
	scs, _ := tb.GetUnorderedScanners(ctx, 3, o)
	n := 0
	for _, sc := range scs {
		n += len(collect(t, sc))
	}
	if n != 2*3 { // user000, user007
		t.Fatalf("hash key filter: %d records", n)
	}
	// An empty table still gets one scanner.
	_, err := e.s.CreateTable(ctx, "empty", kvtable.TableOptions{})
	must(t, err)
	scs, err = e.s.Table("empty").GetUnorderedScanners(ctx, 4, kvtable.DefaultScanOptions())
	must(t, err)
	if len(scs) != 1 || len(collect(t, scs[0])) != 0 {
		t.Fatalf("empty table: %d scanners", len(scs))
	}
}

func testTTL(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	must(t, tb.Set(ctx, b("h"), b("short"), b("1"), 10))
	must(t, tb.Set(ctx, b("h"), b("long"), b("2"), 100))
	must(t, tb.Set(ctx, b("h"), b("never"), b("3"), 0))
	must(t, tb.MultiSet(ctx, b("h"), []kvtable.KV{{SortKey: b("m1")}, {SortKey: b("m2")}}, 10))
	if ttl, _, _ := tb.TTL(ctx, b("h"), b("short")); ttl != 10 {
		t.Fatalf("ttl %d", ttl)
	}
	e.clock.Advance(9500 * time.Millisecond)
	if ttl, ok, _ := tb.TTL(ctx, b("h"), b("short")); ttl != 1 || !ok {
		t.Fatalf("ttl rounds up: %d", ttl)
	}
	e.clock.Advance(500 * time.Millisecond)
	// Expired: invisible to every read.
	if _, ok, _ := tb.Get(ctx, b("h"), b("short")); ok {
		t.Fatal("get sees expired")
	}
	if ok, _ := tb.Exist(ctx, b("h"), b("short")); ok {
		t.Fatal("exist sees expired")
	}
	if _, ok, _ := tb.TTL(ctx, b("h"), b("short")); ok {
		t.Fatal("ttl sees expired")
	}
	kvs, _, _ := tb.MultiGet(ctx, b("h"), nil, 0, 0, false)
	if fmt.Sprint(sortKeys(kvs)) != "[long never]" {
		t.Fatalf("multi_get sees %v", sortKeys(kvs))
	}
	kvs, _, _ = tb.MultiGet(ctx, b("h"), [][]byte{b("short"), b("m1"), b("long")}, 0, 0, false)
	if fmt.Sprint(sortKeys(kvs)) != "[long]" {
		t.Fatalf("multi_get keys sees %v", sortKeys(kvs))
	}
	if n, _ := tb.SortKeyCount(ctx, b("h")); n != 2 {
		t.Fatalf("count %d", n)
	}
	sc, _ := tb.GetScanner(b("h"), nil, nil, kvtable.DefaultScanOptions())
	if got := collect(t, sc); len(got) != 2 {
		t.Fatalf("scan sees %v", got)
	}
	scs, _ := tb.GetUnorderedScanners(ctx, 2, kvtable.DefaultScanOptions())
	total := 0
	for _, sc := range scs {
		total += len(collect(t, sc))
	}
	if total != 2 {
		t.Fatalf("unordered scan sees %d", total)
	}
	r, _ := tb.CheckAndSet(ctx, b("h"), b("short"), kvtable.CheckValueNotExist, nil, b("short"), b("again"), kvtable.CheckAndSetOptions{})
	if !r.SetSucceed {
		t.Fatal("check_and_set sees expired record")
	}
	if n, _ := tb.MultiDel(ctx, b("h"), [][]byte{b("m1"), b("long")}); n != 1 {
		t.Fatalf("multi_del counted %d live", n)
	}

	// The table's default TTL applies to writes without one.
	_, err := e.s.CreateTable(ctx, "d", kvtable.TableOptions{DefaultTTL: 30})
	must(t, err)
	d := e.s.Table("d")
	must(t, d.Set(ctx, b("h"), b("a"), b("1"), 0))
	must(t, d.Set(ctx, b("h"), b("b"), b("1"), 5))
	d.Incr(ctx, b("h"), b("c"), 1, 0)
	if ttl, _, _ := d.TTL(ctx, b("h"), b("a")); ttl != 30 {
		t.Fatalf("default ttl %d", ttl)
	}
	if ttl, _, _ := d.TTL(ctx, b("h"), b("b")); ttl != 5 {
		t.Fatalf("explicit ttl %d", ttl)
	}
	if ttl, _, _ := d.TTL(ctx, b("h"), b("c")); ttl != 30 {
		t.Fatalf("incr default ttl %d", ttl)
	}
	e.clock.Advance(31 * time.Second)
	if n, _ := d.SortKeyCount(ctx, b("h")); n != 0 {
		t.Fatalf("default ttl records alive: %d", n)
	}
}

func testReclaim(t *testing.T, e *env) {
	ctx := context.Background()
	tb := e.tb
	var kvs []kvtable.KV
	for i := range 700 {
		kvs = append(kvs, kvtable.KV{SortKey: fmt.Appendf(nil, "%04d", i)})
	}
	must(t, tb.MultiSet(ctx, b("exp"), kvs, 10))
	must(t, tb.MultiSet(ctx, b("keep"), kvs[:50], 0))
	n, err := e.s.ReclaimExpired(ctx, 0)
	if err != nil || n != 0 {
		t.Fatalf("reclaim before expiry: %d %v", n, err)
	}
	e.clock.Advance(11 * time.Second)
	n, err = e.s.ReclaimExpired(ctx, 300)
	if err != nil || n != 300 {
		t.Fatalf("bounded reclaim: %d %v", n, err)
	}
	n, err = e.s.ReclaimExpired(ctx, 0)
	if err != nil || n != 400 {
		t.Fatalf("full reclaim: %d %v", n, err)
	}
	if r := rawRecords(t, e.eng); r != 50 {
		t.Fatalf("%d records left, want 50", r)
	}
	// Background reclaim, started by Open and stopped by Close.
	s2, err := kvtable.Open(e.eng, kvtable.Options{Clock: e.clock.Now, ReclaimInterval: time.Millisecond})
	must(t, err)
	must(t, tb.MultiSet(ctx, b("exp2"), kvs[:20], 1))
	e.clock.Advance(2 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for rawRecords(t, e.eng) != 50 {
		if time.Now().After(deadline) {
			t.Fatal("background reclaim did not run")
		}
		time.Sleep(5 * time.Millisecond)
	}
	must(t, s2.Close())
}

func testConcurrent(t *testing.T, e *env, sc scale) {
	ctx := context.Background()
	tb := e.tb
	var wg sync.WaitGroup
	errs := make(chan error, sc.incrWorkers*2)
	for range sc.incrWorkers {
		wg.Go(func() {
			for range sc.incrEach {
				if _, err := tb.Incr(ctx, b("h"), b("incr"), 1, 0); err != nil {
					errs <- err
					return
				}
			}
		})
		// A counter kept by check_and_set loops: read, then set if unchanged.
		wg.Go(func() {
			for range sc.incrEach {
				for {
					v, _, err := tb.Get(ctx, b("h"), b("cas"))
					if err != nil {
						errs <- err
						return
					}
					n, _ := strconv.Atoi(string(v))
					ct, operand := kvtable.CheckBytesEqual, v
					if v == nil {
						ct = kvtable.CheckValueNotExist
					}
					r, err := tb.CheckAndSet(ctx, b("h"), b("cas"), ct, operand, b("cas"), strconv.AppendInt(nil, int64(n+1), 10), kvtable.CheckAndSetOptions{})
					if err != nil {
						errs <- err
						return
					}
					if r.SetSucceed {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := strconv.Itoa(sc.incrWorkers * sc.incrEach)
	for _, sk := range []string{"incr", "cas"} {
		if v, _, _ := tb.Get(ctx, b("h"), b(sk)); string(v) != want {
			t.Fatalf("%s = %s, want %s", sk, v, want)
		}
	}
}
