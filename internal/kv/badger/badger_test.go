package badger_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"syscall"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/kv/kvtest"
)

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Engine {
		e, err := badger.Open(t.TempDir(), badger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}

// InMemory has no value log, so it cannot hold the suite's 1 MiB value;
// it must refuse it clearly (Badger itself would panic at commit).
func TestInMemory(t *testing.T) {
	e, err := badger.Open("", badger.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	err = e.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("big"), make([]byte, 1<<20)) })
	if !fserr.Is(fserr.TooBig, err) {
		t.Fatalf("1 MiB value in memory = %v, want kind TooBig", err)
	}
	err = e.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("ok"), make([]byte, 1<<20-1)) })
	if err != nil {
		t.Fatal(err)
	}
	err = e.View(ctx, func(r kv.ReadTxn) error {
		v, err := r.Get([]byte("ok"))
		if err == nil && len(v) != 1<<20-1 {
			t.Errorf("len = %d", len(v))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	e, err := badger.Open(dir, badger.Options{SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(); !fserr.Is(fserr.Closed, err) {
		t.Errorf("Sync after Close = %v, want kind Closed", err)
	}
	e, err = badger.Open(dir, badger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = e.View(ctx, func(r kv.ReadTxn) error {
		v, err := r.Get([]byte("k"))
		if err == nil && string(v) != "v" {
			t.Errorf("after reopen k = %q", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLockedDirIsBusy(t *testing.T) {
	dir := t.TempDir()
	e, err := badger.Open(dir, badger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = badger.Open(dir, badger.Options{})
	if !fserr.Is(fserr.Busy, err) || !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("second Open = %v, want kind Busy", err)
	}
}

func TestTxnTooBig(t *testing.T) {
	e, err := badger.Open("", badger.Options{InMemory: true, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	val := bytes.Repeat([]byte("x"), 1000)
	err = e.Update(context.Background(), func(tx kv.Txn) error {
		for i := range 10000 {
			if err := tx.Put([]byte("k"+strconv.Itoa(i)), val); err != nil {
				return err
			}
		}
		return nil
	})
	if !fserr.Is(fserr.TooBig, err) {
		t.Fatalf("huge txn = %v, want kind TooBig", err)
	}
	t.Log(err)
}

func TestInvalidKey(t *testing.T) {
	e, err := badger.Open("", badger.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = e.Update(context.Background(), func(tx kv.Txn) error { return tx.Put(nil, []byte("v")) })
	if !fserr.Is(fserr.Invalid, err) {
		t.Fatalf("empty key = %v, want kind Invalid", err)
	}
}
