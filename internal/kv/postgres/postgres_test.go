package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	t.Run("CommitCanceledOutcomeUnknown", func(t *testing.T) {
		// A COMMIT already on the wire when ctx ends may still be
		// applied by the server: the error must be kind IO (outcome
		// unknown, retry under the request id), not the bare
		// cancellation a caller takes for "nothing happened".
		table := fmt.Sprintf("kv_%d", n.Add(1))
		e, err := postgres.Open(context.Background(), srv.URL(""), postgres.Options{Table: table})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		// A synchronous standby that never comes holds every COMMIT
		// after it is durable locally: cancelling then leaves it
		// applied (PostgreSQL warns "the transaction has already
		// committed locally") while the client has given up on the
		// answer. The same happens without a standby whenever ctx ends
		// between the server's commit and its answer.
		c, err := pgx.Connect(context.Background(), srv.URL(""))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		exec := func(q string) {
			t.Helper()
			if _, err := c.Exec(context.Background(), q); err != nil {
				t.Fatal(err)
			}
		}
		exec(`SET synchronous_commit = local`)
		exec(`ALTER SYSTEM SET synchronous_standby_names = 'nobody'`)
		exec(`SELECT pg_reload_conf()`)
		defer func() {
			exec(`ALTER SYSTEM RESET synchronous_standby_names`)
			exec(`SELECT pg_reload_conf()`)
		}()
		for i := 0; ; i++ {
			var v string
			if err := c.QueryRow(context.Background(), `SHOW synchronous_standby_names`).Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v == "nobody" {
				break
			}
			if i == 100 {
				t.Fatal("synchronous_standby_names not reloaded")
			}
			time.Sleep(20 * time.Millisecond)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		err = e.Update(ctx, func(tx kv.Txn) error { return tx.Put([]byte("k"), []byte("v")) })
		if !fserr.Is(fserr.IO, err) || errors.Is(err, context.Canceled) {
			t.Fatalf("commit canceled in flight = %v, want kind IO (outcome unknown), not context.Canceled", err)
		}
		// And it was in fact applied: the reason the caller must not
		// take it for a failure.
		deadline := time.Now().Add(10 * time.Second)
		for {
			var got int
			if err := c.QueryRow(context.Background(), `SELECT count(*) FROM `+table+` WHERE k = 'k'`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the canceled commit never landed (the test's premise)")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// A context ended before COMMIT is sent stays a cancellation.
		ctx, cancel = context.WithCancel(context.Background())
		err = e.Update(ctx, func(tx kv.Txn) error { cancel(); return tx.Put([]byte("k2"), []byte("v")) })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled before COMMIT = %v, want context.Canceled", err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		_, err := postgres.Open(context.Background(), "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2", postgres.Options{})
		if !fserr.Is(fserr.IO, err) {
			t.Fatalf("unreachable server = %v, want kind IO", err)
		}
	})
}
