package metrics

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/objstore"
)

// Store kinds name the block stores a process opens: the value of the
// "store" label. A process wraps each store it opens with one of these.
const (
	// StoreLocal is the data directory's store of one filesystem (the
	// tiered store: small blocks in an engine, large ones in files).
	StoreLocal = "local"
	// StoreRemote is a store reached over the block HTTP protocol (a
	// meta server alone reaching its workers).
	StoreRemote = "remote"
)

// Store operations: the value of the "op" label of the store metrics.
const (
	StoreGet    = "get"
	StorePut    = "put"
	StoreDelete = "delete"
	StoreHead   = "head"
	StoreList   = "list"
	StoreSync   = "sync"
	StoreOpen   = "open" // OpenFile: a local file the block server sends
)

// Store outcomes: the "outcome" label. A missing object is its own
// outcome: Head and Get of a missing key are a normal answer.
const (
	outcomeOK       = "ok"
	outcomeNotFound = "not_found"
	outcomeCanceled = "canceled"
	outcomeError    = "error"
)

// fileOpener is blockserver.FileOpener, restated here so the wrapper can
// keep it without importing the block server.
type fileOpener interface {
	OpenFile(ctx context.Context, key string) (*os.File, error)
}

// Store wraps st so that every call is timed and counted under kind (one
// of the Store kinds), and its object bytes are counted. The wrapper keeps
// the optional interfaces st has (objstore.Syncer, the block server's
// FileOpener), so wrapping changes no behaviour. Close closes st.
func (s *Set) Store(kind string, st objstore.Store) objstore.Store {
	if kind != StoreLocal && kind != StoreRemote {
		kind = "other" // a label never takes an unlisted value
	}
	w := &store{Store: st, kind: kind, dur: s.storeDur, bytes: s.storeBytes}
	sy, isSyncer := st.(objstore.Syncer)
	fo, isOpener := st.(fileOpener)
	switch {
	case isSyncer && isOpener:
		return &syncOpenStore{w, sy, fo}
	case isSyncer:
		return &syncStore{w, sy}
	case isOpener:
		return &openStore{w, fo}
	}
	return w
}

type store struct {
	objstore.Store
	kind  string
	dur   *prometheus.HistogramVec
	bytes *prometheus.CounterVec
}

var _ objstore.Store = (*store)(nil)

func (w *store) observe(ctx context.Context, op string, start time.Time, err error) {
	outcome := outcomeOK
	switch {
	case err == nil:
	case errors.Is(err, objstore.ErrNotFound) || fserr.Is(fserr.NotExist, err):
		outcome = outcomeNotFound
	case ctx.Err() != nil:
		outcome = outcomeCanceled
	default:
		outcome = outcomeError
	}
	w.dur.WithLabelValues(w.kind, op, outcome).Observe(time.Since(start).Seconds())
}

func (w *store) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	start := time.Now()
	b, err := w.Store.Get(ctx, key, off, length)
	w.observe(ctx, StoreGet, start, err)
	if len(b) > 0 {
		w.bytes.WithLabelValues(w.kind, StoreGet).Add(float64(len(b)))
	}
	return b, err
}

func (w *store) Put(ctx context.Context, key string, data []byte) error {
	start := time.Now()
	err := w.Store.Put(ctx, key, data)
	w.observe(ctx, StorePut, start, err)
	if err == nil {
		w.bytes.WithLabelValues(w.kind, StorePut).Add(float64(len(data)))
	}
	return err
}

func (w *store) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := w.Store.Delete(ctx, key)
	w.observe(ctx, StoreDelete, start, err)
	return err
}

func (w *store) Head(ctx context.Context, key string) (objstore.Info, error) {
	start := time.Now()
	info, err := w.Store.Head(ctx, key)
	w.observe(ctx, StoreHead, start, err)
	return info, err
}

func (w *store) List(ctx context.Context, prefix, after string, limit int) ([]objstore.Info, error) {
	start := time.Now()
	infos, err := w.Store.List(ctx, prefix, after, limit)
	w.observe(ctx, StoreList, start, err)
	return infos, err
}

func (w *store) sync(ctx context.Context, sy objstore.Syncer, keys []string) error {
	start := time.Now()
	err := sy.Sync(ctx, keys)
	w.observe(ctx, StoreSync, start, err)
	return err
}

func (w *store) openFile(ctx context.Context, fo fileOpener, key string) (*os.File, error) {
	start := time.Now()
	f, err := fo.OpenFile(ctx, key)
	w.observe(ctx, StoreOpen, start, err)
	return f, err
}

type syncStore struct {
	*store
	sy objstore.Syncer
}

func (w *syncStore) Sync(ctx context.Context, keys []string) error { return w.sync(ctx, w.sy, keys) }

type openStore struct {
	*store
	fo fileOpener
}

func (w *openStore) OpenFile(ctx context.Context, key string) (*os.File, error) {
	return w.openFile(ctx, w.fo, key)
}

type syncOpenStore struct {
	*store
	sy objstore.Syncer
	fo fileOpener
}

func (w *syncOpenStore) Sync(ctx context.Context, keys []string) error {
	return w.sync(ctx, w.sy, keys)
}

func (w *syncOpenStore) OpenFile(ctx context.Context, key string) (*os.File, error) {
	return w.openFile(ctx, w.fo, key)
}
