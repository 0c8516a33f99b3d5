package storage_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/storage"
	etcdserver "github.com/shoalfs/shoal/internal/testserver/etcd"
	"github.com/shoalfs/shoal/internal/testserver/pg"
)

// Copy moves every pair, in batches small enough for etcd's default
// limits, verifies the copy, and refuses a destination that holds data.
func TestCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and PostgreSQL")
	}
	ctx := context.Background()
	src, err := storage.OpenEngine(ctx, "badger://"+t.TempDir(), storage.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	err = src.KV.Update(ctx, func(tx kv.Txn) error {
		for i := range 1000 {
			v := []byte(fmt.Sprint(i))
			if i%100 == 7 {
				v = bytes.Repeat([]byte{byte(i)}, 400<<10) // batches split by bytes too
			}
			if err := tx.Put(fmt.Appendf(nil, "k%05d", i), v); err != nil {
				return err
			}
		}
		return tx.Put([]byte{0, 0xff}, []byte{}) // binary key, empty value
	})
	if err != nil {
		t.Fatal(err)
	}
	want, err := storage.Digest(ctx, src.KV)
	if err != nil || want.Keys != 1001 {
		t.Fatalf("source digest %+v, %v", want, err)
	}
	dsts := map[string]string{
		"etcd":     "etcd://" + strings.TrimPrefix(etcdserver.Start(t)[0], "http://") + "/copy",
		"postgres": pg.Start(t).URL("") + "&table=copy",
	}
	for name, u := range dsts {
		t.Run(name, func(t *testing.T) {
			dst, err := storage.OpenEngine(ctx, u, storage.EngineOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			batches := 0
			got, err := storage.Copy(ctx, dst.KV, src.KV, func(storage.CopyStats) { batches++ })
			if err != nil {
				t.Fatal(err)
			}
			if got != want || batches < 11 {
				t.Fatalf("copied %+v in %d batches, want %+v in at least 11", got, batches, want)
			}
			if _, err := storage.Copy(ctx, dst.KV, src.KV, nil); !fserr.Is(fserr.Exist, err) {
				t.Fatalf("copy into a non-empty engine: %v, want kind Exist", err)
			}
		})
	}
}

// A source written to during the copy (a server left running on an etcd
// or PostgreSQL source, which cannot be locked) fails the copy, kind
// Busy, rather than passing the read-back check with a torn copy.
func TestCopySourceChanged(t *testing.T) {
	ctx := context.Background()
	open := func() *storage.Engine {
		e, err := storage.OpenEngine(ctx, "badger://"+t.TempDir(), storage.EngineOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	src, dst := open(), open()
	err := src.KV.Update(ctx, func(tx kv.Txn) error {
		for i := range 300 {
			if err := tx.Put(fmt.Appendf(nil, "k%05d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	writes := 0
	_, err = storage.Copy(ctx, dst.KV, src.KV, func(storage.CopyStats) {
		// A write behind the copy's position (the first batch is copied),
		// as a running server's would be.
		writes++
		if err := src.KV.Update(ctx, func(tx kv.Txn) error { return tx.Put(fmt.Appendf(nil, "a%05d", writes), []byte("late")) }); err != nil {
			t.Error(err)
		}
	})
	if !fserr.Is(fserr.Busy, err) {
		t.Fatalf("copy of a source written to meanwhile: %v, want kind Busy", err)
	}
}
