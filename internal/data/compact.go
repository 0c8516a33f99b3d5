package data

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"

	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// Compaction rewrites a chunk's visible data as one new slice. Holes are
// not written: the new slice holds only the data runs, one record per run,
// and ranges between runs read as zeros because no record covers them.
// Runs closer than compactGap are joined (the gap stored as zeros) so a
// chunk of many small scattered writes ends with few records; a chunk
// that would still need more than compactMaxRuns records is stored as one
// run from its first to its last data byte.
const (
	compactGap     = 1 << 20
	compactMaxRuns = 8
)

// run is a range of a chunk: [pos, pos+len).
type run struct{ pos, len uint32 }

// compactRuns returns the ranges of segs to store.
func compactRuns(segs []segment) []run {
	var runs []run
	for _, s := range segs {
		if n := len(runs); n > 0 && s.Pos-(runs[n-1].pos+runs[n-1].len) <= compactGap {
			runs[n-1].len = s.end() - runs[n-1].pos
			continue
		}
		runs = append(runs, run{s.Pos, s.Len})
	}
	if len(runs) > compactMaxRuns {
		last := runs[len(runs)-1]
		runs = []run{{runs[0].pos, last.pos + last.len - runs[0].pos}}
	}
	return runs
}

func (st *inode) maybeCompact(writes []meta.ChunkWrite) {
	thr := st.l.cfg.CompactThreshold
	if thr < 0 || len(writes) == 0 {
		return
	}
	var due []uint32
	st.mu.Lock()
	for _, w := range writes {
		if st.mu.recs[w.Index] > thr {
			due = append(due, w.Index)
			st.mu.recs[w.Index] = 0 // do not schedule it again meanwhile
		}
	}
	st.mu.Unlock()
	for _, idx := range due {
		st.l.scheduleCompact(st.ino, idx)
	}
}

func (l *Layer) scheduleCompact(ino meta.Ino, idx uint32) {
	k := compactKey{ino, idx}
	l.mu.Lock()
	if l.mu.compacting[k] {
		l.mu.Unlock()
		return
	}
	l.mu.compacting[k] = true
	l.mu.Unlock()
	started := l.goBackground(&l.compactions, context.Background(), func(ctx context.Context) {
		defer func() {
			l.mu.Lock()
			delete(l.mu.compacting, k)
			l.mu.Unlock()
		}()
		attr, err := l.meta.GetAttr(ctx, ino)
		if err == nil {
			err = l.compactChunk(ctx, ino, idx, attr.Size)
		}
		if err != nil && ctx.Err() == nil && !fserr.Is(fserr.NotExist, err) {
			l.warn("data: compaction", "ino", ino, "chunk", idx, "err", err)
		}
	})
	if !started {
		l.mu.Lock()
		delete(l.mu.compacting, k)
		l.mu.Unlock()
	}
}

// Compact compacts every chunk of ino that has more than one record.
// It reads every chunk's record list up to the file size, so it is meant
// for maintenance, not for huge sparse files.
func (l *Layer) Compact(ctx context.Context, ino meta.Ino) error {
	attr, err := l.meta.GetAttr(ctx, ino)
	if err != nil {
		return fserr.E("data.Compact", err)
	}
	for idx := uint64(0); idx*meta.ChunkSize < attr.Size; idx++ {
		if err := l.compactChunk(ctx, ino, uint32(idx), attr.Size); err != nil {
			return err
		}
	}
	return nil
}

