package shoal

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/datadir"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/storage"
	"github.com/shoalfs/shoal/internal/ufs"
)

// Option configures a Client.
type Option func(*options)

type options struct {
	id          meta.Identity
	umask       fs.FileMode
	logger      *slog.Logger
	writeBuffer int64
	blockCache  int64
	syncWrites  bool
	capacity    uint64 // quota in bytes, 0: none
	gcInterval  time.Duration
	gcSet       bool   // gcInterval was chosen by the caller
	fsName      string // "" is the default filesystem
	token       string
	tls         *tls.Config
	metaURL     string // engine URL for OpenLocal ("" = badger in its dir)
	storeURL    string // block store URL for OpenLocal ("" = file in its dir)
}

func defaultOptions() options {
	return options{
		umask:      0o022,
		gcInterval: 10 * time.Second,
	}
}

// WithFS picks the named filesystem (default "default"). A data directory
// or a server holds several; each has its own namespace and blocks. Names
// other than "default" must have been created first (shoal admin fs
// create NAME).
func WithFS(name string) Option { return func(o *options) { o.fsName = name } }

// WithIdentity sets who the Client acts as (default root, uid 0, which
// passes permission checks as Linux's CAP_DAC_OVERRIDE/CAP_FOWNER would).
func WithIdentity(uid, gid uint32, groups ...uint32) Option {
	return func(o *options) {
		o.id = meta.Identity{Uid: uid, Gid: gid, Gids: append([]uint32(nil), groups...)}
	}
}

// WithUmask sets the permission bits cleared from every created file's
// mode (default 022).
func WithUmask(mask fs.FileMode) Option {
	return func(o *options) { o.umask = mask & fs.ModePerm }
}

// WithLogger sets the logger for background work (nil discards).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithWriteBuffer bounds the memory buffering unflushed writes.
func WithWriteBuffer(bytes int64) Option { return func(o *options) { o.writeBuffer = bytes } }

// WithBlockCache sets the byte budget of the block cache.
func WithBlockCache(bytes int64) Option { return func(o *options) { o.blockCache = bytes } }

// WithSyncWrites makes the engine fsync every metadata commit. Off by
// default: commits then survive process death, and File.Sync is what
// makes a file durable against power loss.
func WithSyncWrites(on bool) Option { return func(o *options) { o.syncWrites = on } }

// WithCapacity sets a byte quota on the filesystem OpenLocal opens:
// StatFS (df) reports it as the size, and writes that would grow the
// filesystem past it fail with ENOSPC. Without it the size is what the
// data directory's disk holds: the bytes stored plus its free space.
// Dial ignores it: the server's --capacity decides.
func WithCapacity(bytes uint64) Option { return func(o *options) { o.capacity = bytes } }

// WithGCInterval sets how often the background reclaim and block GC run
// (default 10s for OpenLocal; 0 disables it, leaving GC to Client.GC).
// A Client from Dial runs none unless this option is given: the server
// collects garbage itself.
func WithGCInterval(d time.Duration) Option {
	return func(o *options) { o.gcInterval, o.gcSet = d, true }
}

// Client is a Shoal filesystem. It is safe for concurrent use. Values
// returned by WithContext are views sharing one core.
type Client struct {
	core *core
	ctx  context.Context
	view bool
	// internal: this view sees and changes the reserved root entries
	// (ReservedPrefix); see WithInternalNames.
	internal bool
}

// core is the state every view of a Client shares.
type core struct {
	meta    meta.Service
	store   objstore.Store
	data    *data.Layer
	syncer  meta.Syncer // nil when the backend cannot sync on demand
	id      meta.Identity
	umask   fs.FileMode
	logger  *slog.Logger
	closers []func() error // run in order by Close, after data and meta
	tables  tables         // KV tables (table.go); nil for test clients without them

	appendMu sync.Mutex // serializes O_APPEND writes in this client
	loads    localLoads // OpenLocal's in-process load jobs (load.go)

	closed  atomic.Bool
	stopGC  context.CancelFunc
	gcDone  sync.WaitGroup
	closeMu sync.Mutex
}

