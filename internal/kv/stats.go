package kv

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Outcome classifies how a transaction ended, for an engine's Stats.
type Outcome int

// Outcomes, in the order of TxnCounts.
const (
	// Committed: Update committed (or View read) without error.
	Committed Outcome = iota
	// Aborted: fn returned an error (the caller's decision, such as a
	// missing file), so nothing was committed.
	Aborted
	// Conflicted: Update gave up after MaxRetries conflicting attempts.
	Conflicted
	// Canceled: the context ended the transaction.
	Canceled
	// Failed: the engine failed (closed, I/O, a value too large...).
	Failed
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"committed", "aborted", "conflict", "canceled", "failed"}

// String is the outcome's name, the value of the metrics' outcome label.
func (o Outcome) String() string {
	if o >= 0 && o < numOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// Outcomes lists every Outcome.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// TxnCounts counts transactions by Outcome.
type TxnCounts [numOutcomes]int64

// Stats are an engine's transaction counters since it opened.
type Stats struct {
	Updates TxnCounts // read-write transactions (Update calls)
	Views   TxnCounts // read-only transactions (View calls)
	// ConflictRetries counts attempts of Update calls run again because
	// their commit conflicted (an Update that committed on its third
	// attempt adds 2).
	ConflictRetries int64
	// UpdateSeconds and ViewSeconds are the summed wall time of the
	// calls, retries and backoff included.
	UpdateSeconds, ViewSeconds float64
}

// Counters keep an engine's Stats. An engine embeds one and routes its
// Update and View through CountUpdate and CountView. The zero value is
// ready; its methods are safe for concurrent use.
type Counters struct {
	updates, views   [numOutcomes]atomic.Int64
	retries          atomic.Int64
	updateNs, viewNs atomic.Int64
}

// Stats returns the counts so far.
func (c *Counters) Stats() Stats {
	var s Stats
	for i := range s.Updates {
		s.Updates[i] = c.updates[i].Load()
		s.Views[i] = c.views[i].Load()
	}
	s.ConflictRetries = c.retries.Load()
	s.UpdateSeconds = float64(c.updateNs.Load()) / 1e9
	s.ViewSeconds = float64(c.viewNs.Load()) / 1e9
	return s
}

// CountUpdate runs an Update through Retry as the engines do (try makes
// one attempt at the fn it is given) and counts it.
func (c *Counters) CountUpdate(ctx context.Context, op string, base time.Duration, fn func(Txn) error, try func(fn func(Txn) error) error) error {
	start := time.Now()
	var fnErr error
	wrapped := func(t Txn) error {
		fnErr = fn(t)
		return fnErr
	}
	attempts := 0
	err := Retry(ctx, op, base, func() error {
		attempts++
		fnErr = nil
		return try(wrapped)
	})
	if attempts > 1 {
		c.retries.Add(int64(attempts - 1))
	}
	c.updates[classify(ctx, err, fnErr)].Add(1)
	c.updateNs.Add(int64(time.Since(start)))
	return err
}

// CountView runs a View (view calls the fn it is given in a snapshot) and
// counts it.
func (c *Counters) CountView(ctx context.Context, fn func(ReadTxn) error, view func(fn func(ReadTxn) error) error) error {
	start := time.Now()
	var fnErr error
	err := view(func(t ReadTxn) error {
		fnErr = fn(t)
		return fnErr
	})
	c.views[classify(ctx, err, fnErr)].Add(1)
	c.viewNs.Add(int64(time.Since(start)))
	return err
}

// classify names the outcome of a transaction that returned err after its
// last fn returned fnErr: an fn error aborts the transaction and is
// returned unchanged (Engine's contract), so it is the caller's abort.
func classify(ctx context.Context, err, fnErr error) Outcome {
	canceled := ctx.Err() != nil && errors.Is(err, ctx.Err())
	switch {
	case err == nil:
		return Committed
	case canceled:
		return Canceled
	case fnErr != nil:
		return Aborted
	case errors.Is(err, ErrConflict):
		return Conflicted
	}
	return Failed
}
