package meta

import (
	"context"
	"fmt"
	"testing"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/mem"
)

func allocRanges(t *testing.T, fs *FS) [][3]uint64 {
	t.Helper()
	var out [][3]uint64
	err := fs.eng.View(context.Background(), func(tx kv.ReadTxn) error {
		start, end := fs.k.all(tagAlloc)
		pairs, err := tx.Scan(start, end, 0, false)
		out = out[:0]
		for _, p := range pairs {
			b := p.Key[pfxLen+1:]
			out = append(out, [3]uint64{u64(b), u64(b[8:]), u64(p.Value)})
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSliceRanges: slice id batches are recorded under the session
// (contiguous ones merged), dropped by a clean Close, and moved to the
// sweep list when a later New cleans the session as stale.
func TestSliceRanges(t *testing.T) {
	ctx := context.Background()
	eng := mem.New()
	defer eng.Close()
	fs1, err := New(ctx, eng, Config{IDBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := fs1.NewSliceID(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := fmt.Sprint(allocRanges(t, fs1)), fmt.Sprint([][3]uint64{{fs1.Session(), 1, 13}}); got != want {
		t.Fatalf("ranges after 10 ids = %s, want %s (merged)", got, want)
	}
	fs2, err := New(ctx, eng, Config{IDBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := fs2.NewSliceID(ctx)
	id1, _ := fs1.NewSliceID(ctx)
	id1b, _ := fs1.NewSliceID(ctx) // fs1's batch [11, 13) is used up: a new, separate range
	if id != 13 || id1 != 11 || id1b != 12 {
		t.Fatalf("ids %d %d %d", id, id1, id1b)
	}
	if _, err := fs1.NewSliceID(ctx); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([][3]uint64{{fs1.Session(), 1, 13}, {fs1.Session(), 17, 21}, {fs2.Session(), 13, 17}})
	if got := fmt.Sprint(allocRanges(t, fs1)); got != want {
		t.Fatalf("ranges = %s, want %s", got, want)
	}
	if p, err := fs1.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("Check = %q, %v", p, err)
	}
	// fs2 closes cleanly; fs1 "dies" and a new FS cleans it up.
	if err := fs2.Close(); err != nil {
		t.Fatal(err)
	}
	fs3, err := New(ctx, eng, Config{IDBatch: 4, CleanStaleSessions: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs3.Close()
	if r := allocRanges(t, fs3); len(r) != 0 {
		t.Fatalf("ranges after cleaning = %v", r)
	}
	sw, err := fs3.SweepRanges(ctx, 0)
	if got, want := fmt.Sprint(sw), fmt.Sprint([][2]uint64{{1, 13}, {17, 21}}); err != nil || got != want {
		t.Fatalf("SweepRanges = %s, %v; want %s", got, err, want)
	}
	if first, _ := fs3.SweepRanges(ctx, 1); len(first) != 1 || first[0] != sw[0] {
		t.Fatalf("SweepRanges(1) = %v", first)
	}
	if p, err := fs3.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("Check = %q, %v", p, err)
	}
	if err := fs3.ForgetSweep(ctx, sw[:1]); err != nil {
		t.Fatal(err)
	}
	if sw, _ := fs3.SweepRanges(ctx, 0); fmt.Sprint(sw) != fmt.Sprint([][2]uint64{{17, 21}}) {
		t.Fatalf("after ForgetSweep: %v", sw)
	}
}
