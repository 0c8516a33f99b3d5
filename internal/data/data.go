// Package data is Shoal's file data path: it maps file bytes to chunks,
// slices and blocks (DESIGN.md "Data layout"), buffers writes and uploads
// them as immutable block objects, and serves reads through a verified
// block cache with readahead. It also compacts fragmented chunks and
// deletes the blocks of freed slices and those dead sessions uploaded but
// never committed (GC).
//
// Layout: a file is cut into chunks of meta.ChunkSize. Each write stream
// into a chunk is a slice with an id from meta.NewSliceID; its data is
// stored as blocks of up to meta.BlockSize named by blockfmt.Key(id, index,
// length), so every block key of a slice follows from meta.Slice{ID, Size}.
// A block object is its data followed by a CRC32C per 64 KiB segment (the
// format is internal/blockfmt's); every read is verified and a mismatch is
// an fserr.Corrupt error naming the key.
//
// Consistency: all handles of one inode in one Layer share one inode
// state, so a read sees every write made through any handle of the Layer,
// including unflushed ones (they are read from the write buffer, or from
// blocks already uploaded but not yet committed). Across Layers the data
// is close-to-open: Flush uploads every buffered block and then commits
// all pending slices of the file with one meta.Write (or, for a close of
// at most InlineMax bytes over a remote meta with Config.Inline, hands the
// blocks to one meta.InlineWriter call that stores and commits them; inline.go).
// Durability against
// power loss comes from Sync, which also syncs the inode's blocks in the
// store (see sync.go) before its caller syncs the metadata.
//
// Invariants:
//   - A slice never spans chunks, and its data is only ever appended or
//     overwritten while the affected block is still in memory; a block is
//     immutable once its upload starts.
//   - A pending slice may be appended to only if no newer pending slice of
//     the chunk overlaps the written range, so committing the pending
//     slices oldest first reproduces what reads showed.
//   - Buffered, not yet uploaded bytes across the Layer stay under
//     Config.BufferBytes (plus one write piece); writers wait, and when
//     nothing is uploading, partial blocks are sealed and uploaded (spilled)
//     to make room.
//
// Lock order: Layer.mu, then inode.flushMu, then inode.mu; cache and
// budget locks are leaves. inode.flushMu, then syncAllMu, then
// unsynced.syncMu (several only under syncAllMu), then Layer.mu: the sync
// locks are never taken under Layer.mu or inode.mu.
package data

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
)

// Config configures a Layer. The zero value works.
type Config struct {
	// BufferBytes bounds buffered, not yet uploaded write data across
	// all files (default 256 MiB, at least 2 blocks). Writers block when
	// it is full.
	BufferBytes int64
	// UploadConcurrency is the number of parallel block uploads (default 16).
	UploadConcurrency int
	// FetchConcurrency is the number of parallel readahead block fetches
	// (default 16).
	FetchConcurrency int
	// CacheBytes is the size of the in-memory block cache (default
	// 256 MiB; negative disables it).
	CacheBytes int64
	// ReadaheadMax is the largest readahead window (default 32 MiB;
	// negative disables readahead).
	ReadaheadMax int64
	// CompactThreshold is the number of records in a chunk that triggers
	// background compaction after a commit (default 20; negative
	// disables background compaction).
	CompactThreshold int
	// Inline lets a close commit a small write (InlineMax) with its blocks
	// inside the commit when the Meta is a meta.InlineWriter whose
	// blocks land in this Layer's store (the remote client).
	Inline bool
	// Logger receives background errors (compaction, readahead, block
	// deletion) at Warn. Nil discards.
	Logger *slog.Logger
}

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.BufferBytes == 0 {
		c.BufferBytes = 256 << 20
	}
	if c.UploadConcurrency == 0 {
		c.UploadConcurrency = 16
	}
	if c.FetchConcurrency == 0 {
		c.FetchConcurrency = 16
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = 256 << 20
	}
	if c.ReadaheadMax == 0 {
		c.ReadaheadMax = 32 << 20
	}
	if c.CompactThreshold == 0 {
		c.CompactThreshold = 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	const op = "data.Config"
	switch {
	case c.BufferBytes < 2*meta.BlockSize:
		return fserr.Errorf(op, fserr.Invalid, "data: BufferBytes %d is below two blocks (%d)", c.BufferBytes, 2*meta.BlockSize)
	case c.UploadConcurrency < 1:
		return fserr.Errorf(op, fserr.Invalid, "data: UploadConcurrency %d < 1", c.UploadConcurrency)
	case c.FetchConcurrency < 1:
		return fserr.Errorf(op, fserr.Invalid, "data: FetchConcurrency %d < 1", c.FetchConcurrency)
	}
	return nil
}

