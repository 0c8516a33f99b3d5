package meta_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/ring"
)

func TestWorkerLeases(t *testing.T) {
	ctx := context.Background()
	eng := memEngine(t)
	if _, err := meta.HeartbeatWorker(ctx, eng, meta.Worker{ID: "w1", URL: "http://a:1", Capacity: 5}, time.Minute); err != nil {
		t.Fatal(err)
	}
	short, err := meta.HeartbeatWorker(ctx, eng, meta.Worker{ID: "w2", URL: "http://b:1"}, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if live, _ := meta.Workers(ctx, eng, time.Now(), false); len(live) != 2 || live[0].ID != "w1" || live[0].Capacity != 5 || live[1].URL != "http://b:1" {
		t.Fatalf("live = %+v", live)
	}
	// An expired lease drops the worker from the member list at once...
	after := short.Expires.Add(time.Millisecond)
	if live, _ := meta.Workers(ctx, eng, after, false); len(live) != 1 || live[0].ID != "w1" {
		t.Fatalf("after w2's expiry: %+v", live)
	}
	if all, _ := meta.Workers(ctx, eng, after, true); len(all) != 2 {
		t.Fatalf("all = %+v", all)
	}
	// ...and from the registry once the grace passed.
	gone, err := meta.PruneWorkers(ctx, eng, after, time.Second)
	if err != nil || len(gone) != 0 {
		t.Fatalf("pruned within grace: %v %v", gone, err)
	}
	gone, err = meta.PruneWorkers(ctx, eng, after.Add(2*time.Second), time.Second)
	if err != nil || len(gone) != 1 || gone[0] != "w2" {
		t.Fatalf("prune: %v %v", gone, err)
	}
	// Leaving drops a lease at once.
	if err := meta.LeaveWorker(ctx, eng, "w1"); err != nil {
		t.Fatal(err)
	}
	if all, _ := meta.Workers(ctx, eng, time.Now(), true); len(all) != 0 {
		t.Fatalf("after leave: %+v", all)
	}
	for _, bad := range []struct {
		w   meta.Worker
		ttl time.Duration
	}{
		{meta.Worker{URL: "http://a"}, time.Second},
		{meta.Worker{ID: "x"}, time.Second},
		{meta.Worker{ID: "x", URL: "http://a"}, 0},
		{meta.Worker{ID: "x", URL: "http://a"}, meta.MaxWorkerTTL + 1},
	} {
		if _, err := meta.HeartbeatWorker(ctx, eng, bad.w, bad.ttl); !fserr.Is(fserr.Invalid, err) {
			t.Errorf("%+v ttl %v: %v, want Invalid", bad.w, bad.ttl, err)
		}
	}
}

func TestRingParams(t *testing.T) {
	ctx := context.Background()
	eng := memEngine(t)
	p, err := meta.RingParams(ctx, eng)
	if err != nil || p != ring.Default() {
		t.Fatalf("default: %v %v", p, err)
	}
	want := ring.Params{Version: 1, VNodes: 32, Hash: ring.HashSHA256}
	if err := meta.SetRingParams(ctx, eng, want); err != nil {
		t.Fatal(err)
	}
	if p, _ := meta.RingParams(ctx, eng); p != want {
		t.Fatalf("got %v, want %v", p, want)
	}
	if err := meta.SetRingParams(ctx, eng, ring.Params{Version: 9}); !fserr.Is(fserr.Invalid, err) {
		t.Fatalf("bad params: %v", err)
	}
	if p, _ := meta.RingParams(ctx, eng); p != want {
		t.Fatalf("bad params changed the ring: %v", p)
	}
}

// Two meta processes on one engine: at any time one holds the
// collector's claim; the other takes it when it is released or lapses.
func TestGCClaim(t *testing.T) {
	ctx := context.Background()
	eng := memEngine(t)
	a := newFS(t, eng, meta.Config{ID: 1})
	b := newFS(t, eng, meta.Config{ID: 1})
	var wg sync.WaitGroup
	wins := make([]bool, 8)
	for i := range wins {
		fs := a
		if i%2 == 1 {
			fs = b
		}
		wg.Go(func() {
			held, err := fs.ClaimGC(ctx, []string{"A", "B", "C", "D", "E", "F", "G", "H"}[i], time.Hour)
			if err != nil {
				t.Error(err)
			}
			wins[i] = held
		})
	}
	wg.Wait()
	n := 0
	for _, w := range wins {
		if w {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d owners hold the claim at once (%v)", n, wins)
	}
	owner, _, ok, err := a.GCClaim(ctx)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	other := "A"
	if owner == "A" {
		other = "B"
	}
	if held, _ := b.ClaimGC(ctx, other, time.Hour); held {
		t.Fatal("a second owner took a live claim")
	}
	if held, _ := b.ClaimGC(ctx, owner, time.Hour); !held {
		t.Fatal("the holder could not renew")
	}
	if err := a.ReleaseGC(ctx, other); err != nil { // not the holder: no effect
		t.Fatal(err)
	}
	if held, _ := b.ClaimGC(ctx, other, time.Hour); held {
		t.Fatal("a release by a non-holder freed the claim")
	}
	if err := a.ReleaseGC(ctx, owner); err != nil {
		t.Fatal(err)
	}
	if held, _ := b.ClaimGC(ctx, other, 10*time.Millisecond); !held {
		t.Fatal("the claim was not free after its release")
	}
	time.Sleep(20 * time.Millisecond)
	if held, _ := a.ClaimGC(ctx, owner, time.Hour); !held {
		t.Fatal("a lapsed claim was not taken over")
	}
}
