package data

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// inode is the state shared by every handle of one inode in a Layer.
type inode struct {
	l   *Layer
	ino meta.Ino

	refs int // handles; guarded by Layer.mu

	// flushMu serializes flushes so commits keep write order and a flush
	// returns only after everything written before it is committed.
	flushMu sync.Mutex

	mu struct {
		sync.Mutex
		size   uint64
		mtime  time.Time
		gen    uint64                  // bumped whenever chunk maps are dropped
		chunks map[uint32][]meta.Slice // committed records, oldest first
		// vis memoizes visible() over a chunk's committed records, so
		// small reads (byte-by-byte ones too) do not rebuild the overlay
		// each time. An entry is valid while it was built from the very
		// slice now in chunks (records are replaced, never edited in
		// place) and for the same size limit.
		vis     map[uint32]visMemo
		recs    map[uint32]int       // known record counts (compaction trigger)
		pending map[uint32][]*pslice // uncommitted slices per chunk, oldest first
		byID    map[uint64]*pslice
		flushes int // flushes between taking a batch and removing it
	}
}

// pslice is a pending (written, not committed) slice.
type pslice struct {
	id     uint64
	chunk  uint32
	pos    uint32 // position in the chunk
	length uint32 // data bytes
	maxLen uint32 // visible prefix after a truncate (MaxUint32: all)
	sealed bool   // no more writes: flushed, spilled or truncated
	blocks []*wblock
	err    error          // first upload error
	wg     sync.WaitGroup // running uploads
}

func (s *pslice) visibleLen() uint32 { return min(s.length, s.maxLen) }

func (s *pslice) record() meta.Slice {
	return meta.Slice{ID: s.id, Size: s.length, Len: s.visibleLen(), Pos: s.pos}
}

// wblock is one block of a pending slice.
type wblock struct {
	buf       []byte // data while in memory; nil once uploaded (or failed)
	acct      int64  // budget bytes held for buf
	uploading bool
}

func newInode(l *Layer, ino meta.Ino, size uint64) *inode {
	st := &inode{l: l, ino: ino}
	st.mu.size = size
	st.mu.chunks = make(map[uint32][]meta.Slice)
	st.mu.recs = make(map[uint32]int)
	st.mu.pending = make(map[uint32][]*pslice)
	st.mu.byID = make(map[uint64]*pslice)
	return st
}

// idleLocked reports whether nothing is pending or being flushed.
func (st *inode) idleLocked() bool {
	return len(st.mu.byID) == 0 && st.mu.flushes == 0
}

func (st *inode) dropChunksLocked() {
	clear(st.mu.chunks)
	clear(st.mu.vis)
	st.mu.gen++
}

// appendable returns the pending slice of chunk that a write of n bytes
// at pos may go into, or nil. The write must start inside or at the end
// of the slice, land in a block still in memory, and no newer pending
// slice may overlap it (it would hide the write).
func (st *inode) appendableLocked(chunk, pos, n uint32) *pslice {
	list := st.mu.pending[chunk]
	for i := len(list) - 1; i >= 0; i-- {
		s := list[i]
		if !s.sealed && pos >= s.pos && pos <= s.pos+s.length {
			so := pos - s.pos
			bi := int(so / meta.BlockSize)
			if bi < len(s.blocks) {
				if b := s.blocks[bi]; b.buf == nil || b.uploading {
					return nil
				}
			}
			return s
		}
		if s.visibleLen() > 0 && pos < s.pos+s.visibleLen() && pos+n > s.pos {
			return nil // overlaps a newer slice
		}
	}
	return nil
}

func (st *inode) write(ctx context.Context, p []byte, off uint64) (int, error) {
	l := st.l
	done := 0
	for done < len(p) {
		pos := off + uint64(done)
		chunk := uint32(pos / meta.ChunkSize)
		inChunk := uint32(pos % meta.ChunkSize)
		n := min(len(p)-done, meta.ChunkSize-int(inChunk), meta.BlockSize)
		if err := l.acquire(ctx, int64(n)); err != nil {
			return done, err
		}
		m, added, err := st.writePiece(ctx, p[done:done+n], chunk, inChunk)
		l.buf.release(int64(n)-added, false)
		if err != nil {
			return done, err
		}
		done += m
	}
	return done, nil
}