// OpenLocal opens (creating if needed) a filesystem kept in dir: dir/LOCK
// is the process lock, dir/meta the Badger engine holding every
// filesystem's metadata and dir/blocks/<fs-id> each filesystem's blocks
// (the layout `shoal server --data dir` uses). WithStorage puts the
// engine or the blocks elsewhere (etcd, PostgreSQL, S3), and dir may then
// be "" when neither default is used. WithFS picks the filesystem,
// "default" when not given. Only one Client in one process may hold a
// directory at a time: another opener gets an error of kind KindBusy
// naming the holder's pid and command line (a running server holds it
// too: reach its data with Dial).
func OpenLocal(ctx context.Context, dir string, opts ...Option) (*Client, error) {
	const op = "openlocal"
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	o.ensureDefaults()
	st, err := storage.Open(ctx, storage.Config{
		DataDir:    dir,
		Meta:       o.metaURL,
		Store:      o.storeURL,
		SyncWrites: o.syncWrites,
		Logger:     o.logger,
	})
	if err != nil {
		return nil, fserr.E(op, dir, err)
	}
	undo := []func() error{st.Close}
	fail := func(err error) (*Client, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			_ = undo[i]()
		}
		return nil, fserr.E(op, dir, err)
	}
	eng := st.Engine.KV
	info, err := meta.EnsureDefaultFS(ctx, eng)
	if err == nil && o.fsName != "" && o.fsName != datadir.DefaultFS {
		info, err = meta.LookupFS(ctx, eng, o.fsName)
	}
	if err != nil {
		return fail(err)
	}
	store, err := st.Blocks.Open(ctx, info.ID)
	if err != nil {
		return fail(err)
	}
	undo = append(undo, store.Close)
	// On an engine of its own (the embedded one: this process holds the
	// directory lock) open counts may live in memory, and every session
	// other than its own was left by a dead process. A shared engine
	// has other users, live ones among them.
	shared := st.Engine.Shared
	loader := &ufs.Loader{Logger: o.logger}
	m, err := meta.New(ctx, eng, meta.Config{ID: info.ID, Logger: o.logger, Exclusive: !shared, CleanStaleSessions: !shared,
		Capacity: o.capacity, Space: st.Blocks.Space(), MountLoader: loader})
	if err != nil {
		return fail(err)
	}
	undo = append(undo, loader.Close, m.Close)
	d, err := data.New(m, store, o.dataConfig())
	if err != nil {
		return fail(err)
	}
	syncer := st.Engine.Syncer()
	// After an unclean shutdown the previous process's uncommitted blocks
	// wait in sweep ranges; collect them now rather than at the first
	// background pass, so the directory is clean as soon as it is open.
	if ranges, err := m.SweepRanges(ctx, 1); err == nil && len(ranges) > 0 {
		if _, err := d.GC(ctx); err != nil {
			o.logger.Warn("shoal: garbage collection after unclean shutdown failed", "dir", dir, "err", err)
		}
	}
	kvt, err := openLocalTables(eng, o)
	if err != nil {
		return fail(err)
	}
	// newClient closes meta and data itself; the store, the tables and
	// the storage (engine, then lock) go after them, the lock last so no
	// one opens the directory while the engine is still flushing.
	c := newClient(m, store, d, syncer, o, store.Close, kvt.Close, st.Close)
	c.core.tables = localTables{kvt}
	return c, nil
}

// WithStorage puts OpenLocal's metadata engine and block store at URLs
// instead of under its directory ("" keeps that default):
// badger:///DIR, etcd://HOST:2379[,HOST...]/PREFIX or
// postgres://USER@HOST/DB for the engine; file:///DIR or
// s3://BUCKET/PREFIX?endpoint=URL for the blocks (docs/storage.md).
func WithStorage(metaURL, storeURL string) Option {
	return func(o *options) { o.metaURL, o.storeURL = metaURL, storeURL }
}

