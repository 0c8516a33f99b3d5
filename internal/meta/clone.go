package meta

import (
	"context"
	"errors"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Block sharing. A copy of file data never copies bytes: it appends to
// the destination's chunks records naming the source's slices (clipped
// with Slice.Off/Len, split where the shifted range crosses a chunk
// boundary), and counts each new record as one more reference in R, as
// Write does for a slice recorded twice. Blocks are immutable, so the two
// files then share them until both let go.
//
// Records are copied in their order within each source chunk, so
// newest-over-oldest reads the same in the copy; records from different
// source chunks land on disjoint ranges, so their relative order does not
// matter. Where the destination chunk already has data, a hole record
// covering the target range goes first, so parts of the source that were
// never written read as zeros, as in the source.
//
// A copy spans cloneChunksPerTxn source chunks per transaction (1 GiB):
// each transaction leaves a consistent, shorter destination (its size
// covers what is copied so far). Later transactions check that the
// source's size, mtime and ctime are those the first one saw and fail with
// Conflict otherwise, leaving the partial copy for the caller to discard:
// the caller copies into a file no one else sees (a staging inode) and
// renames it into place when done.

const cloneChunksPerTxn = 16

// CloneChunks makes dst's content that of src by sharing src's slices:
// dst is truncated to 0 (if it is not empty) and receives src's records;
// its size becomes src's. id must be able to read src and write dst.
func (fs *FS) CloneChunks(ctx context.Context, id Identity, src, dst Ino) (Attr, error) {
	const op = "meta.CloneChunks"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	sa, err := fs.GetAttr(ctx, src)
	if err != nil {
		return Attr{}, wrap(op, inoPath(src), err)
	}
	da, err := fs.GetAttr(ctx, dst)
	if err != nil {
		return Attr{}, wrap(op, inoPath(dst), err)
	}
	if da.Size > 0 && da.Type == TypeRegular {
		if _, err := fs.SetAttr(ctx, id, dst, SetSize, Attr{Size: 0}); err != nil {
			return Attr{}, wrap(op, inoPath(dst), err)
		}
	}
	return fs.copyRange(ctx, op, &id, src, 0, dst, 0, sa.Size, &sa)
}

// AppendChunks maps the whole of src into dst at offset, sharing src's
// slices (multipart completion links each part this way). dst's size
// becomes at least offset + src's size.
func (fs *FS) AppendChunks(ctx context.Context, id Identity, dst, src Ino, offset uint64) (Attr, error) {
	const op = "meta.AppendChunks"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	sa, err := fs.GetAttr(ctx, src)
	if err != nil {
		return Attr{}, wrap(op, inoPath(src), err)
	}
	return fs.copyRange(ctx, op, &id, src, 0, dst, offset, sa.Size, &sa)
}

// CopyRange makes bytes [dstOff, dstOff+length) of dst those of
// [srcOff, srcOff+length) of src, sharing src's slices. The source range
// must lie within src's size; dst grows to cover the range.
func (fs *FS) CopyRange(ctx context.Context, id Identity, src Ino, srcOff uint64, dst Ino, dstOff, length uint64) (Attr, error) {
	const op = "meta.CopyRange"
	if err := fs.check(op); err != nil {
		return Attr{}, err
	}
	return fs.copyRange(ctx, op, &id, src, srcOff, dst, dstOff, length, nil)
}

func (fs *FS) copyRange(ctx context.Context, op string, id *Identity, src Ino, srcOff uint64, dst Ino, dstOff, length uint64, seen *Attr) (Attr, error) {
	if src == dst {
		return Attr{}, fserr.Errorf(op, fserr.Invalid, "meta: copy range: source and destination are the same file")
	}
	if srcOff+length < srcOff || dstOff+length < dstOff || dstOff+length > MaxFileSize {
		return Attr{}, fserr.E(op, inoPath(dst), fserr.TooBig)
	}
	if fs.cfg.Capacity > 0 && length > 0 {
		cur, err := fs.GetAttr(ctx, dst)
		if err != nil {
			return Attr{}, wrap(op, inoPath(dst), err)
		}
		if end := dstOff + length; end > cur.Size {
			if over, err := fs.overLimit(ctx, int64(end-cur.Size), 0); err != nil || over {
				if err == nil {
					err = fserr.E(op, inoPath(dst), fserr.NoSpace)
				}
				return Attr{}, wrap(op, inoPath(dst), err)
			}
		}
	}
	var (
		out   Attr
		first = true
		snap  Attr
	)
	if seen != nil {
		snap = *seen
	}
	srcEnd := srcOff + length
	lo := srcOff / ChunkSize
	for {
		hi := lo + cloneChunksPerTxn // exclusive chunk index of this batch
		bStart := max(srcOff, lo*ChunkSize)
		bEnd := min(srcEnd, hi*ChunkSize)
		if bEnd < bStart {
			bEnd = bStart
		}
		err := fs.eng.Update(ctx, func(tx kv.Txn) error {
			var sn, dn node
			if err := getNode(tx, &fs.k, src, &sn); err != nil {
				return err
			}
			if sn.Type != TypeRegular {
				return fserr.E(op, inoPath(src), fserr.Invalid)
			}
			if first {
				if err := inodePermission(op, &sn.Attr, id, AccessRead); err != nil {
					return err
				}
				if seen != nil && (sn.Size != snap.Size || sn.Mtime != snap.Mtime || sn.Ctime != snap.Ctime) {
					return fserr.Errorf(op, fserr.Conflict, "meta: copy range: source %d changed", src)
				}
				if srcEnd > sn.Size {
					return fserr.Errorf(op, fserr.Invalid, "meta: copy range: [%d, %d) beyond the source's size %d", srcOff, srcEnd, sn.Size)
				}
			} else if sn.Size != snap.Size || sn.Mtime != snap.Mtime || sn.Ctime != snap.Ctime {
				return fserr.Errorf(op, fserr.Conflict, "meta: copy range: source %d changed during the copy", src)
			}
			if err := getNode(tx, &fs.k, dst, &dn); err != nil {
				return err
			}
			if dn.Type != TypeRegular {
				return fserr.E(op, inoPath(dst), fserr.Invalid)
			}
			if err := inodePermission(op, &dn.Attr, id, AccessWrite); err != nil {
				return err
			}
			if dn.Flags&FlagAppend != 0 {
				return fserr.E(op, inoPath(dst), fserr.NotPermitted)
			}
			if err := fs.copyBatchTx(tx, op, src, dst, srcOff, dstOff, bStart, bEnd, lo, hi); err != nil {
				return err
			}
			var u usageDelta
			if end := dstOff + (bEnd - srcOff); end > dn.Size {
				u.add(dst, int64(end-dn.Size), 0)
				dn.Size = end
			}
			now := fs.now()
			dn.Mtime, dn.Ctime = now, now
			dn.Mode &^= ModeSetuid
			if dn.Mode&(ModeSetgid|0010) == ModeSetgid|0010 {
				dn.Mode &^= ModeSetgid
			}
			if err := putNode(tx, &fs.k, &dn); err != nil {
				return err
			}
			out = dn.Attr
			if first {
				snap = sn.Attr
			}
			return u.apply(tx, &fs.k)
		})
		if err != nil {
			return Attr{}, wrap(op, inoPath(dst), err)
		}
		first = false
		if bEnd >= srcEnd {
			return out, nil
		}
		lo = hi
	}
}

// copyBatchTx appends to dst's chunks the records of src's chunks
// [lo, hi) clipped to [bStart, bEnd), shifted by dstOff-srcOff.
func (fs *FS) copyBatchTx(tx kv.Txn, op string, src, dst Ino, srcOff, dstOff, bStart, bEnd, lo, hi uint64) error {
	if bEnd <= bStart {
		return nil
	}
	// Chunk indexes stay far below 2^32 (MaxFileSize / ChunkSize = 2^24).
	pairs, err := tx.Scan(fs.k.chunk(src, uint32(lo)), fs.k.chunk(src, uint32(hi)), 0, false)
	if err != nil {
		return err
	}
	dstPos := func(s uint64) uint64 { return dstOff + (s - srcOff) }
	recs := map[uint32][]Slice{} // dst chunk -> records to append, in order
	var order []uint32
	add := func(idx uint32, s Slice) {
		if _, ok := recs[idx]; !ok {
			order = append(order, idx)
		}
		recs[idx] = append(recs[idx], s)
	}
	// A hole first wherever the destination already has data.
	for d, e := dstPos(bStart), dstPos(bEnd); d < e; {
		idx := d / ChunkSize
		pos := d % ChunkSize
		n := min(e-d, ChunkSize-pos)
		if _, err := tx.Get(fs.k.chunk(dst, uint32(idx))); err == nil {
			add(uint32(idx), Slice{Pos: uint32(pos), Len: uint32(n)})
		} else if !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		d += n
	}
	refs := map[uint64]int{}
	idxAt := pfxLen + 1 + 8
	for _, p := range pairs {
		cidx := uint64(u32(p.Key[idxAt:]))
		rs, err := decodeSlices(p.Value)
		if err != nil {
			return fserr.E(op, inoPath(src), fserr.Corrupt, err)
		}
		for _, r := range rs {
			a := cidx*ChunkSize + uint64(r.Pos)
			s, e := max(a, bStart), min(a+uint64(r.Len), bEnd)
			if s >= e {
				continue
			}
			off := uint64(r.Off) + (s - a)
			for d := dstPos(s); s < e; {
				pos := d % ChunkSize
				n := min(e-s, ChunkSize-pos)
				rec := Slice{ID: r.ID, Size: r.Size, Off: uint32(off), Len: uint32(n), Pos: uint32(pos)}
				if r.ID == 0 {
					rec.Off, rec.Size = 0, 0
				} else {
					refs[r.ID]++
				}
				add(uint32(d/ChunkSize), rec)
				s, d, off = s+n, d+n, off+n
			}
		}
	}
	for _, idx := range order {
		key := fs.k.chunk(dst, idx)
		v, err := tx.Get(key)
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		buf := make([]byte, len(v), len(v)+len(recs[idx])*sliceLen)
		copy(buf, v)
		for _, s := range recs[idx] {
			buf = appendSlice(buf, s)
		}
		if err := tx.Put(key, buf); err != nil {
			return err
		}
	}
	for id, c := range refs {
		if err := fs.addRefs(tx, id, c); err != nil {
			return err
		}
	}
	return nil
}

// CloneChunks is FS.CloneChunks.
func (s *Session) CloneChunks(ctx context.Context, id Identity, src, dst Ino) (Attr, error) {
	return s.fs.CloneChunks(ctx, id, src, dst)
}

// AppendChunks is FS.AppendChunks.
func (s *Session) AppendChunks(ctx context.Context, id Identity, dst, src Ino, offset uint64) (Attr, error) {
	return s.fs.AppendChunks(ctx, id, dst, src, offset)
}

// CopyRange is FS.CopyRange.
func (s *Session) CopyRange(ctx context.Context, id Identity, src Ino, srcOff uint64, dst Ino, dstOff, length uint64) (Attr, error) {
	return s.fs.CopyRange(ctx, id, src, srcOff, dst, dstOff, length)
}
