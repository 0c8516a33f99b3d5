package meta

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// ReadChunk returns chunk index's slice records, oldest first.
func (fs *FS) ReadChunk(ctx context.Context, ino Ino, index uint32) ([]Slice, error) {
	const op = "meta.ReadChunk"
	if err := fs.check(op); err != nil {
		return nil, err
	}
	var out []Slice
	err := fs.view(ctx, func(tx kv.ReadTxn) error {
		v, err := tx.Get(fs.k.chunk(ino, index))
		if errors.Is(err, kv.ErrNotFound) {
			out = nil
			var n node
			return getNode(tx, &fs.k, ino, &n) // a missing chunk of a live inode is a hole
		}
		if err != nil {
			return err
		}
		out, err = decodeSlices(v)
		if err != nil {
			return fserr.E(op, inoPath(ino), fserr.Corrupt, err)
		}
		return nil
	})
	return out, wrap(op, inoPath(ino), err)
}

func validSlice(s *Slice) bool {
	if s.Len == 0 || uint64(s.Pos)+uint64(s.Len) > ChunkSize {
		return false
	}
	return s.ID == 0 || uint64(s.Off)+uint64(s.Len) <= uint64(s.Size)
}

// Write appends slice records to their chunks, raising the size to cover
// them. Each nonzero slice id must be fresh (see the package doc).
func (fs *FS) Write(ctx context.Context, ino Ino, writes []ChunkWrite, mtime time.Time) (Attr, error) {
	const op = "meta.Write"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	var end uint64
	for i := range writes {
		w := &writes[i]
		if !validSlice(&w.Slice) {
			return Attr{}, fserr.Errorf(op, fserr.Invalid, "meta: write: bad slice %+v", w.Slice)
		}
		end = max(end, uint64(w.Index)*ChunkSize+uint64(w.Slice.Pos)+uint64(w.Slice.Len))
	}
	if end > MaxFileSize {
		return Attr{}, fserr.E(op, inoPath(ino), fserr.TooBig)
	}
	// Root keeps the setuid/setgid bits it writes under (CAP_FSETID).
	w, ok := WriterOf(ctx)
	fsetid := ok && w.Uid == 0
	if fs.cfg.Capacity > 0 {
		cur, err := fs.GetAttr(ctx, ino)
		if err != nil {
			return Attr{}, err
		}
		if end > cur.Size {
			if over, err := fs.overLimit(ctx, int64(end-cur.Size), 0); err != nil || over {
				if err == nil {
					err = fserr.E(op, inoPath(ino), fserr.NoSpace)
				}
				return Attr{}, wrap(op, inoPath(ino), err)
			}
		}
	}
	mt := mtime.UnixNano()
	var n node
	err := fs.update(ctx, op, func(tx kv.Txn) error {
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		if n.Type != TypeRegular {
			return fserr.E(op, inoPath(ino), fserr.Invalid)
		}
		if n.Flags&FlagImmutable != 0 {
			return fserr.E(op, inoPath(ino), fserr.NotPermitted)
		}
		// Group by chunk so each chunk value is read and written once.
		order := make([]int, len(writes))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return int(int64(writes[a].Index) - int64(writes[b].Index)) })
		counts := map[uint64]int{}
		for i := 0; i < len(order); {
			idx := writes[order[i]].Index
			key := fs.k.chunk(ino, idx)
			v, err := tx.Get(key)
			if err != nil && !errors.Is(err, kv.ErrNotFound) {
				return err
			}
			buf := make([]byte, len(v), len(v)+sliceLen*4)
			copy(buf, v)
			for ; i < len(order) && writes[order[i]].Index == idx; i++ {
				s := writes[order[i]].Slice
				buf = appendSlice(buf, s)
				if s.ID != 0 {
					counts[s.ID]++
				}
			}
			if err := tx.Put(key, buf); err != nil {
				return err
			}
		}
		for id, c := range counts {
			if c > 1 {
				if err := fs.addRefs(tx, id, c-1); err != nil {
					return err
				}
			}
		}
		var u usageDelta
		if end > n.Size {
			u.add(ino, int64(end-n.Size), 0)
			n.Size = end
		}
		n.Mtime, n.Ctime = mt, mt
		if !fsetid {
			n.killPrivs()
		}
		if err := putNode(tx, &fs.k, &n); err != nil {
			return err
		}
		return u.apply(tx, &fs.k)
	}, nil, func(tx kv.Txn, _ []byte) error { return getNode(tx, &fs.k, ino, &n) })
	return n.Attr, wrap(op, inoPath(ino), err)
}