// writePiece copies a prefix of p (which fits in one chunk) into a
// pending slice and returns its length and the bytes newly buffered.
func (st *inode) writePiece(ctx context.Context, p []byte, chunk, pos uint32) (int, int64, error) {
	st.mu.Lock()
	s := st.appendableLocked(chunk, pos, uint32(len(p)))
	if s == nil {
		st.mu.Unlock()
		id, err := st.l.meta.NewSliceID(ctx)
		if err != nil {
			return 0, 0, fserr.E("data.WriteAt", err)
		}
		st.mu.Lock()
		s = &pslice{id: id, chunk: chunk, pos: pos, maxLen: math.MaxUint32}
		st.mu.pending[chunk] = append(st.mu.pending[chunk], s)
		st.mu.byID[id] = s
	}
	defer st.mu.Unlock()
	so := int(pos - s.pos)
	bi, bo := so/meta.BlockSize, so%meta.BlockSize
	n := min(len(p), meta.BlockSize-bo)
	if bi == len(s.blocks) {
		s.blocks = append(s.blocks, &wblock{})
	}
	b := s.blocks[bi]
	end := bo + n
	if end > cap(b.buf) {
		b.buf = growBuf(b.buf, end)
	}
	if end > len(b.buf) {
		b.buf = b.buf[:end]
	}
	copy(b.buf[bo:end], p[:n])
	var added int64
	if newLen := uint32(so + n); newLen > s.length {
		added = int64(newLen - s.length)
		s.length = newLen
	}
	b.acct += added
	if len(b.buf) == meta.BlockSize {
		st.uploadLocked(s, bi)
	}
	if e := uint64(chunk)*meta.ChunkSize + uint64(pos) + uint64(n); e > st.mu.size {
		st.mu.size = e
	}
	st.mu.mtime = time.Now()
	return n, added, nil
}

var blockPool = sync.Pool{New: func() any {
	b := make([]byte, 0, meta.BlockSize+blockfmt.MaxTrailer)
	return &b
}}

// growBuf returns buf with capacity for need bytes (and the trailer):
// doubling from 64 KiB so small files stay small, and a pooled full block
// buffer once it would reach a block.
func growBuf(buf []byte, need int) []byte {
	c := max(2*cap(buf), need, blockfmt.SegSize)
	var nb []byte
	if c >= meta.BlockSize {
		nb = (*blockPool.Get().(*[]byte))[:len(buf)]
	} else {
		nb = make([]byte, len(buf), c+blockfmt.NumSegs(c)*blockfmt.CRCLen)
	}
	copy(nb, buf)
	return nb
}

func putBuf(buf []byte) {
	if cap(buf) >= meta.BlockSize+blockfmt.MaxTrailer {
		buf = buf[:0]
		blockPool.Put(&buf)
	}
}

// uploadLocked starts the upload of block bi of s. The block's data is
// final from here on.
func (st *inode) uploadLocked(s *pslice, bi int) {
	l := st.l
	b := s.blocks[bi]
	b.uploading = true
	data := b.buf
	acct := b.acct
	key := blockfmt.Key(s.id, bi, len(data))
	l.buf.startUpload(acct)
	s.wg.Add(1)
	l.uploads.Add(1)
	go func() {
		defer l.uploads.Done()
		defer s.wg.Done()
		l.uploadSem <- struct{}{}
		obj := blockfmt.AppendTrailer(data)
		err := l.store.Put(context.Background(), key, obj)
		<-l.uploadSem
		if err == nil {
			l.stats.blocksUploaded.Add(1)
			l.stats.bytesUploaded.Add(int64(len(obj)))
			l.noteUploaded(st.ino, key)
		}
		st.mu.Lock()
		if err != nil && s.err == nil {
			s.err = fserr.E("data.upload", key, err)
		}
		b.buf = nil
		b.acct = 0
		b.uploading = false
		st.mu.Unlock()
		putBuf(obj)
		l.buf.release(acct, true)
	}()
}

// spill seals pending slices whose last block is in memory and uploads
// those blocks, up to about want bytes; it returns the bytes started.
func (st *inode) spill(want int64) int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	var got int64
	for _, list := range st.mu.pending {
		for _, s := range list {
			if got >= want {
				return got
			}
			if n := len(s.blocks); n > 0 {
				if b := s.blocks[n-1]; b.buf != nil && !b.uploading && len(b.buf) > 0 {
					s.sealed = true
					got += b.acct
					st.uploadLocked(s, n-1)
				}
			}
		}
	}
	return got
}

// flush commits every slice pending when it starts. beforeCommit, if
// set, runs after the uploads finish and before the commit (Sync makes
// the blocks durable there).
func (st *inode) flush(ctx context.Context, beforeCommit func() error) error {
	const op = "data.Flush"
	l := st.l
	st.flushMu.Lock()
	defer st.flushMu.Unlock()

	st.mu.Lock()
	var batch []*pslice
	chunks := make([]uint32, 0, len(st.mu.pending))
	for c := range st.mu.pending {
		chunks = append(chunks, c)
	}
	slices.Sort(chunks)
	for _, c := range chunks {
		for _, s := range st.mu.pending[c] {
			s.sealed = true
			batch = append(batch, s)
		}
	}
	// A small batch of a close goes inside the commit (inline.go); Sync
	// keeps the usual path, whose blocks its beforeCommit syncs.
	inline := beforeCommit == nil && len(batch) > 0 && st.inlineBatchLocked(batch)
	if !inline {
		for _, s := range batch {
			if n := len(s.blocks); n > 0 {
				if b := s.blocks[n-1]; b.buf != nil && !b.uploading {
					st.uploadLocked(s, n-1)
				}
			}
		}
	}
	mtime := st.mu.mtime
	if len(batch) > 0 {
		st.mu.flushes++
	}
	st.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	defer func() {
		st.mu.Lock()
		st.mu.flushes--
		st.mu.Unlock()
	}()

	var (
		writes []meta.ChunkWrite
		attr   meta.Attr
		done   bool
	)
	if inline {
		var err error
		writes, attr, done, err = st.commitInline(ctx, batch, mtime)
		if err != nil {
			// The batch stays pending (sealed, in memory): a later flush
			// retries the commit.
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return fserr.E(op, err)
		}
		if done && len(writes) > 0 {
			l.stats.commits.Add(1)
		}
	}
	if !done {
		var err error
		if writes, attr, err = st.commitUploaded(ctx, batch, mtime, beforeCommit); err != nil {
			return err
		}
	}
	st.removePending(batch, func() {
		if attr.Size > st.mu.size {
			st.mu.size = attr.Size
		}
	})
	var dropped []*pslice
	for _, s := range batch {
		if s.visibleLen() == 0 {
			dropped = append(dropped, s)
		}
	}
	l.deleteSlices(dropped)
	st.maybeCompact(writes)
	return nil
}

