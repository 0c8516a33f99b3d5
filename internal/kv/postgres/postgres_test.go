package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/kvtest"
	"github.com/shoalfs/shoal/internal/kv/postgres"
	"github.com/shoalfs/shoal/internal/testserver/pg"
)

func TestPostgres(t *testing.T) {
	srv := pg.Start(t)
	var n atomic.Int64
	open := func(t *testing.T) kv.Engine {
		// One server, a table per subtest: fresh and empty.
		e, err := postgres.Open(context.Background(), srv.URL(""), postgres.Options{Table: fmt.Sprintf("kv_%d", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	// The default lost-update load (16 x 1,000 increments of one key, a
	// fifth of them aborted and retried) takes about 2 s; the race
	// detector slows the client side several times over.
	var opts []kvtest.Option
	if raceEnabled {
		opts = []kvtest.Option{kvtest.Increments(16, 150)}
	}
	t.Run("Conformance", func(t *testing.T) { kvtest.Run(t, open, opts...) })
	t.Run("SharedTable", func(t *testing.T) {
		// Two engines on one table see each other's commits: the
		// deployment of several meta processes on one database.
		a, b := open(t), (kv.Engine)(nil)
		defer a.Close()
		b, err := postgres.Open(context.Background(), srv.URL(""), postgres.Options{Table: fmt.Sprintf("kv_%d", n.Load())})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx := context.Background()
		if err := a.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("k"), []byte("v")) }); err != nil {
			t.Fatal(err)
		}
		err = b.View(ctx, func(r kv.ReadTxn) error {
			v, err := r.Get([]byte("k"))
			if err == nil && string(v) != "v" {
				t.Errorf("got %q", v)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("BadTable", func(t *testing.T) {
		_, err := postgres.Open(context.Background(), srv.URL(""), postgres.Options{Table: "x; DROP TABLE y"})
		if !fserr.Is(fserr.Invalid, err) {
			t.Fatalf("bad table name = %v, want kind Invalid", err)
		}
	})
	t.Run("LongKey", func(t *testing.T) {
		e := open(t)
		defer e.Close()
		err := e.Update(context.Background(), func(tx kv.Txn) error {
			return tx.Put([]byte(strings.Repeat("k", 1<<20)), []byte("v"))
		})
		if !fserr.Is(fserr.TooBig, err) {
			t.Fatalf("1 MiB key = %v, want kind TooBig", err)
		}
	})
	t.Run("ServerRestart", func(t *testing.T) {
		// A crashed server is an IO error, not a hang nor a silent
		// retry; once it is back the same engine works again.
		e := open(t)
		defer e.Close()
		ctx := context.Background()
		put := func() error {
			return e.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("k"), []byte("v")) })
		}
		if err := put(); err != nil {
			t.Fatal(err)
		}
		srv.Stop(t)
		if err := put(); !fserr.Is(fserr.IO, err) {
			t.Errorf("put with the server down: %v, want kind IO", err)
		}
		srv.Restart(t)
		if err := put(); err != nil {
			t.Fatalf("put after restart: %v", err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		_, err := postgres.Open(context.Background(), "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2", postgres.Options{})
		if !fserr.Is(fserr.IO, err) {
			t.Fatalf("unreachable server = %v, want kind IO", err)
		}
	})
}