// Stats are the Layer's counters since New.
type Stats struct {
	BytesRead       int64 // returned by ReadAt
	BytesWritten    int64 // accepted by WriteAt
	CacheHits       int64 // segments served from the cache
	CacheMisses     int64 // segments fetched from the store
	BytesFetched    int64 // object bytes read from the store
	BlocksUploaded  int64
	BytesUploaded   int64 // object bytes, trailers included
	BlocksDeleted   int64
	Commits         int64 // meta.Write calls
	Compactions     int64 // chunks compacted
	BufferedBytes   int64 // now: write data held in memory
	CacheBytesInUse int64 // now
	// CacheEvictions counts segments dropped from the cache to make room,
	// CacheEvictedBytes their bytes; CacheLimitBytes is the cache's size
	// (Config.CacheBytes; 0 when disabled). The cache is one tier, in
	// memory.
	CacheEvictions    int64
	CacheEvictedBytes int64
	CacheLimitBytes   int64
}

type stats struct {
	bytesRead, bytesWritten, cacheHits, cacheMisses, bytesFetched atomic.Int64
	blocksUploaded, bytesUploaded, blocksDeleted, commits         atomic.Int64
	compactions                                                   atomic.Int64
}

// Meta is the part of meta.Service the data layer uses: the slice
// records, the garbage, and a file's attributes (compaction reads its
// size). A Meta that is also a meta.InlineWriter commits small writes
// with their blocks when Config.Inline is set.
type Meta interface {
	meta.Chunks
	meta.Reclaimer
	GetAttr(ctx context.Context, ino meta.Ino) (meta.Attr, error)
}

// Layer is the data path over one Meta and one objstore.Store.
type Layer struct {
	meta   Meta
	store  objstore.Store
	syncer objstore.Syncer // nil: the store is durable at Put
	cfg    Config
	log    *slog.Logger

	cache     *cache
	scratch   []byte // ReadaheadMax bytes, never read or written: see prefetch
	fetches   singleflight.Group
	uploadSem chan struct{}
	fetchSem  chan struct{}
	buf       budget
	stats     stats

	bgCtx       context.Context // cancelled by Close: readahead, compaction
	bgCancel    context.CancelFunc
	bg          sync.WaitGroup // readahead goroutines
	compactions sync.WaitGroup
	uploads     sync.WaitGroup // uploads, block deletions, background syncs
	syncAllMu   sync.Mutex     // see syncAll
	noInline    atomic.Bool    // the InlineWriter said NotSupported

	mu struct {
		sync.Mutex
		inodes     map[meta.Ino]*inode
		compacting map[compactKey]bool
		unsynced   map[meta.Ino]*unsynced // see sync.go
		unsyncedN  int                    // keys in unsynced
		syncingAll bool                   // a background syncAll runs
		closed     bool
	}
}

type compactKey struct {
	ino   meta.Ino
	index uint32
}

// New returns a Layer storing file data in s and slice records in m.
func New(m Meta, s objstore.Store, cfg Config) (*Layer, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Layer{
		meta:      m,
		store:     s,
		cfg:       cfg,
		log:       cfg.Logger,
		cache:     newCache(cfg.CacheBytes),
		uploadSem: make(chan struct{}, cfg.UploadConcurrency),
		fetchSem:  make(chan struct{}, cfg.FetchConcurrency),
	}
	l.syncer, _ = s.(objstore.Syncer)
	if cfg.ReadaheadMax > 0 {
		l.scratch = make([]byte, cfg.ReadaheadMax)
	}
	l.buf.limit = cfg.BufferBytes
	l.buf.wake = make(chan struct{})
	l.bgCtx, l.bgCancel = context.WithCancel(context.Background())
	l.mu.inodes = make(map[meta.Ino]*inode)
	l.mu.compacting = make(map[compactKey]bool)
	l.mu.unsynced = make(map[meta.Ino]*unsynced)
	return l, nil
}

// Stats returns the counters.
func (l *Layer) Stats() Stats {
	s := &l.stats
	st := Stats{
		BytesRead:       s.bytesRead.Load(),
		BytesWritten:    s.bytesWritten.Load(),
		CacheHits:       s.cacheHits.Load(),
		CacheMisses:     s.cacheMisses.Load(),
		BytesFetched:    s.bytesFetched.Load(),
		BlocksUploaded:  s.blocksUploaded.Load(),
		BytesUploaded:   s.bytesUploaded.Load(),
		BlocksDeleted:   s.blocksDeleted.Load(),
		Commits:         s.commits.Load(),
		Compactions:     s.compactions.Load(),
		BufferedBytes:   l.buf.inUse(),
		CacheLimitBytes: max(l.cfg.CacheBytes, 0),
	}
	st.CacheBytesInUse, st.CacheEvictions, st.CacheEvictedBytes = l.cache.counts()
	return st
}

