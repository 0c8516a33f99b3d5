package data

import (
	"context"
	"errors"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
)

// blockRead is one read of stored block bytes into dst.
type blockRead struct {
	id    uint64
	index int
	blen  int
	off   int // in the block
	dst   []byte
}

// readahead is a handle's sequential-read detector.
type readahead struct {
	lastEnd int64 // end of the previous read; -1 before the first
	window  int64 // current window; 0 while reads look random
	raEnd   int64 // readahead issued up to here
}

const raInitial = 256 << 10

// next records a read of [off, end) and returns whether it is sequential
// and the range to prefetch (empty when none).
func (r *readahead) next(off, end, limit int64) (seq bool, from, to int64) {
	seq = off == r.lastEnd || (r.lastEnd < 0 && off == 0)
	r.lastEnd = end
	if !seq || limit <= 0 {
		r.window = 0
		r.raEnd = 0
		return seq, 0, 0
	}
	if r.window == 0 {
		r.window = min(raInitial, limit)
	} else {
		r.window = min(2*r.window, limit)
	}
	// Issue more only when less than half a window is left ahead, so a
	// stream of small reads does not issue a prefetch each.
	if r.raEnd-end > r.window/2 {
		return true, 0, 0
	}
	from = max(r.raEnd, end)
	to = end + r.window
	r.raEnd = to
	return true, from, to
}

func (h *Handle) read(ctx context.Context, p []byte, off uint64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	h.raMu.Lock()
	seq, raFrom, raTo := h.ra.next(int64(off), int64(off)+int64(len(p)), h.l.cfg.ReadaheadMax)
	h.raMu.Unlock()
	n, err := h.st.read(ctx, p, off, seq)
	if err == nil && raTo > raFrom {
		h.l.prefetch(h.st, uint64(raFrom), uint64(raTo))
	}
	return n, err
}

