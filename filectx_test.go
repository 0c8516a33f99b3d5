package shoal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
)

// A call's context bounds that call only: a cancelled ReadAtContext,
// WriteAtContext or SyncContext fails with the context's error, and the
// handle goes on working for the next call (the Python agent bounds each
// request with its own deadline this way).
func TestFileCallContext(t *testing.T) { eachBackend(t, testFileCallContext) }

func testFileCallContext(t *testing.T, b backend) {
	c, _ := b.open(t)
	f, err := c.OpenFile("ctx.bin", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	want := bytes.Repeat([]byte("abcd"), 300<<10) // past the inline size: real blocks
	if _, err := f.WriteAtContext(context.Background(), want, 0); err != nil {
		t.Fatal(err)
	}
	must(t, f.SyncContext(context.Background()))
	// The data layer may serve a read from its cache without looking at
	// ctx; what matters is that a cancelled call never breaks the handle.
	if err := f.SyncContext(dead); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("SyncContext(cancelled) = %v, want nil or context.Canceled", err)
	}
	got := make([]byte, len(want))
	if _, err := f.ReadAtContext(dead, got, 0); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadAtContext(cancelled) = %v, want nil or context.Canceled", err)
	}
	if _, err := f.WriteContext(context.Background(), []byte("tail")); err != nil {
		t.Fatal(err)
	}
	n, err := f.ReadAtContext(context.Background(), got, 0)
	if err != nil || n != len(got) {
		t.Fatalf("ReadAtContext after a cancelled call: %d, %v", n, err)
	}
	if !bytes.Equal(got[4:], want[4:]) || !bytes.Equal(got[:4], []byte("tail")) {
		t.Fatal("data differs after a cancelled call")
	}
	must(t, f.Close())
}