// compactChunk rewrites chunk idx of ino, whose file size is size. A
// conflict with a concurrent change of the chunk is not an error: the
// chunk is left for a later compaction.
func (l *Layer) compactChunk(ctx context.Context, ino meta.Ino, idx uint32, size uint64) error {
	const op = "data.Compact"
	recs, err := l.meta.ReadChunk(ctx, ino, idx)
	if err != nil {
		return fserr.E(op, err)
	}
	if len(recs) < 2 {
		return nil
	}
	base := uint64(idx) * meta.ChunkSize
	var limit uint32
	if size > base {
		limit = uint32(min(size-base, meta.ChunkSize))
	}
	segs := visible(recs, limit)
	runs := compactRuns(segs)
	var total uint32
	for _, r := range runs {
		total += r.len
	}
	var repl []meta.Slice
	var id uint64
	if total > 0 {
		id, err = l.meta.NewSliceID(ctx)
		if err != nil {
			return fserr.E(op, err)
		}
		if err := l.writeCompacted(ctx, id, segs, runs, total); err != nil {
			l.deleteSlices([]*pslice{{id: id, length: total}})
			return err
		}
		off := uint32(0)
		for _, r := range runs {
			repl = append(repl, meta.Slice{ID: id, Size: total, Off: off, Len: r.len, Pos: r.pos})
			off += r.len
		}
	}
	err = l.meta.CompactChunk(ctx, ino, idx, recs, repl)
	if err != nil {
		if id != 0 {
			l.deleteSlices([]*pslice{{id: id, length: total}})
		}
		if fserr.Is(fserr.Conflict, err) {
			// Count the records again so a later commit retries.
			if st := l.lookup(ino); st != nil {
				st.mu.Lock()
				st.mu.recs[idx] += len(recs)
				st.mu.Unlock()
			}
			return nil
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fserr.E(op, err)
	}
	l.stats.compactions.Add(1)
	if st := l.lookup(ino); st != nil {
		st.mu.Lock()
		delete(st.mu.chunks, idx)
		delete(st.mu.vis, idx)
		st.mu.gen++
		// Commits since scheduling counted from zero (maybeCompact).
		st.mu.recs[idx] += len(repl)
		st.mu.Unlock()
	}
	return nil
}

// writeCompacted uploads the data of runs (read through segs) as the
// blocks of slice id, total bytes long, a few blocks at a time.
func (l *Layer) writeCompacted(ctx context.Context, id uint64, segs []segment, runs []run, total uint32) error {
	var keys []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	ri, rOff := 0, uint32(0) // cursor: run ri, rOff bytes in
	for bi := range blockfmt.SliceBlocks(total) {
		blen := blockfmt.BlockLen(total, bi)
		buf := (*blockPool.Get().(*[]byte))[:blen]
		for filled := 0; filled < blen; {
			r := runs[ri]
			m := min(int(r.len-rOff), blen-filled)
			if err := l.readSegs(gctx, segs, r.pos+rOff, buf[filled:filled+m]); err != nil {
				putBuf(buf)
				g.Wait()
				return err
			}
			filled += m
			rOff += uint32(m)
			if rOff == r.len {
				ri, rOff = ri+1, 0
			}
		}
		key := blockfmt.Key(id, bi, blen)
		keys = append(keys, key)
		g.Go(func() error {
			defer putBuf(buf)
			obj := blockfmt.AppendTrailer(buf)
			if err := l.store.Put(gctx, key, obj); err != nil {
				return fserr.E("data.Compact", key, err)
			}
			l.stats.blocksUploaded.Add(1)
			l.stats.bytesUploaded.Add(int64(len(obj)))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// The commit that follows releases the replaced slices, whose blocks
	// GC then deletes: the new blocks must be on disk first.
	if err := l.syncKeys(ctx, keys); err != nil {
		return fserr.E("data.Compact", err)
	}
	return nil
}

// readSegs fills dst with chunk bytes [pos, pos+len(dst)) as segs show
// them (zeros where no segment is).
func (l *Layer) readSegs(ctx context.Context, segs []segment, pos uint32, dst []byte) error {
	clear(dst)
	end := pos + uint32(len(dst))
	var reads []blockRead
	for _, sg := range segs {
		if sg.end() <= pos || sg.Pos >= end {
			continue
		}
		a, b := max(sg.Pos, pos), min(sg.end(), end)
		reads = appendBlockReads(reads, sg.ID, sg.Size, int(sg.Off+(a-sg.Pos)), dst[a-pos:b-pos])
	}
	return l.readBlocks(ctx, reads, true)
}