// killPrivs clears what Linux clears when a caller without CAP_FSETID
// writes or truncates a regular file: setuid, and setgid when the group
// may execute (without group exec, setgid marks mandatory locking).
func (n *node) killPrivs() {
	if n.Type != TypeRegular {
		return
	}
	n.Mode &^= ModeSetuid
	if n.Mode&(ModeSetgid|0010) == ModeSetgid|0010 {
		n.Mode &^= ModeSetgid
	}
}

func (fs *FS) addRefs(tx kv.Txn, id uint64, d int) error {
	key := fs.k.ref(id)
	v, err := tx.Get(key)
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	return tx.Put(key, u64bytes(u64(v)+uint64(d)))
}

// releaseRecords drops one reference per record; slices whose last
// reference goes are moved to the freed list.
func (fs *FS) releaseRecords(tx kv.Txn, recs []Slice) error {
	counts := map[uint64]int{}
	sizes := map[uint64]uint32{}
	for _, r := range recs {
		if r.ID != 0 {
			counts[r.ID]++
			sizes[r.ID] = r.Size
		}
	}
	for id, c := range counts {
		if err := fs.dropRefs(tx, id, c, sizes[id]); err != nil {
			return err
		}
	}
	return nil
}

func (fs *FS) dropRefs(tx kv.Txn, id uint64, c int, size uint32) error {
	key := fs.k.ref(id)
	v, err := tx.Get(key)
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	extra := u64(v)
	switch {
	case uint64(c) <= extra:
		if extra == uint64(c) {
			return tx.Delete(key)
		}
		return tx.Put(key, u64bytes(extra-uint64(c)))
	case uint64(c) > extra+1:
		fs.cfg.Logger.Warn("meta: slice released more often than referenced", "slice", id, "released", c, "extra", extra)
	}
	if v != nil {
		if err := tx.Delete(key); err != nil {
			return err
		}
	}
	return tx.Put(fs.k.freed(id), binaryU32(size))
}

func binaryU32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func u32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// CompactChunk replaces the first len(old) records of a chunk with repl.
func (fs *FS) CompactChunk(ctx context.Context, ino Ino, index uint32, old []Slice, repl []Slice) error {
	const op = "meta.CompactChunk"
	if err := fs.check(op); err != nil {
		return err
	}
	for i := range repl {
		if !validSlice(&repl[i]) {
			return fserr.Errorf(op, fserr.Invalid, "meta: compact: bad slice %+v", repl[i])
		}
	}
	err := fs.update(ctx, op, func(tx kv.Txn) error {
		var n node
		if err := getNode(tx, &fs.k, ino, &n); err != nil {
			return err
		}
		key := fs.k.chunk(ino, index)
		v, err := tx.Get(key)
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		cur, err := decodeSlices(v)
		if err != nil {
			return fserr.E(op, fserr.Corrupt, err)
		}
		if len(cur) < len(old) || !slices.Equal(cur[:len(old)], old) {
			return fserr.Errorf(op, fserr.Conflict, "meta: compact: chunk %d of %d changed", index, ino)
		}
		buf := make([]byte, 0, (len(repl)+len(cur)-len(old))*sliceLen)
		for _, s := range repl {
			buf = appendSlice(buf, s)
		}
		buf = append(buf, v[len(old)*sliceLen:]...)
		if len(buf) == 0 {
			err = tx.Delete(key)
		} else {
			err = tx.Put(key, buf)
		}
		if err != nil {
			return err
		}
		delta := map[uint64]int{}
		inOld := map[uint64]bool{}
		sizes := map[uint64]uint32{}
		for _, s := range old {
			if s.ID != 0 {
				delta[s.ID]--
				inOld[s.ID] = true
				sizes[s.ID] = s.Size
			}
		}
		for _, s := range repl {
			if s.ID != 0 {
				delta[s.ID]++
			}
		}
		for id, d := range delta {
			if !inOld[id] {
				d-- // a fresh slice's first record is its implicit reference
			}
			switch {
			case d > 0:
				err = fs.addRefs(tx, id, d)
			case d < 0:
				err = fs.dropRefs(tx, id, -d, sizes[id])
			}
			if err != nil {
				return err
			}
		}
		return nil
	}, nil, nil)
	return wrap(op, inoPath(ino), err)
}

