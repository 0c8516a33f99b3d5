// Package postgres is the kv.Engine over a PostgreSQL database (through
// pgx), for Shoal deployments that keep metadata in a database they
// already run.
//
// The engine owns one table (default "shoal_kv", created on Open) of
// (k bytea primary key, v bytea): bytea compares as raw bytes, so the
// primary key's index gives kv's key order and a Scan is one index range
// read. Several filesystems, and other Shoal processes, share a table.
//
// Update runs at isolation level SERIALIZABLE, so PostgreSQL's own
// serializable snapshot isolation decides conflicts, phantoms included;
// a transaction it aborts (SQLSTATE 40001, or a deadlock, 40P01) is run
// again through kv.Retry like a conflict on every other engine. View
// runs REPEATABLE READ READ ONLY: one snapshot, never blocked, never
// aborted.
//
// Round trips: writes are buffered and sent with the next read or with
// COMMIT, in one pipelined batch, and BEGIN travels with the first
// statement, so a transaction costs one round trip per read plus one for
// the commit. A commit whose outcome is unknown (the connection broke,
// or ctx ended after COMMIT was sent) is an error of kind IO, never a
// bare context error, and is not retried: it may have been applied.
//
// Durability is the server's: a COMMIT that returned is durable as far
// as the server's synchronous_commit promises, so the engine has no Sync.
// Limits: a key must fit a btree index entry (about 2.7 KB); a longer
// one fails with kind TooBig.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

var (
	errClosed  = errors.New("kv/postgres: engine closed")
	errTxnDone = errors.New("kv/postgres: transaction used after its function returned")
)

// DefaultTable is the table an engine uses when Options.Table is empty.
const DefaultTable = "shoal_kv"

// Options configures Open. The zero value works.
type Options struct {
	// Table is the table holding the keys (default DefaultTable): a
	// lower-case SQL identifier, optionally schema-qualified.
	Table string
}

var tableName = regexp.MustCompile(`^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$`)

// Engine is a PostgreSQL-backed kv.Engine.
type Engine struct {
	pool  *pgxpool.Pool
	table string
	sql   statements

	mu struct {
		sync.Mutex
		closed bool
	}
}

var _ kv.Engine = (*Engine)(nil)

// statements are the engine's SQL, built once for its table.
type statements struct {
	get, getMany, put, del string
}

// Open connects to the database named by url (a libpq URL or keyword
// string, as pgx parses it: pool_max_conns and the other pgxpool
// settings work), checks that it answers and creates the table if
// missing.
func Open(ctx context.Context, url string, o Options) (*Engine, error) {
	const op = "kv/postgres.Open"
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if !tableName.MatchString(o.Table) {
		return nil, fserr.Errorf(op, fserr.Invalid, "kv/postgres: table %q: want a lower-case SQL identifier ([a-z_][a-z0-9_]*, optionally schema.name)", o.Table)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fserr.E(op, fserr.Invalid, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fserr.E(op, fserr.IO, err)
	}
	e := &Engine{pool: pool, table: o.Table}
	t := o.Table
	e.sql = statements{
		get:     "SELECT v FROM " + t + " WHERE k = $1",
		getMany: "SELECT k, v FROM " + t + " WHERE k = ANY($1::bytea[])",
		put:     "INSERT INTO " + t + " (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
		del:     "DELETE FROM " + t + " WHERE k = $1",
	}
	if err := e.createTable(ctx); err != nil {
		pool.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fserr.E(op, cfg.ConnConfig.Host, fserr.IO, err)
	}
	return e, nil
}

func (e *Engine) createTable(ctx context.Context) error {
	create := "CREATE TABLE IF NOT EXISTS " + e.table + " (k bytea PRIMARY KEY, v bytea NOT NULL)"
	var err error
	for range 3 {
		// Two processes creating the table at once: one of them loses
		// on the catalog's unique index even with IF NOT EXISTS, and the
		// next attempt finds the table.
		if _, err = e.pool.Exec(ctx, create); err == nil || !isCode(err, "23505", "42P07") {
			return err
		}
	}
	return err
}

// Close closes the connections. Further calls fail.
func (e *Engine) Close() error {
	const op = "kv/postgres.Close"
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closed {
		return fserr.E(op, fserr.Closed, errClosed)
	}
	e.mu.closed = true
	e.pool.Close()
	return nil
}

func (e *Engine) closed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mu.closed
}

