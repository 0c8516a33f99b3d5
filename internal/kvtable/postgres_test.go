package kvtable_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/postgres"
	"github.com/shoalfs/shoal/internal/testserver/pg"
)

func TestPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	srv := pg.Start(t)
	var n atomic.Int64
	open := func(t testing.TB) kv.Engine {
		e, err := postgres.Open(context.Background(), srv.URL(""), postgres.Options{Table: fmt.Sprintf("kvtable_%d", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	sc := scale{16, 50}
	if raceEnabled {
		sc = scale{16, 15}
	}
	runSuite(t, open, sc)
}
