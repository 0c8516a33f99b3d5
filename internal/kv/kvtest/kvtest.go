// Package kvtest is the conformance suite every kv.Engine implementation
// passes: the contract of package kv (nil and empty values, Scan bounds,
// limits and order, read-your-writes, abort on error, cancellation, Close)
// and serializability under concurrency (no lost update, no write skew over
// keys or over scanned ranges, consistent snapshots).
//
// Each implementation's tests call Run with a function that opens a fresh,
// empty engine; Run opens one per subtest and closes it at the end.
package kvtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/kv"
)

type config struct {
	workers, increments int
}

// Option changes how Run exercises an engine.
type Option func(*config)

// Increments sets the lost-update test's load: workers goroutines each
// making n read-modify-write increments of one key. The default is 16 x
// 1,000; only an engine too slow for that should lower it.
func Increments(workers, n int) Option {
	return func(c *config) { c.workers, c.increments = workers, n }
}

// Run runs the suite. open returns a new empty engine; Run closes it when
// the subtest ends (a second Close may fail and that error is ignored).
func Run(t *testing.T, open func(t *testing.T) kv.Engine, opts ...Option) {
	cfg := config{workers: 16, increments: 1000}
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, e kv.Engine)
	}{
		{"GetMissingAndEmpty", testGet},
		{"ValuesAreCopies", testCopies},
		{"ScanOrderBoundsLimits", testScan},
		{"ReadYourWrites", testReadYourWrites},
		{"ErrorAborts", testErrorAborts},
		{"LargeValues", testLarge},
		{"Cancelled", testCancelled},
		{"RandomAgainstModel", testModel},
		{"NoLostUpdate", func(t *testing.T, e kv.Engine) { testCounter(t, e, cfg) }},
		{"WriteSkew", testWriteSkew},
		{"PhantomWriteSkew", testPhantom},
		{"ConsistentSnapshots", testSnapshots},
		{"Stats", testStats},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := open(t)
			t.Cleanup(func() { _ = e.Close() })
			tc.fn(t, e)
		})
	}
	t.Run("CloseThenUse", func(t *testing.T) { testClose(t, open(t)) })
}

