package rpc

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/kvtable"
)

// TestKVCoalesce issues many Sets and Gets at once through one KVClient,
// so they coalesce into batches, mixing valid calls with different TTLs,
// invalid ones (value over the limit, TTL out of range) and calls on a
// missing table. Every call must get what it gets alone: its own TTL, and
// exactly the error (kind, op and message) the in-process table returns
// for the same call, never a neighbour's.
func TestKVCoalesce(t *testing.T) {
	e := newKVEnv(t)
	ctx := context.Background()
	for _, s := range []*kvtable.Store{e.local, e.store} {
		_, err := s.CreateTable(ctx, "t", kvtable.TableOptions{})
		mustKV(t, err)
	}
	const n = 400
	type call struct {
		table string
		hk    []byte
		v     []byte
		ttl   int
	}
	calls := make([]call, n)
	for i := range calls {
		c := call{table: "t", hk: fmt.Appendf(nil, "h%03d", i), v: fmt.Appendf(nil, "v%03d", i), ttl: i % 7 * 100}
		switch i % 10 {
		case 3:
			c.v = make([]byte, 5000) // over MaxValueSize 4096
		case 5:
			c.ttl = -5
		case 7:
			c.table = "missing"
		}
		calls[i] = c
	}
	remote := func(name string) *KVTable { return e.remote.Table(name) }
	for round := range 3 {
		var wg sync.WaitGroup
		got := make([]string, n)
		start := make(chan struct{})
		for i, c := range calls {
			wg.Go(func() {
				<-start
				got[i] = show(remote(c.table).Set(ctx, c.hk, nil, c.v, c.ttl))
			})
		}
		close(start)
		wg.Wait()
		for i, c := range calls {
			want := show(e.local.Table(c.table).Set(ctx, c.hk, nil, c.v, c.ttl))
			if got[i] != want {
				t.Fatalf("round %d: set %d: got %s, alone %s", round, i, got[i], want)
			}
		}

		start = make(chan struct{})
		for i, c := range calls {
			wg.Go(func() {
				<-start
				v, ok, err := remote(c.table).Get(ctx, c.hk, nil)
				got[i] = show(v, ok, err)
			})
		}
		close(start)
		wg.Wait()
		for i, c := range calls {
			v, ok, err := e.local.Table(c.table).Get(ctx, c.hk, nil)
			if want := show(v, ok, err); got[i] != want {
				t.Fatalf("round %d: get %d: got %s, alone %s", round, i, got[i], want)
			}
			if c.table != "t" {
				continue
			}
			rt, rok, rerr := remote("t").TTL(ctx, c.hk, nil)
			lt, lok, lerr := e.local.Table("t").TTL(ctx, c.hk, nil)
			if show(rt, rok, rerr) != show(lt, lok, lerr) {
				t.Fatalf("round %d: ttl %d: got %s, alone %s", round, i, show(rt, rok, rerr), show(lt, lok, lerr))
			}
		}
		if e.remote.co.batches.Load() == 0 {
			t.Fatalf("round %d: no call was coalesced", round)
		}
		e.clock.Advance(150 * time.Second) // some records expire between rounds
	}
}

// TestKVCoalesceCancel: a caller whose context ends while its call is
// queued returns its context's error; the others are unaffected.
func TestKVCoalesceCancel(t *testing.T) {
	e := newKVEnv(t)
	ctx := context.Background()
	_, err := e.store.CreateTable(ctx, "t", kvtable.TableOptions{})
	mustKV(t, err)
	tb := e.remote.Table("t")
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			cctx := ctx
			if i%2 == 1 {
				var cancel context.CancelFunc
				cctx, cancel = context.WithCancel(ctx)
				cancel()
			}
			err := tb.Set(cctx, fmt.Appendf(nil, "h%d", i), nil, []byte("v"), 0)
			if i%2 == 0 && err != nil {
				t.Errorf("set %d: %v", i, err)
			}
			if i%2 == 1 && err == nil {
				t.Errorf("set %d with a cancelled context succeeded", i)
			}
		})
	}
	wg.Wait()
	for i := 0; i < 200; i += 2 {
		v, ok, err := tb.Get(ctx, fmt.Appendf(nil, "h%d", i), nil)
		if err != nil || !ok || string(v) != "v" {
			t.Fatalf("get %d: %q %v %v", i, v, ok, err)
		}
	}
}
