package meta_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/etcd"
	"github.com/shoalfs/shoal/internal/kv/postgres"
	"github.com/shoalfs/shoal/internal/meta/metatest"
	etcdserver "github.com/shoalfs/shoal/internal/testserver/etcd"
	"github.com/shoalfs/shoal/internal/testserver/pg"
)

// The suite on the distributed engines, each a real server started here:
// one server per engine, a fresh prefix or table per test.

func TestSuiteEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	endpoints := etcdserver.Start(t)
	var n atomic.Int64
	metatest.RunSuite(t, func(t testing.TB) kv.Engine {
		e, err := etcd.Open(context.Background(), endpoints, fmt.Sprintf("meta/%d/", n.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	})
}

func TestSuitePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	srv := pg.Start(t)
	var n atomic.Int64
	metatest.RunSuite(t, func(t testing.TB) kv.Engine {
		e, err := postgres.Open(context.Background(), srv.URL(""), postgres.Options{Table: fmt.Sprintf("meta_%d", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	})
}