func update(t *testing.T, e kv.Engine, fn func(kv.Txn) error) {
	t.Helper()
	if err := e.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, e kv.Engine, fn func(kv.ReadTxn) error) {
	t.Helper()
	if err := e.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func put(t *testing.T, e kv.Engine, kvs ...string) {
	t.Helper()
	update(t, e, func(tx kv.Txn) error {
		for i := 0; i < len(kvs); i += 2 {
			if err := tx.Put([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
}

func testGet(t *testing.T, e kv.Engine) {
	put(t, e, "a", "1", "empty", "")
	check := func(r kv.ReadTxn) error {
		if _, err := r.Get([]byte("missing")); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Get(missing) err = %v, want ErrNotFound", err)
		}
		v, err := r.Get([]byte("empty"))
		if err != nil || v == nil || len(v) != 0 {
			t.Errorf("Get(empty) = %q (nil %v), %v; want non-nil empty", v, v == nil, err)
		}
		if v, err := r.Get([]byte("a")); err != nil || string(v) != "1" {
			t.Errorf("Get(a) = %q, %v", v, err)
		}
		vs, err := r.GetMany([][]byte{[]byte("empty"), []byte("missing"), []byte("a")})
		if err != nil {
			t.Fatalf("GetMany: %v", err)
		}
		if len(vs) != 3 || vs[0] == nil || len(vs[0]) != 0 || vs[1] != nil || string(vs[2]) != "1" {
			t.Errorf("GetMany = %q, want [\"\" nil \"1\"] with a non-nil empty first", vs)
		}
		if vs, err := r.GetMany(nil); err != nil || len(vs) != 0 {
			t.Errorf("GetMany(nil) = %q, %v", vs, err)
		}
		return nil
	}
	view(t, e, check)
	update(t, e, func(tx kv.Txn) error { return check(tx) })
}

func testCopies(t *testing.T, e kv.Engine) {
	k, v := []byte("k"), []byte("value")
	update(t, e, func(tx kv.Txn) error { return tx.Put(k, v) })
	k[0], v[0] = 'x', 'x'
	view(t, e, func(r kv.ReadTxn) error {
		got, err := r.Get([]byte("k"))
		if err != nil || string(got) != "value" {
			t.Fatalf("Get after caller reused its buffers = %q, %v", got, err)
		}
		got[0] = 'y'
		return nil
	})
	view(t, e, func(r kv.ReadTxn) error {
		got, _ := r.Get([]byte("k"))
		ps, _ := r.Scan(nil, nil, 0, false)
		ps[0].Key[0], ps[0].Value[0] = 'z', 'z'
		if string(got) != "value" {
			t.Errorf("mutating a returned value changed the store: %q", got)
		}
		return nil
	})
	view(t, e, func(r kv.ReadTxn) error {
		ps, _ := r.Scan(nil, nil, 0, false)
		if len(ps) != 1 || string(ps[0].Key) != "k" || string(ps[0].Value) != "value" {
			t.Errorf("mutating a scanned pair changed the store: %q", ps)
		}
		return nil
	})
}

// scanKeys are chosen to sit at byte-order edges: 0x00 and 0xff bytes,
// prefixes of each other and the empty-suffix neighbours.
var scanKeys = []string{"\x00", "\x00\x00", "\x00\xff", "a", "a\x00", "a\xff", "ab", "b", "b\x00", "\xff", "\xff\xff", "\xff\xff\xff"}

func testScan(t *testing.T, e kv.Engine) {
	var kvs []string
	for i, k := range scanKeys {
		kvs = append(kvs, k, "v"+strconv.Itoa(i))
	}
	put(t, e, kvs...)
	model := map[string]string{}
	for i := 0; i < len(kvs); i += 2 {
		model[kvs[i]] = kvs[i+1]
	}
	bounds := [][]byte{nil, {}, {0}, {0, 0}, []byte("a"), []byte("a\x00"), []byte("a\x01"), []byte("b"), {0xff}, {0xff, 0xff, 0xff, 0xff}}
	view(t, e, func(r kv.ReadTxn) error {
		for _, start := range bounds {
			for _, end := range bounds {
				for _, limit := range []int{0, 1, 2, 5, 100} {
					for _, rev := range []bool{false, true} {
						got, err := r.Scan(start, end, limit, rev)
						if err != nil {
							t.Fatalf("Scan(%q, %q, %d, %v): %v", start, end, limit, rev, err)
						}
						want := modelScan(model, start, end, limit, rev)
						if !pairsEqual(got, want) {
							t.Errorf("Scan(%q, %q, %d, %v) = %q, want %q", start, end, limit, rev, pairsString(got), pairsString(want))
						}
					}
				}
			}
		}
		// PrefixEnd bounds a prefix scan.
		got, _ := r.Scan([]byte("a"), kv.PrefixEnd([]byte("a")), 0, false)
		if want := modelScan(model, []byte("a"), []byte("b"), 0, false); !pairsEqual(got, want) {
			t.Errorf("prefix scan of a = %q, want %q", pairsString(got), pairsString(want))
		}
		got, _ = r.Scan([]byte("\xff"), kv.PrefixEnd([]byte("\xff")), 0, true)
		if want := modelScan(model, []byte("\xff"), nil, 0, true); !pairsEqual(got, want) {
			t.Errorf("reverse prefix scan of 0xff = %q, want %q", pairsString(got), pairsString(want))
		}
		return nil
	})
}

func modelScan(m map[string]string, start, end []byte, limit int, reverse bool) []kv.Pair {
	var keys []string
	for k := range m {
		if k >= string(start) && (end == nil || k < string(end)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if reverse {
		slices.Reverse(keys)
	}
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	out := []kv.Pair{}
	for _, k := range keys {
		out = append(out, kv.Pair{Key: []byte(k), Value: []byte(m[k])})
	}
	return out
}

func pairsEqual(a, b []kv.Pair) bool {
	return slices.EqualFunc(a, b, func(x, y kv.Pair) bool {
		return bytes.Equal(x.Key, y.Key) && bytes.Equal(x.Value, y.Value)
	})
}

func pairsString(ps []kv.Pair) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%q=%q", p.Key, p.Value)
	}
	return out
}

func testReadYourWrites(t *testing.T, e kv.Engine) {
	put(t, e, "k1", "old1", "k2", "old2", "k3", "old3", "k5", "old5")
	model := map[string]string{"k1": "old1", "k2": "old2", "k3": "old3", "k5": "old5"}
	update(t, e, func(tx kv.Txn) error {
		ops := []struct{ k, v string }{{"k2", ""}, {"k4", "new4"}, {"k1", "new1"}, {"k0", "new0"}, {"k9", "new9"}, {"k5", ""}}
		for _, op := range ops {
			var err error
			if op.v == "" {
				err = tx.Delete([]byte(op.k))
			} else {
				err = tx.Put([]byte(op.k), []byte(op.v))
			}
			if err != nil {
				return err
			}
		}
		// Delete then re-put, put then delete.
		tx.Put([]byte("k5"), []byte("again5"))
		tx.Put([]byte("k6"), []byte("gone6"))
		tx.Delete([]byte("k6"))
		tx.Put([]byte("kE"), nil)
		m := map[string]string{"k0": "new0", "k1": "new1", "k3": "old3", "k4": "new4", "k5": "again5", "k9": "new9", "kE": ""}
		if _, err := tx.Get([]byte("k2")); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Get(deleted k2) err = %v", err)
		}
		if _, err := tx.Get([]byte("k6")); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Get(put-then-deleted k6) err = %v", err)
		}
		if v, err := tx.Get([]byte("kE")); err != nil || v == nil || len(v) != 0 {
			t.Errorf("Get(kE put nil) = %q (nil %v), %v, want non-nil empty", v, v == nil, err)
		}
		for k, want := range m {
			if v, err := tx.Get([]byte(k)); err != nil || string(v) != want {
				t.Errorf("Get(%s) = %q, %v, want %q", k, v, err, want)
			}
		}
		vs, err := tx.GetMany([][]byte{[]byte("k1"), []byte("k2"), []byte("k4"), []byte("k6"), []byte("kE")})
		if err != nil || len(vs) != 5 || string(vs[0]) != "new1" || vs[1] != nil || string(vs[2]) != "new4" || vs[3] != nil || vs[4] == nil {
			t.Errorf("GetMany = %q, %v", vs, err)
		}
		bounds := [][]byte{nil, []byte("k"), []byte("k1"), []byte("k2"), []byte("k3"), []byte("k5"), []byte("k6"), []byte("kE"), []byte("l")}
		for _, start := range bounds {
			for _, end := range bounds {
				for _, limit := range []int{0, 1, 2, 3} {
					for _, rev := range []bool{false, true} {
						got, err := tx.Scan(start, end, limit, rev)
						if err != nil {
							return err
						}
						if want := modelScan(m, start, end, limit, rev); !pairsEqual(got, want) {
							t.Errorf("in-txn Scan(%q, %q, %d, %v) = %q, want %q", start, end, limit, rev, pairsString(got), pairsString(want))
						}
					}
				}
			}
		}
		model = m
		return nil
	})
	view(t, e, func(r kv.ReadTxn) error {
		got, err := r.Scan(nil, nil, 0, false)
		if want := modelScan(model, nil, nil, 0, false); err != nil || !pairsEqual(got, want) {
			t.Errorf("after commit Scan = %q, %v, want %q", pairsString(got), err, pairsString(want))
		}
		return nil
	})
}

func testErrorAborts(t *testing.T, e kv.Engine) {
	put(t, e, "keep", "1")
	boom := errors.New("boom")
	calls := 0
	err := e.Update(context.Background(), func(tx kv.Txn) error {
		calls++
		tx.Put([]byte("new"), []byte("x"))
		tx.Put([]byte("keep"), []byte("2"))
		tx.Delete([]byte("keep"))
		return boom
	})
	if err != boom {
		t.Fatalf("Update returned %v, want fn's error unchanged", err)
	}
	if calls != 1 {
		t.Errorf("fn called %d times after returning an error, want 1", calls)
	}
	viewErr := e.View(context.Background(), func(kv.ReadTxn) error { return boom })
	if viewErr != boom {
		t.Errorf("View returned %v, want fn's error unchanged", viewErr)
	}
	view(t, e, func(r kv.ReadTxn) error {
		ps, _ := r.Scan(nil, nil, 0, false)
		if len(ps) != 1 || string(ps[0].Key) != "keep" || string(ps[0].Value) != "1" {
			t.Errorf("aborted txn left %q", pairsString(ps))
		}
		return nil
	})
}

func testLarge(t *testing.T, e kv.Engine) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	put(t, e, "big", string(big))
	medium := make([]byte, 100<<10)
	update(t, e, func(tx kv.Txn) error {
		for i := range 10 {
			medium[0] = byte(i)
			if err := tx.Put([]byte("m"+strconv.Itoa(i)), medium); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, e, func(r kv.ReadTxn) error {
		if v, err := r.Get([]byte("big")); err != nil || !bytes.Equal(v, big) {
			t.Errorf("Get(big): len %d, %v", len(v), err)
		}
		ps, err := r.Scan([]byte("m"), []byte("n"), 0, false)
		if err != nil || len(ps) != 10 {
			t.Fatalf("Scan(m) = %d pairs, %v", len(ps), err)
		}
		for i, p := range ps {
			if len(p.Value) != 100<<10 || p.Value[0] != byte(i) {
				t.Errorf("m%d: len %d first %d", i, len(p.Value), p.Value[0])
			}
		}
		return nil
	})
}

func testCancelled(t *testing.T, e kv.Engine) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := e.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("a"), []byte("1")) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update(cancelled) = %v, want context.Canceled", err)
	}
	if err := e.View(ctx, func(kv.ReadTxn) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("View(cancelled) = %v, want context.Canceled", err)
	}
	// Cancelled while fn runs: nothing may commit.
	ctx, cancel = context.WithCancel(context.Background())
	err = e.Update(ctx, func(tx kv.Txn) error {
		tx.Put([]byte("b"), []byte("1"))
		cancel()
		return tx.Put([]byte("c"), []byte("1"))
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update cancelled inside fn = %v, want context.Canceled", err)
	}
	view(t, e, func(r kv.ReadTxn) error {
		if ps, _ := r.Scan(nil, nil, 0, false); len(ps) != 0 {
			t.Errorf("cancelled transactions wrote %q", pairsString(ps))
		}
		return nil
	})
}

func testClose(t *testing.T, e kv.Engine) {
	put(t, e, "a", "1")
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	if err := e.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("b"), nil) }); err == nil {
		t.Error("Update after Close succeeded")
	}
	if err := e.View(ctx, func(r kv.ReadTxn) error { _, err := r.Get([]byte("a")); return err }); err == nil {
		t.Error("View after Close succeeded")
	}
}

