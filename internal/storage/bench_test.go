package storage_test

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/storage"
	etcdserver "github.com/shoalfs/shoal/internal/testserver/etcd"
	"github.com/shoalfs/shoal/internal/testserver/pg"
)

// BenchmarkTxn is each engine's raw limit for what a create does: one
// read-write transaction that reads a key and writes two (Create), and
// one read-only transaction reading one key (Stat), from 4 goroutines on
// keys of their own, so nothing conflicts. Opened by URL, as a server
// opens them.
//
//	go test -run '^$' -bench Txn ./internal/storage
func BenchmarkTxn(b *testing.B) {
	urls := map[string]func(b *testing.B) string{
		"badger": func(b *testing.B) string { return "badger://" + b.TempDir() },
		"etcd": func(b *testing.B) string {
			return "etcd://" + strings.TrimPrefix(etcdserver.Start(b)[0], "http://") + "/bench"
		},
		"postgres": func(b *testing.B) string { return pg.Start(b).URL("") + "&table=bench" },
	}
	for _, name := range []string{"badger", "etcd", "postgres"} {
		b.Run(name, func(b *testing.B) {
			e, err := storage.OpenEngine(context.Background(), urls[name](b), storage.EngineOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			b.Run("Create", func(b *testing.B) { benchTxn(b, e.KV, false) })
			b.Run("Stat", func(b *testing.B) { benchTxn(b, e.KV, true) })
		})
	}
}

func benchTxn(b *testing.B, e kv.Engine, readOnly bool) {
	ctx := context.Background()
	var seq atomic.Uint64
	val := make([]byte, 64)
	b.SetParallelism(4) // 4 x GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := func(p byte, n uint64) []byte {
			k := []byte{p, 0, 0, 0, 0, 0, 0, 0, 0}
			binary.BigEndian.PutUint64(k[1:], n)
			return k
		}
		for pb.Next() {
			n := seq.Add(1)
			var err error
			if readOnly {
				err = e.View(ctx, func(r kv.ReadTxn) error {
					_, err := r.Get(key('I', n))
					if errors.Is(err, kv.ErrNotFound) {
						err = nil
					}
					return err
				})
			} else {
				err = e.Update(ctx, func(tx kv.Txn) error {
					if _, err := tx.Get(key('D', n)); !errors.Is(err, kv.ErrNotFound) {
						return err
					}
					if err := tx.Put(key('D', n), val); err != nil {
						return err
					}
					return tx.Put(key('I', n), val)
				})
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
