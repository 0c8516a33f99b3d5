package shoal

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
)

// The KV tables' semantics are tested by internal/kvtable's suite and
// the gRPC surface differentially against it (internal/rpc); this checks
// that the SDK reaches them the same way over both backends.

func TestTables(t *testing.T) { eachBackend(t, testTables) }

func testTables(t *testing.T, b backend) {
	c, _ := b.open(t)
	// Remote tests share one server, whose tables are per engine.
	name := fmt.Sprintf("tbl%d", fsSeq.Add(1))
	info, err := c.CreateTable(name, TableOptions{DefaultTTL: 100})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != name || info.DefaultTTL != 100 {
		t.Fatalf("create: %+v", info)
	}
	if _, err := c.CreateTable(name, TableOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("create twice: %v", err)
	}
	if got, err := c.DescribeTable(name); err != nil || got != info {
		t.Fatalf("describe: %+v %v", got, err)
	}
	list, err := c.ListTables()
	if err != nil || !slices.ContainsFunc(list, func(i TableInfo) bool { return i == info }) {
		t.Fatalf("list: %+v %v", list, err)
	}

	tb := c.Table(name)
	h := []byte("user1")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tb.Set(h, []byte("a"), []byte("1"), 0))
	must(tb.MultiSet(h, []KV{{SortKey: []byte("b"), Value: []byte("2")}, {SortKey: []byte("c"), Value: []byte{}}}, 10))
	if v, ok, err := tb.Get(h, []byte("c")); err != nil || !ok || v == nil || len(v) != 0 {
		t.Fatalf("get empty value: %q %v %v", v, ok, err)
	}
	if ttl, ok, err := tb.TTL(h, []byte("a")); err != nil || !ok || ttl < 99 || ttl > 100 {
		t.Fatalf("default ttl: %d %v %v", ttl, ok, err)
	}
	if n, err := tb.Incr(h, []byte("a"), 41, -1); err != nil || n != 42 {
		t.Fatalf("incr: %d %v", n, err)
	}
	kvs, more, err := tb.MultiGet(h, nil, 2, 0, false)
	if err != nil || !more || len(kvs) != 2 || string(kvs[0].Value) != "42" {
		t.Fatalf("multi_get: %q %v %v", kvs, more, err)
	}
	o := DefaultMultiGetOptions()
	o.SortKeyFilter = Filter{Type: FilterMatchPrefix, Pattern: []byte("b")}
	if kvs, _, err := tb.MultiGetOpt(h, nil, nil, o); err != nil || len(kvs) != 1 || string(kvs[0].Value) != "2" {
		t.Fatalf("multi_get_opt: %q %v", kvs, err)
	}
	r, err := tb.CheckAndSet(h, []byte("a"), CheckIntEqual, []byte("42"), []byte("d"), []byte("x"), CheckAndSetOptions{ReturnCheckValue: true})
	if err != nil || !r.SetSucceed || string(r.CheckValue) != "42" {
		t.Fatalf("check_and_set: %+v %v", r, err)
	}
	if n, err := tb.SortKeyCount(h); err != nil || n != 4 {
		t.Fatalf("sort_key_count: %d %v", n, err)
	}
	errs, err := tb.BatchSet([]SetItem{{HashKey: []byte("user2"), SortKey: []byte("a"), Value: []byte("y")}, {}})
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("batch_set: %v %v", errs, err)
	}

	// Concurrent increments lose nothing.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := tb.Incr([]byte("ctr"), nil, 1, 0); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if v, _, _ := tb.Get([]byte("ctr"), nil); string(v) != "160" {
		t.Fatalf("counter %q", v)
	}

	sc, err := tb.GetScanner(h, nil, nil, ScanOptions{BatchSize: 2, StartInclusive: true})
	must(err)
	var got []string
	for {
		hk, sk, v, ok, err := sc.Next()
		must(err)
		if !ok {
			break
		}
		got = append(got, fmt.Sprintf("%s/%s=%s", hk, sk, v))
	}
	if fmt.Sprint(got) != "[user1/a=42 user1/b=2 user1/c= user1/d=x]" {
		t.Fatalf("scan: %v", got)
	}
	must(sc.Close())
	if _, _, _, _, err := sc.Next(); fserr.KindOf(err) != KindClosed {
		t.Fatalf("next after close: %v", err)
	}
	scs, err := tb.GetUnorderedScanners(3, DefaultScanOptions())
	must(err)
	n := 0
	for _, sc := range scs {
		for {
			_, _, _, ok, err := sc.Next()
			must(err)
			if !ok {
				break
			}
			n++
		}
	}
	if n != 4+1+1+1 {
		t.Fatalf("unordered scanners saw %d records", n)
	}

	// Bad input and unknown tables: the same kinds over both backends.
	if err := tb.MultiSet(nil, []KV{{SortKey: []byte("a")}}, 0); fserr.KindOf(err) != KindInvalid {
		t.Fatalf("empty hash key: %v", err)
	}
	if err := tb.Set(h, nil, make([]byte, 2<<20), 0); fserr.KindOf(err) != KindArgTooBig {
		t.Fatalf("big value: %v", err)
	}
	if err := c.Table("no-such").Set(h, nil, nil, 0); fserr.KindOf(err) != KindNotFound {
		t.Fatalf("unknown table: %v", err)
	}
	must(c.DropTable(name))
	if _, _, err := tb.Get(h, nil); fserr.KindOf(err) != KindNotFound {
		t.Fatalf("get after drop: %v", err)
	}
	must(c.Close())
	if _, err := c.ListTables(); fserr.KindOf(err) != KindClosed {
		t.Fatalf("after close: %v", err)
	}
}