// retryBase starts the conflict backoff near one round trip to a server.
const retryBase = time.Millisecond

// Update runs fn in a SERIALIZABLE transaction, retrying serialization
// failures.
func (e *Engine) Update(ctx context.Context, fn func(kv.Txn) error) error {
	const op = "kv/postgres.Update"
	return kv.Retry(ctx, op, retryBase, func() error {
		return e.run(ctx, op, true, func(t *txn) error { return fn(t) })
	})
}

// View runs fn on one REPEATABLE READ snapshot.
func (e *Engine) View(ctx context.Context, fn func(kv.ReadTxn) error) error {
	const op = "kv/postgres.View"
	return e.run(ctx, op, false, func(t *txn) error { return fn(t) })
}

func (e *Engine) run(ctx context.Context, op string, update bool, fn func(*txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.closed() {
		return fserr.E(op, fserr.Closed, errClosed)
	}
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return e.mapErr(ctx, op, "", err)
	}
	// Release discards a connection left inside a transaction or broken,
	// so every exit below may simply release it.
	defer conn.Release()
	t := &txn{e: e, ctx: ctx, conn: conn.Conn(), update: update}
	if update {
		t.begin = "BEGIN ISOLATION LEVEL SERIALIZABLE"
	} else {
		t.begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	}
	ferr := fn(t)
	t.done = true
	if t.failed != nil {
		// A statement failed, and with it the transaction (PostgreSQL
		// rejects everything after). A serialization failure is a
		// conflict whatever fn made of it.
		t.rollback()
		if errors.Is(t.failed, kv.ErrConflict) {
			return kv.ErrConflict
		}
		if ferr != nil {
			return ferr
		}
		return t.failed
	}
	if ferr != nil {
		t.rollback()
		return ferr
	}
	if err := ctx.Err(); err != nil {
		t.rollback()
		return err
	}
	if !t.begun && len(t.writes) == 0 {
		return nil
	}
	// The buffered writes and COMMIT in one batch.
	if err := t.send("COMMIT", nil, nil); err != nil {
		t.rollback()
		if errors.Is(err, kv.ErrConflict) {
			return kv.ErrConflict
		}
		if outcomeUnknown(t.sendErr) {
			// Checked before mapErr's verdict: a COMMIT on the wire
			// when ctx ended (or the connection broke) may be applied
			// by the server all the same, and a bare context error
			// reads as "nothing happened". The cause is kept as text
			// only, so errors.Is(err, context.Canceled) is false and
			// the errno is EIO, not EINTR.
			return fserr.E(op, fserr.IO, fmt.Errorf("kv/postgres: COMMIT sent but not answered (outcome unknown: it may have been applied): %v", t.sendErr))
		}
		return err
	}
	return nil
}

// outcomeUnknown reports whether a failed COMMIT batch may have been
// applied: the server's answer was lost (no error from the server, and
// pgx cannot promise nothing was sent), or the server died answering
// (FATAL, PANIC). A server ERROR aborted the transaction: not applied.
func outcomeUnknown(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Severity == "FATAL" || pe.Severity == "PANIC"
	}
	return !pgconn.SafeToRetry(err)
}

// txn is one attempt of a transaction, on one connection.
type txn struct {
	e       *Engine
	ctx     context.Context
	conn    *pgx.Conn
	update  bool
	begin   string // the BEGIN statement, sent with the first batch
	begun   bool
	done    bool
	failed  error // the first failed statement's error: the transaction is dead
	sendErr error // failed's cause as pgx returned it, before mapErr

	writes []write // buffered, in order, sent with the next statement
}

type write struct {
	key, value []byte // nil value: delete
}

func (t *txn) check(op string) error {
	if t.done {
		return fserr.E(op, fserr.Closed, errTxnDone)
	}
	if t.failed != nil {
		return t.failed
	}
	if t.e.closed() {
		return fserr.E(op, fserr.Closed, errClosed)
	}
	return nil
}