// Close waits for uploads and background compactions, stops readahead
// and makes every uploaded block durable (as unmounting syncs a Linux
// filesystem). Data not flushed is dropped and its uploaded blocks
// deleted: the meta session's Close then forgets its slice ids, so
// nothing else would.
func (l *Layer) Close() error {
	l.mu.Lock()
	l.mu.closed = true
	inodes := make([]*inode, 0, len(l.mu.inodes))
	for _, st := range l.mu.inodes {
		inodes = append(inodes, st)
	}
	l.mu.Unlock()
	// Compactions run to completion; readahead is cut short.
	l.compactions.Wait()
	l.bgCancel()
	l.bg.Wait()
	l.uploads.Wait()
	for _, st := range inodes {
		st.dropPending()
	}
	l.uploads.Wait()
	if err := l.syncAll(context.Background()); err != nil {
		return fserr.E("data.Close", err)
	}
	return nil
}

// goBackground runs fn in a goroutine tracked by wg unless the Layer is
// closed; ctx is what fn gets.
func (l *Layer) goBackground(wg *sync.WaitGroup, ctx context.Context, fn func(ctx context.Context)) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return false
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn(ctx)
	}()
	return true
}

// Open returns a handle on ino. attr (from meta.Open or meta.Create)
// seeds the inode state when ino is not open in this Layer yet; when it
// is and nothing is pending, the state is refreshed from attr (size) and
// its chunk maps are dropped, which gives close-to-open consistency
// against other Layers.
func (l *Layer) Open(ino meta.Ino, attr meta.Attr) *Handle {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.mu.inodes[ino]
	if st == nil {
		st = newInode(l, ino, attr.Size)
		l.mu.inodes[ino] = st
	} else {
		st.mu.Lock()
		if st.idleLocked() {
			st.mu.size = attr.Size
			st.dropChunksLocked()
		}
		st.mu.Unlock()
	}
	st.refs++
	return &Handle{l: l, st: st, ra: readahead{lastEnd: -1}}
}

// Size returns the size of ino including unflushed writes, if ino is open
// in this Layer.
func (l *Layer) Size(ino meta.Ino) (uint64, bool) {
	st := l.lookup(ino)
	if st == nil {
		return 0, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.mu.size, true
}

// Truncated tells the Layer that ino's size was set to size in the meta
// service (SetAttr with SetSize). It sets the size, drops cached chunk
// maps and clips pending (unflushed) writes at size; pending writes
// are sealed so later writes start new slices. Callers should Flush
// before truncating when they can; this keeps the result right when they
// cannot.
func (l *Layer) Truncated(ino meta.Ino, size uint64) {
	st := l.lookup(ino)
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.mu.size = size
	st.dropChunksLocked()
	for _, list := range st.mu.pending {
		for _, s := range list {
			s.sealed = true
			start := uint64(s.chunk)*meta.ChunkSize + uint64(s.pos)
			switch {
			case start >= size:
				s.maxLen = 0
			case start+uint64(s.visibleLen()) > size:
				s.maxLen = uint32(size - start)
			}
		}
	}
}

// Revalidate refreshes an open inode from attr, as a new Open does:
// when nothing is pending its size becomes attr's and its chunk maps are
// dropped, so the next read sees other Layers' commits. The SDK calls it
// when a file lock is granted (a lock is where a reader learns that
// another client's writes are done, as NFS revalidates at lock).
func (l *Layer) Revalidate(ino meta.Ino, attr meta.Attr) {
	st := l.lookup(ino)
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.idleLocked() {
		st.mu.size = attr.Size
		st.dropChunksLocked()
	}
}

// Busy reports whether some inode of the Layer has writes not committed
// yet or a flush under way. While it is false a truncate anywhere needs
// no flush first (see Truncated), which spares callers the round trip
// that finds the inode to flush.
func (l *Layer) Busy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.mu.inodes) > 64 {
		return true // checking them all would cost more than it saves
	}
	for _, st := range l.mu.inodes {
		st.mu.Lock()
		idle := st.idleLocked()
		st.mu.Unlock()
		if !idle {
			return true
		}
	}
	return false
}

// Flush commits what ino's handles in this Layer have written, whether
// or not one is still open (a handle being closed may be committing):
// it returns once every write made before it is committed.
func (l *Layer) Flush(ctx context.Context, ino meta.Ino) error {
	st := l.lookup(ino)
	if st == nil {
		return nil
	}
	return st.flush(ctx, nil)
}

