package etcd_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/etcd"
	"github.com/shoalfs/shoal/internal/kv/etcd/etcdtest"
	"github.com/shoalfs/shoal/internal/kv/kvtest"
)

func TestEtcd(t *testing.T) {
	endpoints := etcdtest.Start(t)
	var n atomic.Int64
	open := func(t *testing.T) kv.Engine {
		// One server, a fresh prefix per subtest: this also checks that
		// prefixes keep users apart.
		e, err := etcd.Open(context.Background(), endpoints, fmt.Sprintf("test/%d/", n.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	// Every increment is two round trips to a server in this process and
	// 16 contenders mostly conflict (4-7 attempts per increment): 16 x
	// 1,000 took 10-40 s on 2 shared cores and over a minute under -race,
	// so etcd runs fewer increments with the same contention.
	opts := []kvtest.Option{kvtest.Increments(16, 300)}
	if raceEnabled {
		opts = []kvtest.Option{kvtest.Increments(16, 50)}
	}
	t.Run("Conformance", func(t *testing.T) { kvtest.Run(t, open, opts...) })
	t.Run("EmptyPrefix", func(t *testing.T) { testEmptyPrefix(t, endpoints) })
	t.Run("TooBig", func(t *testing.T) { testTooBig(t, open(t)) })
}

// testEmptyPrefix runs the engine over the whole keyspace through New,
// next to keys another user stored under a prefix.
func testEmptyPrefix(t *testing.T, endpoints []string) {
	ctx := context.Background()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Delete(ctx, "\x00", clientv3.WithFromKey()); err != nil {
		t.Fatal(err)
	}
	other := etcd.New(cli, "other/")
	whole := etcd.New(cli, "")
	if err := other.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("k"), []byte("o")) }); err != nil {
		t.Fatal(err)
	}
	err = whole.Update(ctx, func(tx kv.Txn) error {
		tx.Put([]byte("\x00"), []byte("lowest"))
		return tx.Put([]byte("\xff\xff"), []byte("highest"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = whole.View(ctx, func(r kv.ReadTxn) error {
		ps, err := r.Scan(nil, nil, 0, false)
		if err != nil {
			return err
		}
		var keys []string
		for _, p := range ps {
			keys = append(keys, string(p.Key))
		}
		if want := []string{"\x00", "other/k", "\xff\xff"}; fmt.Sprint(keys) != fmt.Sprint(want) {
			t.Errorf("whole keyspace = %q, want %q", keys, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := whole.Close(); err != nil {
		t.Fatal(err)
	}
	// The client was not the engine's to close.
	if err := other.View(ctx, func(r kv.ReadTxn) error { _, err := r.Get([]byte("k")); return err }); err != nil {
		t.Errorf("client unusable after closing an engine made by New: %v", err)
	}
}

func testTooBig(t *testing.T, e kv.Engine) {
	defer e.Close()
	ctx := context.Background()
	err := e.Update(ctx, func(tx kv.Txn) error {
		for i := range etcdtest.MaxTxnOps + 1 {
			tx.Put([]byte("k"+strconv.Itoa(i)), nil)
		}
		return nil
	})
	if !fserr.Is(fserr.TooBig, err) {
		t.Errorf("txn over --max-txn-ops = %v, want kind TooBig", err)
	}
	big := bytes.Repeat([]byte("x"), 1<<20)
	err = e.Update(ctx, func(tx kv.Txn) error {
		tx.Put([]byte("a"), big)
		return tx.Put([]byte("b"), big)
	})
	if !fserr.Is(fserr.TooBig, err) {
		t.Errorf("txn over --max-request-bytes = %v, want kind TooBig", err)
	}
	t.Log(err)
}