// send runs sql with args as one batch behind BEGIN (first time) and the
// buffered writes, and hands its rows to scan (nil: no rows wanted).
func (t *txn) send(sql string, args []any, scan func(pgx.Rows) error) error {
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue(t.begin)
	}
	for _, w := range t.writes {
		if w.value == nil {
			b.Queue(t.e.sql.del, w.key)
		} else {
			b.Queue(t.e.sql.put, w.key, w.value)
		}
	}
	t.writes = t.writes[:0]
	n := b.Len()
	b.Queue(sql, args...)
	br := t.conn.SendBatch(t.ctx, b)
	t.begun = true
	err := func() error {
		for range n {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if scan == nil {
			_, err := br.Exec()
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := scan(rows); err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.sendErr = err
		t.failed = t.e.mapErr(t.ctx, "kv/postgres", "", err)
		return t.failed
	}
	return nil
}

// rollback ends a transaction that will not commit. A connection it
// cannot roll back is broken, and Release drops it.
func (t *txn) rollback() {
	if !t.begun || t.conn.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 5*time.Second)
	defer cancel()
	if _, err := t.conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.conn.Close(ctx)
	}
}

func (t *txn) Get(key []byte) ([]byte, error) {
	const op = "kv/postgres.Get"
	if err := t.check(op); err != nil {
		return nil, err
	}
	var v []byte
	found := false
	err := t.send(t.e.sql.get, []any{key}, func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&v); err != nil {
				return err
			}
			found = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, kv.ErrNotFound
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (t *txn) GetMany(keys [][]byte) ([][]byte, error) {
	const op = "kv/postgres.GetMany"
	if err := t.check(op); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	idx := make(map[string][]int, len(keys))
	for i, k := range keys {
		idx[string(k)] = append(idx[string(k)], i)
	}
	err := t.send(t.e.sql.getMany, []any{keys}, func(rows pgx.Rows) error {
		for rows.Next() {
			var k, v []byte
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			if v == nil {
				v = []byte{}
			}
			for n, i := range idx[string(k)] {
				if n > 0 {
					v = append([]byte{}, v...)
				}
				out[i] = v
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (t *txn) Scan(start, end []byte, limit int, reverse bool) ([]kv.Pair, error) {
	const op = "kv/postgres.Scan"
	if err := t.check(op); err != nil {
		return nil, err
	}
	if end != nil && string(start) >= string(end) {
		return nil, nil
	}
	var q strings.Builder
	q.WriteString("SELECT k, v FROM " + t.e.table + " WHERE k >= $1")
	args := []any{nonNil(start)}
	if end != nil {
		args = append(args, end)
		q.WriteString(" AND k < $2")
	}
	if reverse {
		q.WriteString(" ORDER BY k DESC")
	} else {
		q.WriteString(" ORDER BY k")
	}
	if limit > 0 {
		args = append(args, limit)
		fmt.Fprintf(&q, " LIMIT $%d", len(args))
	}
	var out []kv.Pair
	err := t.send(q.String(), args, func(rows pgx.Rows) error {
		for rows.Next() {
			var p kv.Pair
			if err := rows.Scan(&p.Key, &p.Value); err != nil {
				return err
			}
			if p.Value == nil {
				p.Value = []byte{}
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// nonNil makes a nil start the empty bytea rather than SQL NULL, which
// would compare as unknown and match nothing.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (t *txn) Put(key, value []byte) error {
	const op = "kv/postgres.Put"
	if err := t.check(op); err != nil {
		return err
	}
	if !t.update {
		return fserr.Errorf(op, fserr.ReadOnly, "kv/postgres: put in a read-only transaction")
	}
	t.writes = append(t.writes, write{key: append([]byte{}, key...), value: append([]byte{}, value...)})
	return nil
}

func (t *txn) Delete(key []byte) error {
	const op = "kv/postgres.Delete"
	if err := t.check(op); err != nil {
		return err
	}
	if !t.update {
		return fserr.Errorf(op, fserr.ReadOnly, "kv/postgres: delete in a read-only transaction")
	}
	t.writes = append(t.writes, write{key: append([]byte{}, key...)})
	return nil
}

func isCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}

// mapErr classifies a pgx error.
func (e *Engine) mapErr(ctx context.Context, op, key string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40001" || pe.Code == "40P01": // serialization failure, deadlock
			return kv.ErrConflict
		case pe.Code == "54000": // program limit exceeded: index row too large
			return fserr.E(op, key, fserr.TooBig, fmt.Errorf("kv/postgres: %w", err))
		}
	}
	if e.closed() {
		return fserr.E(op, key, fserr.Closed, errClosed)
	}
	return fserr.E(op, key, fserr.IO, err)
}