func (o *options) ensureDefaults() {
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

func (o *options) dataConfig() data.Config {
	return data.Config{
		BufferBytes: o.writeBuffer,
		CacheBytes:  o.blockCache,
		Logger:      o.logger,
	}
}

// newClient builds a Client over its layers. It takes ownership of m and
// d (closed by Close), then runs closers in order. Remote backends and
// tests over the in-memory engine use it directly.
func newClient(m meta.Service, s objstore.Store, d *data.Layer, syncer meta.Syncer, o options, closers ...func() error) *Client {
	o.ensureDefaults()
	co := &core{
		meta:    m,
		store:   s,
		data:    d,
		syncer:  syncer,
		id:      o.id,
		umask:   o.umask,
		logger:  o.logger,
		closers: closers,
	}
	gctx, cancel := context.WithCancel(context.Background())
	co.stopGC = cancel
	if o.gcInterval > 0 {
		co.gcDone.Add(1)
		go co.gcLoop(gctx, o.gcInterval)
	}
	return &Client{core: co, ctx: context.Background()}
}

func (co *core) gcLoop(ctx context.Context, every time.Duration) {
	defer co.gcDone.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := co.data.GC(ctx); err != nil && ctx.Err() == nil {
				co.logger.Warn("shoal: background gc failed", "err", err)
			}
		}
	}
}

// WithContext returns a view of c whose operations run under ctx. The
// view shares everything with c; closing it closes nothing.
func (c *Client) WithContext(ctx context.Context) *Client {
	if ctx == nil {
		panic("shoal: nil context")
	}
	return &Client{core: c.core, ctx: ctx, view: true, internal: c.internal}
}

// WithInternalNames returns a view of c that sees and may change the
// root entries reserved for Shoal's own services (ReservedPrefix), which
// every other view hides. It is for those services (the S3 gateway
// stages uploads in /.shoal-s3); closing it closes nothing.
func (c *Client) WithInternalNames() *Client {
	return &Client{core: c.core, ctx: c.ctx, view: true, internal: true}
}

// Close stops background work and releases the engine, the block store
// and the directory lock. Files still open are not flushed: close them
// first. Later calls on c or its views fail with KindClosed.
func (c *Client) Close() error {
	if c.view {
		return nil
	}
	co := c.core
	co.closeMu.Lock()
	defer co.closeMu.Unlock()
	if co.closed.Swap(true) {
		return fserr.E("close", "", fserr.Closed)
	}
	co.stopGC()
	co.gcDone.Wait()
	co.stopLoads()
	var errs []error
	errs = append(errs, co.data.Close(), co.meta.Close())
	for _, fn := range co.closers {
		errs = append(errs, fn())
	}
	if err := errors.Join(errs...); err != nil {
		return wrap("close", "", err)
	}
	return nil
}

// check fails once the client is closed.
func (c *Client) check(op, name string) error {
	if c.core.closed.Load() {
		return fserr.E(op, name, fserr.Closed)
	}
	return nil
}

// GC reclaims deleted files and deletes blocks no slice references, now.
func (c *Client) GC() error {
	const op = "gc"
	if err := c.check(op, ""); err != nil {
		return err
	}
	_, err := c.core.data.GC(c.ctx)
	return wrap(op, "", err)
}

// Check verifies the filesystem: metadata invariants, then that every
// live slice's blocks exist and no block is orphaned; with verifyData it
// also reads every block and checks its CRC. It returns the problems
// found (none means healthy).
func (c *Client) Check(verifyData bool) ([]string, error) {
	const op = "check"
	if err := c.check(op, ""); err != nil {
		return nil, err
	}
	ck, ok := c.core.meta.(meta.Checker)
	if !ok {
		return nil, fserr.E(op, "", fserr.NotSupported)
	}
	problems, err := ck.Check(c.ctx)
	if err != nil {
		return problems, wrap(op, "", err)
	}
	live := func(fn func(meta.Slice) error) error { return c.core.meta.LiveSlices(c.ctx, fn) }
	more, err := c.core.data.CheckBlocks(c.ctx, live, verifyData)
	problems = append(problems, more...)
	return problems, wrap(op, "", err)
}

// StatFS reports filesystem usage.
func (c *Client) StatFS() (FSStat, error) {
	const op = "statfs"
	if err := c.check(op, ""); err != nil {
		return FSStat{}, err
	}
	s, err := c.core.meta.StatFS(c.ctx)
	if err != nil {
		return FSStat{}, wrap(op, "", err)
	}
	avail := uint64(0)
	if s.TotalBytes > s.UsedBytes {
		avail = s.TotalBytes - s.UsedBytes
	}
	return FSStat{
		TotalBytes:  s.TotalBytes,
		UsedBytes:   s.UsedBytes,
		AvailBytes:  avail,
		TotalInodes: s.TotalInodes,
		UsedInodes:  s.UsedInodes,
		BlockSize:   statBlockSize,
	}, nil
}