// testModel applies random operations, several per transaction, and checks
// every read against a map.
func testModel(t *testing.T, e kv.Engine) {
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	key := func() string { return fmt.Sprintf("r%02d", rng.IntN(40)) }
	for round := range 60 {
		update(t, e, func(tx kv.Txn) error {
			m := maps(model)
			for range 1 + rng.IntN(8) {
				switch rng.IntN(5) {
				case 0, 1:
					k, v := key(), strconv.Itoa(rng.IntN(1000))
					if err := tx.Put([]byte(k), []byte(v)); err != nil {
						return err
					}
					m[k] = v
				case 2:
					k := key()
					if err := tx.Delete([]byte(k)); err != nil {
						return err
					}
					delete(m, k)
				case 3:
					k := key()
					v, err := tx.Get([]byte(k))
					want, ok := m[k]
					if ok != (err == nil) || string(v) != want {
						t.Fatalf("round %d: Get(%s) = %q, %v; model %q, %v", round, k, v, err, want, ok)
					}
				case 4:
					start, end := []byte(key()), []byte(key())
					if rng.IntN(4) == 0 {
						end = nil
					}
					limit, rev := rng.IntN(5), rng.IntN(2) == 0
					got, err := tx.Scan(start, end, limit, rev)
					if want := modelScan(m, start, end, limit, rev); err != nil || !pairsEqual(got, want) {
						t.Fatalf("round %d: Scan(%q, %q, %d, %v) = %q, %v, want %q", round, start, end, limit, rev, pairsString(got), err, pairsString(want))
					}
				}
			}
			model = m
			return nil
		})
	}
	view(t, e, func(r kv.ReadTxn) error {
		got, err := r.Scan(nil, nil, 0, false)
		if want := modelScan(model, nil, nil, 0, false); err != nil || !pairsEqual(got, want) {
			t.Errorf("final state = %q, %v, want %q", pairsString(got), err, pairsString(want))
		}
		return nil
	})
}