// commitUploaded waits for batch's uploads and commits it with meta.Write.
func (st *inode) commitUploaded(ctx context.Context, batch []*pslice, mtime time.Time, beforeCommit func() error) ([]meta.ChunkWrite, meta.Attr, error) {
	const op = "data.Flush"
	l := st.l
	for _, s := range batch {
		s.wg.Wait()
	}
	var writes []meta.ChunkWrite
	var uploadErr error
	st.mu.Lock()
	for _, s := range batch {
		if s.err != nil && uploadErr == nil {
			uploadErr = s.err
		}
		if r := s.record(); r.Len > 0 {
			writes = append(writes, meta.ChunkWrite{Index: s.chunk, Slice: r})
		}
	}
	st.mu.Unlock()
	if uploadErr != nil {
		// Like a failed fsync: report once and drop the writes.
		st.removePending(batch, nil)
		l.deleteSlices(batch)
		return nil, meta.Attr{}, fserr.E(op, uploadErr)
	}
	if beforeCommit != nil {
		// The batch stays pending, as for a failed commit.
		if err := beforeCommit(); err != nil {
			return nil, meta.Attr{}, err
		}
	}
	var attr meta.Attr
	if len(writes) > 0 {
		var err error
		attr, err = l.meta.Write(ctx, st.ino, writes, mtime)
		if err != nil {
			// The batch stays pending (sealed, uploaded): a later flush
			// retries the commit.
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, meta.Attr{}, err
			}
			return nil, meta.Attr{}, fserr.E(op, err)
		}
		l.stats.commits.Add(1)
	}
	return writes, attr, nil
}

// removePending removes batch from the pending slices and drops the chunk
// maps they touch; fn runs under the same lock.
func (st *inode) removePending(batch []*pslice, fn func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, s := range batch {
		delete(st.mu.byID, s.id)
		list := st.mu.pending[s.chunk]
		if i := slices.Index(list, s); i >= 0 {
			list = slices.Delete(list, i, i+1)
		}
		if len(list) == 0 {
			delete(st.mu.pending, s.chunk)
		} else {
			st.mu.pending[s.chunk] = list
		}
		delete(st.mu.chunks, s.chunk)
		delete(st.mu.vis, s.chunk)
		if s.visibleLen() > 0 {
			st.mu.recs[s.chunk]++
		}
		for _, b := range s.blocks {
			if b.buf != nil && !b.uploading {
				putBuf(b.buf)
				st.l.buf.release(b.acct, false)
				b.buf, b.acct = nil, 0
			}
		}
	}
	st.mu.gen++
	if fn != nil {
		fn()
	}
}

// discardIfUnreferenced drops the pending writes of an inode whose last
// handle closed with a failed flush; nothing can commit them any more.
func (st *inode) discardIfUnreferenced() {
	st.l.mu.Lock()
	gone := st.refs == 0
	st.l.mu.Unlock()
	if !gone {
		return
	}
	st.dropPending()
}

// dropPending discards the inode's uncommitted slices and deletes their
// blocks, unless a flush is committing some of them.
func (st *inode) dropPending() {
	st.mu.Lock()
	if st.mu.flushes > 0 {
		st.mu.Unlock()
		return
	}
	var batch []*pslice
	for _, list := range st.mu.pending {
		batch = append(batch, list...)
	}
	st.mu.Unlock()
	for _, s := range batch {
		s.wg.Wait()
	}
	st.removePending(batch, nil)
	st.l.deleteSlices(batch)
}

// deleteSlices deletes the uploaded blocks of slices that will never be
// committed, in the background.
func (l *Layer) deleteSlices(batch []*pslice) {
	var keys []string
	for _, s := range batch {
		sliceKeys(meta.Slice{ID: s.id, Size: s.length}, func(k string) { keys = append(keys, k) })
	}
	if len(keys) == 0 {
		return
	}
	l.uploads.Add(1)
	go func() {
		defer l.uploads.Done()
		for _, k := range keys {
			if err := l.store.Delete(context.Background(), k); err != nil {
				l.warn("data: delete uncommitted block", "key", k, "err", err)
				continue
			}
			l.stats.blocksDeleted.Add(1)
		}
	}()
}
