// Package kv is the seam between Shoal's metadata and the transactional,
// ordered key-value engines that store it (Badger embedded by default, etcd,
// PostgreSQL, an in-memory engine for tests).
//
// Every metadata operation is one transaction. Update runs fn in a
// read-write transaction and commits it; if the commit conflicts with a
// concurrent transaction it runs fn again on a fresh snapshot, so fn must
// have no effects outside the transaction (it may be called several times).
// Transactions are serializable: a transaction that read a key which another
// transaction committed a change to after the read began does not commit.
//
// Keys are compared as raw bytes. Values returned by a transaction are
// owned by the caller only until fn returns unless copied; implementations
// return copies, so callers may keep them.
package kv

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
)

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("kv: key not found")

// ErrConflict is returned by an implementation's single commit attempt when
// a concurrent transaction invalidated what this one read. Update retries
// it; callers see it only when retries run out (wrapped, kind Conflict).
var ErrConflict = errors.New("kv: transaction conflict")

// Pair is one key and its value, as returned by Scan.
type Pair struct {
	Key   []byte
	Value []byte
}

// ReadTxn reads a consistent snapshot.
type ReadTxn interface {
	// Get returns the value of key, or ErrNotFound. A stored empty value is
	// returned as a non-nil empty slice.
	Get(key []byte) ([]byte, error)
	// GetMany returns the values of keys in the same order; a missing key
	// gives a nil entry, a stored empty value a non-nil empty slice.
	GetMany(keys [][]byte) ([][]byte, error)
	// Scan returns the pairs with start <= key < end in key order (or in
	// reverse order when reverse is set), at most limit of them when
	// limit > 0. A nil end means no upper bound.
	Scan(start, end []byte, limit int, reverse bool) ([]Pair, error)
}

// Txn is a read-write transaction. Its reads see its own writes.
type Txn interface {
	ReadTxn
	Put(key, value []byte) error
	Delete(key []byte) error
}

// Engine is a transactional ordered key-value engine.
type Engine interface {
	// Update runs fn in a read-write transaction and commits it, retrying
	// on conflict. An error from fn aborts the transaction and is returned
	// unchanged. A cancelled ctx stops retries and returns ctx.Err().
	Update(ctx context.Context, fn func(Txn) error) error
	// View runs fn in a read-only snapshot transaction.
	View(ctx context.Context, fn func(ReadTxn) error) error
	// Close releases the engine. Further calls fail.
	Close() error
}

// Syncer is implemented by engines that can make everything committed so
// far durable against power loss (not only process death) on demand.
type Syncer interface {
	Sync() error
}

// PrefixEnd returns the smallest key greater than every key that starts
// with prefix, for use as Scan's end bound; nil if there is none.
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// Retry policy shared by the implementations' Update loops.
const (
	// MaxRetries bounds how many times Update re-runs a conflicting
	// transaction before giving up with ErrConflict.
	MaxRetries = 100
	retryBase  = 50 * time.Microsecond
	retryMax   = 20 * time.Millisecond
)

// Backoff returns how long to wait before attempt n (0-based) of a
// conflicting transaction: exponential from base with full jitter from the
// caller's random source, capped so a hot key stays live. A zero base
// means the default, sized for an in-process engine; a networked engine
// passes about one round trip so contenders do not retry in step.
func Backoff(n int, base time.Duration, rand func(int64) int64) time.Duration {
	if base <= 0 {
		base = retryBase
	}
	d := base << min(n, 10)
	if d > retryMax || d <= 0 {
		d = max(retryMax, base)
	}
	return time.Duration(rand(int64(d)) + 1)
}

// Retry is the Update loop every engine shares: it calls try until it
// returns something other than ErrConflict, backing off between attempts,
// and gives up after MaxRetries with an error of kind Conflict (which
// still matches ErrConflict). A cancelled ctx ends it with ctx.Err().
func Retry(ctx context.Context, op string, base time.Duration, try func() error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := try()
		if !errors.Is(err, ErrConflict) {
			return err
		}
		if attempt+1 >= MaxRetries {
			return fserr.E(op, fserr.Conflict, ErrConflict)
		}
		timer := time.NewTimer(Backoff(attempt, base, rand.Int64N))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}
