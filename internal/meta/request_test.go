package meta

import (
	"context"
	"fmt"
	"testing"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/mem"
)

func countTag(t *testing.T, fs *FS, tag byte) int {
	t.Helper()
	n := 0
	err := fs.eng.View(context.Background(), func(tx kv.ReadTxn) error {
		start, end := fs.k.all(tag)
		pairs, err := tx.Scan(start, end, 0, false)
		n = len(pairs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRequestTrim: a session keeps the last requestWindow request ids,
// and none once it ends.
func TestRequestTrim(t *testing.T) {
	ctx := context.Background()
	eng := mem.New()
	defer eng.Close()
	fs, err := New(ctx, eng, Config{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	s, err := fs.NewSession(ctx, SessionInfo{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = requestWindow + 300
	for i := uint64(1); i <= n; i++ {
		rctx := WithRequest(ctx, s.ID(), i)
		if err := s.SetXattr(rctx, Root, RootIno, "user.x", []byte(fmt.Sprint(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := countTag(t, fs, tagRequest); got != requestWindow {
		t.Fatalf("%d request records, want %d", got, requestWindow)
	}
	// The oldest kept id is still answered; the newest too.
	if err := s.SetXattr(WithRequest(ctx, s.ID(), n-requestWindow+1), Root, RootIno, "user.x", []byte("old"), XattrCreate); err != nil {
		t.Fatalf("retry of a kept id: %v", err)
	}
	if probs, _ := fs.Check(ctx); len(probs) != 0 {
		t.Fatalf("Check: %q", probs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := countTag(t, fs, tagRequest); got != 0 {
		t.Fatalf("%d request records after Close", got)
	}
}

func TestReqWindow(t *testing.T) {
	var w reqWindow
	if w.seen(1) {
		t.Fatal("empty window saw 1")
	}
	w.add(1)
	w.add(3)
	if !w.seen(1) || w.seen(2) || !w.seen(3) || w.seen(4) {
		t.Fatal("window 1,3")
	}
	w.add(3 + requestWindow - 1) // 3 stays; 1 and 2 fall out (count as seen)
	if !w.seen(3) || !w.seen(2) || w.seen(4) || !w.seen(3+requestWindow-1) {
		t.Fatal("window after slide")
	}
	w.add(10 * requestWindow)
	if w.seen(10*requestWindow-1) || !w.seen(10*requestWindow) {
		t.Fatal("window after jump")
	}
	w.add(5) // too old: ignored
	if w.seen(5+requestWindow*9) || !w.seen(5) {
		t.Fatal("old id")
	}
}
