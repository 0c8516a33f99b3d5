// Package storage is the one place a Shoal process's storage is assembled
// from configuration: the metadata engine and the block stores, each named
// by a URL (docs/storage.md). shoal.OpenLocal, `shoal server`, `shoal
// meta`, `shoal worker`, `shoal admin` and `shoal fsck` all open their
// storage here.
//
// Engines: badger:///dir (the embedded default, DIR/meta under --data),
// etcd://host:port[,host:port...]/prefix and postgres://user@host/db.
// Block stores: file:///dir (the default, DIR/blocks under --data) and
// s3://bucket/prefix?endpoint=URL. Each filesystem gets a store of its
// own under the one URL (dir/<fs-id>, prefix/<fs-id>/), so filesystems
// never see each other's blocks and deleting one is Blocks.Remove.
//
// Invariants: the URLs a process prints (Engine.URL, Blocks.URL) never
// hold a secret; secrets come from the environment or files (etcd and
// PostgreSQL passwords may also be in the URL, and are then redacted).
// A local data directory, when there is one, is locked for the life of
// the Storage (DIR/LOCK): the embedded engine and the file store are
// one process's at a time.
package storage

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/shoalfs/shoal/internal/datadir"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/lockfile"
)

// Config names a process's storage. The zero value with DataDir set is
// the single-machine layout: Badger in DIR/meta, blocks in DIR/blocks.
type Config struct {
	// DataDir is the local data directory: its lock is held while the
	// storage is open, and it is the default home of the engine and the
	// blocks. It may be empty only when neither default is needed.
	DataDir string
	// Meta is the engine URL ("" = badger under DataDir).
	Meta string
	// Store is the block store URL ("" = file under DataDir).
	Store string
	// NoEngine skips the engine (a worker run alone), NoBlocks the block
	// store (a meta server run alone, whose blocks are at its workers).
	NoEngine, NoBlocks bool
	// SyncWrites makes an embedded engine fsync every commit.
	SyncWrites bool
	// Logger receives the engines' warnings (nil discards).
	Logger *slog.Logger
}

// EnsureDefaults fills the URLs left empty from DataDir.
func (c *Config) EnsureDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DataDir == "" {
		return
	}
	if c.Meta == "" && !c.NoEngine {
		c.Meta = "badger://" + absPath(datadir.Meta(c.DataDir))
	}
	if c.Store == "" && !c.NoBlocks {
		c.Store = "file://" + absPath(datadir.BlocksRoot(c.DataDir))
	}
}

// Validate reports a configuration that names no storage.
func (c *Config) Validate() error {
	const op = "storage.Config"
	if c.Meta == "" && !c.NoEngine {
		return fserr.Errorf(op, fserr.Invalid, "storage: no engine: give a data directory (--data DIR) or an engine URL (--meta badger:///DIR, etcd://HOST:2379/PREFIX, postgres://USER@HOST/DB)")
	}
	if c.Store == "" && !c.NoBlocks {
		return fserr.Errorf(op, fserr.Invalid, "storage: no block store: give a data directory (--data DIR) or a store URL (--store file:///DIR, s3://BUCKET/PREFIX?endpoint=URL)")
	}
	return nil
}

// Storage is an open engine and block store.
type Storage struct {
	// Engine is nil with Config.NoEngine, Blocks nil with NoBlocks.
	Engine *Engine
	Blocks *Blocks
	lock   *lockfile.Lock
}

// Open locks the data directory (if any) and opens what cfg names. On
// failure nothing is left open.
func Open(ctx context.Context, cfg Config) (_ *Storage, err error) {
	const op = "storage.Open"
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Storage{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fserr.E(op, cfg.DataDir, err)
		}
		if s.lock, err = lockfile.Acquire(datadir.Lock(cfg.DataDir)); err != nil {
			return nil, fserr.E(op, cfg.DataDir, err)
		}
		// Blocks of the layout before named filesystems move under the
		// default filesystem's id before anything opens them.
		if err := datadir.Migrate(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	if !cfg.NoEngine {
		if s.Engine, err = OpenEngine(ctx, cfg.Meta, EngineOptions{SyncWrites: cfg.SyncWrites, Logger: cfg.Logger}); err != nil {
			return nil, err
		}
	}
	if !cfg.NoBlocks {
		if s.Blocks, err = OpenBlocks(ctx, cfg.Store, cfg.Logger); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Close closes the engine, then releases the lock, last, so no one
// opens the directory while the engine is still flushing. The block
// stores of filesystems are the caller's to close first.
func (s *Storage) Close() error {
	var errs []error
	if s.Blocks != nil {
		errs = append(errs, s.Blocks.Close())
	}
	if s.Engine != nil {
		errs = append(errs, s.Engine.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}