// read fills p from off, clipped at the size; whole asks for whole blocks
// on a miss (sequential reads). It returns the bytes read.
func (st *inode) read(ctx context.Context, p []byte, off uint64, whole bool) (int, error) {
	// Most reads touch one or two blocks: plan them on the stack.
	var buf [4]blockRead
	for attempt := 0; ; attempt++ {
		n, reads, err := st.plan(ctx, p, off, true, buf[:0])
		if err != nil || n == 0 {
			return n, err
		}
		err = st.l.readBlocks(ctx, reads, whole)
		if err != nil && errors.Is(err, objstore.ErrNotFound) && attempt == 0 {
			// Our chunk map may predate a compaction whose old slices
			// were collected; reload it once.
			st.mu.Lock()
			st.dropChunksLocked()
			st.mu.Unlock()
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

// plan resolves [off, off+len(p)) clipped at the size into reads of
// stored blocks, copying buffered (pending) bytes and zeros into p
// directly when fill is set. It returns the clipped length.
func (st *inode) plan(ctx context.Context, p []byte, off uint64, fill bool, reads []blockRead) (int, []blockRead, error) {
	for {
		st.mu.Lock()
		size := st.mu.size
		if off >= size {
			st.mu.Unlock()
			return 0, nil, nil
		}
		n := int(min(uint64(len(p)), size-off))
		missing, ok := st.missingChunkLocked(off, uint64(n))
		if !ok {
			gen := st.mu.gen
			st.mu.Unlock()
			recs, err := st.l.meta.ReadChunk(ctx, st.ino, missing)
			if err != nil {
				return 0, nil, fserr.E("data.ReadAt", err)
			}
			st.mu.Lock()
			if st.mu.gen == gen {
				st.mu.chunks[missing] = recs
				st.mu.recs[missing] = len(recs)
			}
			st.mu.Unlock()
			continue
		}
		reads = st.planLocked(reads, p[:n], off, size, fill)
		st.mu.Unlock()
		return n, reads, nil
	}
}

// missingChunkLocked returns the first chunk of the range whose map is not
// cached.
func (st *inode) missingChunkLocked(off, n uint64) (uint32, bool) {
	for c := off / meta.ChunkSize; c <= (off+n-1)/meta.ChunkSize; c++ {
		if _, ok := st.mu.chunks[uint32(c)]; !ok {
			return uint32(c), false
		}
	}
	return 0, true
}

// planLocked appends to reads.
func (st *inode) planLocked(reads []blockRead, p []byte, off, size uint64, fill bool) []blockRead {
	var recs []meta.Slice
	end := off + uint64(len(p))
	for c := off / meta.ChunkSize; c*meta.ChunkSize < end; c++ {
		base := c * meta.ChunkSize
		limit := uint32(min(size-base, meta.ChunkSize))
		var segs []segment
		if pend := st.mu.pending[uint32(c)]; len(pend) == 0 {
			segs = st.visibleLocked(uint32(c), limit)
		} else {
			recs = append(recs[:0], st.mu.chunks[uint32(c)]...)
			for _, s := range pend {
				recs = append(recs, s.record())
			}
			segs = visible(recs, limit)
		}
		// The part of the request inside this chunk, in chunk coordinates.
		lo := uint32(max(off, base) - base)
		hi := uint32(min(end, base+meta.ChunkSize) - base)
		cur := lo
		for _, sg := range segs {
			if sg.end() <= lo || sg.Pos >= hi {
				continue
			}
			a, b := max(sg.Pos, lo), min(sg.end(), hi)
			dst := p[base+uint64(a)-off : base+uint64(b)-off]
			if fill && a > cur {
				clear(p[base+uint64(cur)-off : base+uint64(a)-off])
			}
			cur = b
			so := int(sg.Off + (a - sg.Pos)) // offset in the slice
			if ps := st.mu.byID[sg.ID]; ps != nil {
				reads = st.readPendingLocked(reads, ps, so, dst, fill)
				continue
			}
			reads = appendBlockReads(reads, sg.ID, sg.Size, so, dst)
		}
		if fill && cur < hi {
			clear(p[base+uint64(cur)-off : base+uint64(hi)-off])
		}
	}
	return reads
}

// visMemo is visible(src, limit) for a chunk's committed records src.
type visMemo struct {
	src   []meta.Slice
	limit uint32
	segs  []segment
}

// visibleLocked returns the visible runs of chunk c's committed records
// (the chunk has no pending slices), memoized.
func (st *inode) visibleLocked(c uint32, limit uint32) []segment {
	recs := st.mu.chunks[c]
	if len(recs) == 0 {
		return nil
	}
	if m, ok := st.mu.vis[c]; ok && m.limit == limit && len(m.src) == len(recs) && &m.src[0] == &recs[0] {
		return m.segs
	}
	segs := visible(recs, limit)
	if st.mu.vis == nil {
		st.mu.vis = make(map[uint32]visMemo)
	}
	st.mu.vis[c] = visMemo{src: recs, limit: limit, segs: segs}
	return segs
}

// appendBlockReads splits a read of slice bytes [so, so+len(dst)) into
// per-block reads.
func appendBlockReads(reads []blockRead, id uint64, size uint32, so int, dst []byte) []blockRead {
	for len(dst) > 0 {
		bi, bo := so/meta.BlockSize, so%meta.BlockSize
		m := min(len(dst), meta.BlockSize-bo)
		reads = append(reads, blockRead{id: id, index: bi, blen: blockfmt.BlockLen(size, bi), off: bo, dst: dst[:m]})
		dst, so = dst[m:], so+m
	}
	return reads
}

// readPendingLocked copies a pending slice's bytes still in memory into
// dst and plans reads of its blocks already uploaded.
func (st *inode) readPendingLocked(reads []blockRead, s *pslice, so int, dst []byte, fill bool) []blockRead {
	for len(dst) > 0 {
		bi, bo := so/meta.BlockSize, so%meta.BlockSize
		m := min(len(dst), meta.BlockSize-bo)
		b := s.blocks[bi]
		if b.buf != nil {
			if fill {
				copy(dst[:m], b.buf[bo:bo+m])
			}
		} else {
			// Uploaded blocks are final, so their length follows from
			// the slice length as for committed slices.
			reads = append(reads, blockRead{id: s.id, index: bi, blen: blockfmt.BlockLen(s.length, bi), off: bo, dst: dst[:m]})
		}
		dst, so = dst[m:], so+m
	}
	return reads
}

// readBlocks runs reads, in parallel when there are several.
func (l *Layer) readBlocks(ctx context.Context, reads []blockRead, whole bool) error {
	switch len(reads) {
	case 0:
		return nil
	case 1:
		return l.readBlock(ctx, reads[0], whole)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(l.cfg.FetchConcurrency)
	for _, r := range reads {
		g.Go(func() error { return l.readBlock(gctx, r, whole) })
	}
	return g.Wait()
}

// readBlock copies block bytes into r.dst from the cache, fetching the
// missing segments (or the whole block) once however many readers miss.
func (l *Layer) readBlock(ctx context.Context, r blockRead, whole bool) error {
	s0 := r.off / blockfmt.SegSize
	s1 := (r.off + len(r.dst) + blockfmt.SegSize - 1) / blockfmt.SegSize
	k := segKey{id: r.id, index: uint32(r.index)}
	var segs [blockfmt.BlockSegs][]byte
	first, last := -1, -1
	for s := s0; s < s1; s++ {
		k.seg = uint32(s)
		if segs[s] = l.cache.get(k); segs[s] == nil {
			if first < 0 {
				first = s
			}
			last = s
		}
	}
	if first >= 0 {
		l.stats.cacheHits.Add(int64(s1 - s0 - (last - first + 1)))
		if whole {
			first, last = 0, blockfmt.NumSegs(r.blen)-1
		}
		fetched, err := l.fetchSegs(ctx, r.id, r.index, r.blen, first, last+1)
		if err != nil {
			return err
		}
		for s := max(first, s0); s < min(last+1, s1); s++ {
			segs[s] = fetched[s-first]
		}
	} else {
		l.stats.cacheHits.Add(int64(s1 - s0))
	}
	dst := r.dst
	pos := r.off
	for len(dst) > 0 {
		s := pos / blockfmt.SegSize
		seg := segs[s]
		c := copy(dst, seg[pos-s*blockfmt.SegSize:])
		if c == 0 {
			return blockfmt.Corrupt(blockfmt.Key(r.id, r.index, r.blen), int64(pos), "segment shorter than the block length")
		}
		dst, pos = dst[c:], pos+c
	}
	return nil
}

// fetchSegs fetches and verifies segments [s0, s1) of a block, caches
// them and returns them.
func (l *Layer) fetchSegs(ctx context.Context, id uint64, index, blen, s0, s1 int) ([][]byte, error) {
	key := blockfmt.Key(id, index, blen)
	sfKey := key
	if s0 != 0 || s1 != blockfmt.NumSegs(blen) {
		sfKey = key + "#" + strconv.Itoa(s0) + "-" + strconv.Itoa(s1)
	}
	v, err, _ := l.fetches.Do(sfKey, func() (any, error) {
		// Not tied to one caller's ctx: other callers share the result.
		fctx := context.WithoutCancel(ctx)
		dataOff := s0 * blockfmt.SegSize
		dataEnd := min(s1*blockfmt.SegSize, blen)
		var data, crcs []byte
		if s0 == 0 && s1 == blockfmt.NumSegs(blen) {
			obj, err := l.store.Get(fctx, key, 0, -1)
			if err != nil {
				return nil, err
			}
			l.stats.bytesFetched.Add(int64(len(obj)))
			if len(obj) != blen+blockfmt.NumSegs(blen)*blockfmt.CRCLen {
				return nil, blockfmt.Corrupt(key, 0, "object is %d bytes, want %d", len(obj), blen+blockfmt.NumSegs(blen)*blockfmt.CRCLen)
			}
			data, crcs = obj[:blen:blen], obj[blen:]
		} else {
			var g errgroup.Group
			g.Go(func() (err error) {
				data, err = l.store.Get(fctx, key, int64(dataOff), int64(dataEnd-dataOff))
				return err
			})
			g.Go(func() (err error) {
				crcs, err = l.store.Get(fctx, key, int64(blen+s0*blockfmt.CRCLen), int64((s1-s0)*blockfmt.CRCLen))
				return err
			})
			if err := g.Wait(); err != nil {
				return nil, err
			}
			l.stats.bytesFetched.Add(int64(len(data) + len(crcs)))
			if len(data) != dataEnd-dataOff {
				return nil, blockfmt.Corrupt(key, int64(dataOff), "read %d bytes, want %d", len(data), dataEnd-dataOff)
			}
		}
		if err := blockfmt.VerifySegs(key, s0, data, crcs); err != nil {
			return nil, err
		}
		segs := make([][]byte, s1-s0)
		for i := range segs {
			a := i * blockfmt.SegSize
			b := min(a+blockfmt.SegSize, len(data))
			segs[i] = data[a:b:b]
			l.cache.put(segKey{id: id, index: uint32(index), seg: uint32(s0 + i)}, segs[i])
		}
		l.stats.cacheMisses.Add(int64(s1 - s0))
		return segs, nil
	})
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if fserr.KindOf(err) == fserr.Corrupt {
			return nil, err
		}
		return nil, fserr.E("data.read", key, err)
	}
	return v.([][]byte), nil
}

// prefetch loads the stored blocks behind file range [from, to) into the
// cache in the background.
func (l *Layer) prefetch(st *inode, from, to uint64) {
	st.mu.Lock()
	size := st.mu.size
	st.mu.Unlock()
	if from >= size {
		return // nothing ahead: spare the goroutine
	}
	l.goBackground(&l.bg, l.bgCtx, func(ctx context.Context) {
		// Plan against the never-touched scratch buffer: with fill off
		// nothing is copied, only the destinations' lengths matter.
		_, reads, err := st.plan(ctx, l.scratch[:to-from], from, false, nil)
		if err != nil {
			return
		}
		// One fetch per block, whole blocks.
		type bk struct {
			id    uint64
			index int
		}
		seen := make(map[bk]bool)
		var g errgroup.Group
		for _, r := range reads {
			k := bk{r.id, r.index}
			if seen[k] {
				continue
			}
			seen[k] = true
			if l.cache.get(segKey{id: r.id, index: uint32(r.index), seg: uint32(r.off / blockfmt.SegSize)}) != nil &&
				l.cache.get(segKey{id: r.id, index: uint32(r.index), seg: uint32((r.off + len(r.dst) - 1) / blockfmt.SegSize)}) != nil {
				continue
			}
			select {
			case l.fetchSem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			g.Go(func() error {
				defer func() { <-l.fetchSem }()
				_, err := l.fetchSegs(ctx, r.id, r.index, r.blen, 0, blockfmt.NumSegs(r.blen))
				if err != nil && ctx.Err() == nil {
					l.log.Debug("data: readahead", "err", err)
				}
				return nil
			})
		}
		g.Wait()
	})
}