// truncateTx sets n's size in tx, dropping the chunks wholly beyond it and
// covering the tail of a partial last chunk with a hole record. It
// reports done=false, changing nothing, when more than truncateBatch
// chunks would go (the caller shrinks first).
func (fs *FS) truncateTx(tx kv.Txn, n *node, size uint64, u *usageDelta) (bool, error) {
	if size < n.Size {
		first := (size + ChunkSize - 1) / ChunkSize
		start := fs.k.chunk(n.Ino, uint32(first))
		_, end := fs.k.under(tagChunk, uint64(n.Ino))
		pairs, err := tx.Scan(start, end, truncateBatch+1, false)
		if err != nil {
			return false, err
		}
		if len(pairs) > truncateBatch {
			return false, nil
		}
		if err := fs.deleteChunks(tx, pairs); err != nil {
			return false, err
		}
		if pos := size % ChunkSize; pos != 0 {
			key := fs.k.chunk(n.Ino, uint32(size/ChunkSize))
			v, err := tx.Get(key)
			switch {
			case err == nil:
				hole := Slice{Pos: uint32(pos), Len: uint32(ChunkSize - pos)}
				if err := tx.Put(key, appendSlice(v, hole)); err != nil {
					return false, err
				}
			case !errors.Is(err, kv.ErrNotFound):
				return false, err
			}
		}
	}
	if n.Type == TypeRegular {
		u.add(n.Ino, int64(size)-int64(n.Size), 0)
	}
	n.Size = size
	return true, nil
}

func (fs *FS) deleteChunks(tx kv.Txn, pairs []kv.Pair) error {
	var recs []Slice
	for _, p := range pairs {
		rs, err := decodeSlices(p.Value)
		if err != nil {
			return fserr.E("meta.truncate", fserr.Corrupt, err)
		}
		recs = append(recs, rs...)
		if err := tx.Delete(p.Key); err != nil {
			return err
		}
	}
	return fs.releaseRecords(tx, recs)
}

// shrink lowers ino's size toward size in transactions of at most
// truncateBatch chunks, from the end, until one transaction can finish.
func (fs *FS) shrink(ctx context.Context, ino Ino, size uint64) error {
	for {
		done := false
		err := fs.eng.Update(ctx, func(tx kv.Txn) error {
			var n node
			if err := getNode(tx, &fs.k, ino, &n); err != nil {
				return err
			}
			first := (size + ChunkSize - 1) / ChunkSize
			start := fs.k.chunk(ino, uint32(first))
			_, end := fs.k.under(tagChunk, uint64(ino))
			pairs, err := tx.Scan(start, end, truncateBatch, true)
			if err != nil {
				return err
			}
			done = len(pairs) < truncateBatch || n.Size <= size
			if done {
				return nil
			}
			if err := fs.deleteChunks(tx, pairs); err != nil {
				return err
			}
			lowest := uint64(u32(pairs[len(pairs)-1].Key[pfxLen+1+8:])) * ChunkSize
			var u usageDelta
			if lowest < n.Size {
				u.add(ino, int64(lowest)-int64(n.Size), 0)
				n.Size = lowest
			}
			if err := putNode(tx, &fs.k, &n); err != nil {
				return err
			}
			return u.apply(tx, &fs.k)
		})
		if err != nil || done {
			return err
		}
	}
}