func (l *Layer) lookup(ino meta.Ino) *inode {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.inodes[ino]
}

// release drops one handle reference; the last one frees the state.
func (l *Layer) release(st *inode) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st.refs--
	if st.refs == 0 && l.mu.inodes[st.ino] == st {
		delete(l.mu.inodes, st.ino)
	}
}

// Handle is an open file of the Layer. Its methods are safe for
// concurrent use.
type Handle struct {
	l      *Layer
	st     *inode
	closed atomic.Bool

	raMu sync.Mutex
	ra   readahead
}

// Ino returns the inode of the handle.
func (h *Handle) Ino() meta.Ino { return h.st.ino }

func (h *Handle) check(op string) error {
	if h.closed.Load() {
		return fserr.E(op, fserr.Closed)
	}
	return nil
}

// WriteAt writes p at off. The data is buffered; it is visible to other
// Layers after Flush and durable after Sync.
func (h *Handle) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	const op = "data.WriteAt"
	if err := h.check(op); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fserr.Errorf(op, fserr.Invalid, "data: negative offset %d", off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if uint64(off)+uint64(len(p)) > meta.MaxFileSize {
		return 0, fserr.Errorf(op, fserr.TooBig, "data: write of %d bytes at %d passes the %d byte file size limit", len(p), off, uint64(meta.MaxFileSize))
	}
	n, err := h.st.write(ctx, p, uint64(off))
	h.l.stats.bytesWritten.Add(int64(n))
	return n, err
}

// ReadAt reads len(p) bytes at off with io.ReaderAt semantics: it returns
// io.EOF when fewer bytes are left before the end of the file.
func (h *Handle) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	const op = "data.ReadAt"
	if err := h.check(op); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fserr.Errorf(op, fserr.Invalid, "data: negative offset %d", off)
	}
	n, err := h.read(ctx, p, uint64(off))
	h.l.stats.bytesRead.Add(int64(n))
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// Flush uploads the inode's buffered data and commits its pending slices
// (all of them, written through any handle) with one meta.Write, which
// makes them visible to other Layers (close-to-open). It does not make
// them durable against power loss: that is Sync. It returns an upload
// error from earlier writes, in which case those writes are dropped, not
// committed.
func (h *Handle) Flush(ctx context.Context) error {
	if err := h.check("data.Flush"); err != nil {
		return err
	}
	return h.st.flush(ctx, nil)
}

// Close flushes and releases the handle. The handle is released even when
// the flush fails; the inode state goes with its last handle.
func (h *Handle) Close(ctx context.Context) error {
	if h.closed.Swap(true) {
		return fserr.E("data.Close", fserr.Closed)
	}
	err := h.st.flush(ctx, nil)
	h.l.release(h.st)
	if err != nil {
		h.st.discardIfUnreferenced()
	}
	return err
}

// budget bounds buffered write bytes.
type budget struct {
	mu        sync.Mutex
	used      int64
	limit     int64
	uploading int64         // bytes of used whose upload is running
	wake      chan struct{} // closed (and replaced) when bytes are released
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

func (b *budget) release(n int64, uploaded bool) {
	if n == 0 && !uploaded {
		return
	}
	b.mu.Lock()
	b.used -= n
	if uploaded {
		b.uploading -= n
	}
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

func (b *budget) startUpload(n int64) {
	b.mu.Lock()
	b.uploading += n
	b.mu.Unlock()
}

// acquire reserves n bytes of write buffer, waiting while the budget is
// full. When the running uploads cannot free enough, it spills other
// files' partial blocks so the wait cannot deadlock on buffers nobody
// uploads.
func (l *Layer) acquire(ctx context.Context, n int64) error {
	b := &l.buf
	for {
		b.mu.Lock()
		if b.used+n <= b.limit || b.used == 0 {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		short := b.used - b.uploading + n - b.limit
		wake := b.wake
		b.mu.Unlock()
		if short > 0 {
			l.spill(short)
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// spill starts uploads of in-memory blocks worth at least want bytes,
// sealing their slices.
func (l *Layer) spill(want int64) {
	l.mu.Lock()
	inodes := make([]*inode, 0, len(l.mu.inodes))
	for _, st := range l.mu.inodes {
		inodes = append(inodes, st)
	}
	l.mu.Unlock()
	for _, st := range inodes {
		if want <= 0 {
			return
		}
		want -= st.spill(want)
	}
}

func (l *Layer) warn(msg string, args ...any) {
	l.log.Warn(msg, args...)
}

func (l *Layer) String() string { return fmt.Sprintf("data.Layer(%p)", l) }