func maps(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func testCounter(t *testing.T, e kv.Engine, cfg config) {
	key := []byte("counter")
	var wg sync.WaitGroup
	var attempts atomic.Int64
	errs := make(chan error, cfg.workers)
	start := time.Now()
	for range cfg.workers {
		wg.Go(func() {
			for range cfg.increments {
				err := e.Update(context.Background(), func(tx kv.Txn) error {
					attempts.Add(1)
					v, err := tx.Get(key)
					n := 0
					if err == nil {
						n, err = strconv.Atoi(string(v))
					} else if errors.Is(err, kv.ErrNotFound) {
						err = nil
					}
					if err != nil {
						return err
					}
					return tx.Put(key, []byte(strconv.Itoa(n+1)))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("increment: %v", err)
	}
	want := cfg.workers * cfg.increments
	view(t, e, func(r kv.ReadTxn) error {
		v, err := r.Get(key)
		if err != nil || string(v) != strconv.Itoa(want) {
			t.Errorf("counter = %q, %v, want %d", v, err, want)
		}
		return nil
	})
	t.Logf("%d increments by %d workers in %v, %d attempts", want, cfg.workers, time.Since(start).Round(time.Millisecond), attempts.Load())
}

// overlap makes the first attempts of two transactions run side by side:
// each waits at the barrier after its reads until the other got there too.
type overlap struct {
	wg sync.WaitGroup
}

func newOverlap() *overlap {
	o := &overlap{}
	o.wg.Add(2)
	return o
}

// wait blocks on the first call only; retries must not wait for a partner
// that already committed.
func (o *overlap) wait(first *bool) {
	if *first {
		*first = false
		o.wg.Done()
		o.wg.Wait()
	}
}

// testWriteSkew is the on-call doctors: each transaction reads both
// doctors and goes off call if the other is still on. Serializability
// keeps at least one on call.
func testWriteSkew(t *testing.T, e kv.Engine) {
	d := [2][]byte{[]byte("doctor/a"), []byte("doctor/b")}
	for round := range 20 {
		put(t, e, string(d[0]), "on", string(d[1]), "on")
		o := newOverlap()
		var wg sync.WaitGroup
		for me := range 2 {
			first := true
			wg.Go(func() {
				err := e.Update(context.Background(), func(tx kv.Txn) error {
					vs, err := tx.GetMany(d[:])
					if err != nil {
						return err
					}
					if me == 1 { // read the same keys both ways
						if _, err := tx.Get(d[0]); err != nil {
							return err
						}
					}
					o.wait(&first)
					if string(vs[0]) == "on" && string(vs[1]) == "on" {
						return tx.Put(d[me], []byte("off"))
					}
					return nil
				})
				if err != nil {
					t.Errorf("round %d: doctor %d: %v", round, me, err)
				}
			})
		}
		wg.Wait()
		view(t, e, func(r kv.ReadTxn) error {
			vs, err := r.GetMany(d[:])
			if err != nil || (string(vs[0]) != "on" && string(vs[1]) != "on") {
				t.Fatalf("round %d: write skew: doctors %q, %v", round, vs, err)
			}
			return nil
		})
	}
}

// testPhantom is write skew through a range: each transaction scans a
// range, finds it empty and inserts its own key there. Only one may commit
// its insert; the other must see it on retry.
func testPhantom(t *testing.T, e kv.Engine) {
	for round := range 20 {
		prefix := fmt.Sprintf("slot/%02d/", round)
		// A neighbour outside the range must not matter.
		put(t, e, fmt.Sprintf("slot/%02d", round), "x")
		o := newOverlap()
		var wg sync.WaitGroup
		for me := range 2 {
			first := true
			wg.Go(func() {
				err := e.Update(context.Background(), func(tx kv.Txn) error {
					// One forward, one reverse with a limit: both must guard the range.
					ps, err := tx.Scan([]byte(prefix), kv.PrefixEnd([]byte(prefix)), me, me == 1)
					if err != nil {
						return err
					}
					o.wait(&first)
					if len(ps) == 0 {
						return tx.Put([]byte(prefix+strconv.Itoa(me)), []byte("taken"))
					}
					return nil
				})
				if err != nil {
					t.Errorf("round %d: %d: %v", round, me, err)
				}
			})
		}
		wg.Wait()
		view(t, e, func(r kv.ReadTxn) error {
			ps, err := r.Scan([]byte(prefix), kv.PrefixEnd([]byte(prefix)), 0, false)
			if err != nil || len(ps) != 1 {
				t.Fatalf("round %d: phantom write skew: range holds %q, %v", round, pairsString(ps), err)
			}
			return nil
		})
	}
}

// testSnapshots moves money between accounts while readers check that
// every snapshot sees the same total, whether read by Scan or GetMany.
func testSnapshots(t *testing.T, e kv.Engine) {
	const accounts, total = 5, 500
	keys := make([][]byte, accounts)
	var kvs []string
	for i := range keys {
		keys[i] = []byte("acct/" + strconv.Itoa(i))
		kvs = append(kvs, string(keys[i]), strconv.Itoa(total/accounts))
	}
	put(t, e, kvs...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var stop atomic.Bool
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range 50 {
				from, to := rng.IntN(accounts), rng.IntN(accounts)
				err := e.Update(ctx, func(tx kv.Txn) error {
					vs, err := tx.GetMany([][]byte{keys[from], keys[to]})
					if err != nil {
						return err
					}
					a, _ := strconv.Atoi(string(vs[0]))
					b, _ := strconv.Atoi(string(vs[1]))
					if from == to || a == 0 {
						return nil
					}
					tx.Put(keys[from], []byte(strconv.Itoa(a-1)))
					return tx.Put(keys[to], []byte(strconv.Itoa(b+1)))
				})
				if err != nil {
					t.Errorf("transfer: %v", err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for r := range 2 {
		readers.Go(func() {
			for !stop.Load() {
				err := e.View(ctx, func(tx kv.ReadTxn) error {
					sum := 0
					if r == 0 {
						ps, err := tx.Scan([]byte("acct/"), []byte("acct0"), 0, false)
						if err != nil {
							return err
						}
						for _, p := range ps {
							n, _ := strconv.Atoi(string(p.Value))
							sum += n
						}
					} else {
						vs, err := tx.GetMany(keys)
						if err != nil {
							return err
						}
						for _, v := range vs {
							n, _ := strconv.Atoi(string(v))
							sum += n
						}
					}
					if sum != total {
						t.Errorf("snapshot total %d, want %d", sum, total)
					}
					return nil
				})
				if err != nil {
					t.Errorf("View: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	readers.Wait()
}

// testStats checks the transaction counters of an engine that keeps them
// (kv.Counters): one of each outcome, and a conflict forced by two
// transactions that read and write the same key side by side.
func testStats(t *testing.T, e kv.Engine) {
	se, ok := e.(interface{ Stats() kv.Stats })
	if !ok {
		t.Skip("the engine keeps no Stats")
	}
	before := se.Stats()
	put(t, e, "stats/a", "1")                         // committed
	view(t, e, func(kv.ReadTxn) error { return nil }) // committed view
	errAbort := errors.New("abort")
	if err := e.Update(context.Background(), func(tx kv.Txn) error { return errAbort }); err != errAbort {
		t.Fatalf("aborted update returned %v", err)
	}
	if err := e.View(context.Background(), func(kv.ReadTxn) error { return errAbort }); err != errAbort {
		t.Fatalf("aborted view returned %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("stats/b"), []byte("x")) }); err == nil {
		t.Fatal("update with a cancelled context succeeded")
	}
	o := newOverlap()
	var wg sync.WaitGroup
	for me := range 2 {
		first := true
		wg.Go(func() {
			err := e.Update(context.Background(), func(tx kv.Txn) error {
				v, err := tx.Get([]byte("stats/a"))
				if err != nil {
					return err
				}
				o.wait(&first)
				return tx.Put([]byte("stats/a"), append(v, byte('0'+me)))
			})
			if err != nil {
				t.Errorf("contender %d: %v", me, err)
			}
		})
	}
	wg.Wait()
	after := se.Stats()
	d := func(a, b kv.TxnCounts, o kv.Outcome) int64 { return a[o] - b[o] }
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"committed updates", d(after.Updates, before.Updates, kv.Committed), 3},
		{"aborted updates", d(after.Updates, before.Updates, kv.Aborted), 1},
		{"cancelled updates", d(after.Updates, before.Updates, kv.Canceled), 1},
		{"failed updates", d(after.Updates, before.Updates, kv.Failed), 0},
		{"conflicted updates", d(after.Updates, before.Updates, kv.Conflicted), 0},
		{"committed views", d(after.Views, before.Views, kv.Committed), 1},
		{"aborted views", d(after.Views, before.Views, kv.Aborted), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	if r := after.ConflictRetries - before.ConflictRetries; r < 1 {
		t.Errorf("conflict retries: %d, want at least 1", r)
	}
	if after.UpdateSeconds <= before.UpdateSeconds {
		t.Errorf("update time did not grow: %v -> %v", before.UpdateSeconds, after.UpdateSeconds)
	}
}