// Reclaim deletes the chunks of up to limit inodes queued under G.
func (fs *FS) Reclaim(ctx context.Context, limit int) (int, error) {
	const op = "meta.Reclaim"
	if err := fs.check(op); err != nil {
		return 0, err
	}
	var inos []Ino
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		start, end := fs.k.all(tagGC)
		pairs, err := tx.Scan(start, end, limit, false)
		inos = inos[:0]
		for _, p := range pairs {
			inos = append(inos, Ino(u64(p.Key[pfxLen+1:])))
		}
		return err
	})
	if err != nil {
		return 0, wrap(op, "", err)
	}
	for i, ino := range inos {
		for done := false; !done; {
			err := fs.eng.Update(ctx, func(tx kv.Txn) error {
				start, end := fs.k.under(tagChunk, uint64(ino))
				pairs, err := tx.Scan(start, end, reclaimChunksPerTxn, false)
				if err != nil {
					return err
				}
				if err := fs.deleteChunks(tx, pairs); err != nil {
					return err
				}
				done = len(pairs) < reclaimChunksPerTxn
				if done {
					return tx.Delete(fs.k.gc(ino))
				}
				return nil
			})
			if err != nil {
				return i, wrap(op, inoPath(ino), err)
			}
		}
	}
	return len(inos), nil
}

// FreedSlices lists up to limit slices with no references left.
func (fs *FS) FreedSlices(ctx context.Context, limit int) ([]Slice, error) {
	const op = "meta.FreedSlices"
	if err := fs.check(op); err != nil {
		return nil, err
	}
	var out []Slice
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		start, end := fs.k.all(tagFreed)
		pairs, err := tx.Scan(start, end, limit, false)
		out = out[:0]
		for _, p := range pairs {
			out = append(out, Slice{ID: u64(p.Key[pfxLen+1:]), Size: u32(p.Value)})
		}
		return err
	})
	return out, wrap(op, "", err)
}

// ForgetSlices removes slices from the freed list once their blocks are gone.
func (fs *FS) ForgetSlices(ctx context.Context, ids []uint64) error {
	const op = "meta.ForgetSlices"
	if err := fs.check(op); err != nil {
		return err
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), 1024)]
		ids = ids[len(batch):]
		err := fs.eng.Update(ctx, func(tx kv.Txn) error {
			for _, id := range batch {
				if err := tx.Delete(fs.k.freed(id)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return wrap(op, "", err)
		}
	}
	return nil
}

// SweepRanges lists up to limit (all when limit <= 0) slice id ranges of
// dead sessions, oldest ids first.
func (fs *FS) SweepRanges(ctx context.Context, limit int) ([][2]uint64, error) {
	const op = "meta.SweepRanges"
	if err := fs.check(op); err != nil {
		return nil, err
	}
	var out [][2]uint64
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		start, end := fs.k.all(tagSweep)
		pairs, err := tx.Scan(start, end, max(limit, 0), false)
		out = out[:0]
		for _, p := range pairs {
			out = append(out, [2]uint64{u64(p.Key[pfxLen+1:]), u64(p.Value)})
		}
		return err
	})
	return out, wrap(op, "", err)
}

// ForgetSweep removes ranges (as SweepRanges returned them) from the
// sweep list.
func (fs *FS) ForgetSweep(ctx context.Context, ranges [][2]uint64) error {
	const op = "meta.ForgetSweep"
	if err := fs.check(op); err != nil {
		return err
	}
	for len(ranges) > 0 {
		batch := ranges[:min(len(ranges), 1024)]
		ranges = ranges[len(batch):]
		err := fs.eng.Update(ctx, func(tx kv.Txn) error {
			for _, r := range batch {
				if err := tx.Delete(fs.k.sweep(r[0])); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return wrap(op, "", err)
		}
	}
	return nil
}
