package badger

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/shoalfs/shoal/internal/kv"
)

// BenchmarkParallelUpdate measures small independent transactions from
// several goroutines, the shape of metadata creates.
func BenchmarkParallelUpdate(b *testing.B) {
	e, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	var n atomic.Uint64
	ctx := context.Background()
	b.SetParallelism(2) // 2 x GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			var k [9]byte
			k[0] = 'k'
			binary.BigEndian.PutUint64(k[1:], i)
			err := e.Update(ctx, func(tx kv.Txn) error {
				if _, err := tx.Get(k[:]); err != kv.ErrNotFound {
					return err
				}
				for j := byte(0); j < 4; j++ {
					k2 := append([]byte{j}, k[:]...)
					if err := tx.Put(k2, make([]byte, 64)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkParallelGet(b *testing.B) {
	e, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	_ = e.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("key"), make([]byte, 72)) })
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			err := e.View(ctx, func(tx kv.ReadTxn) error {
				for j := 0; j < 4; j++ {
					if _, err := tx.Get([]byte("key")); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
