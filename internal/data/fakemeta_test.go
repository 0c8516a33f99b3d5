package data

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// fakeMeta implements the Meta methods the data layer calls, with the
// contract's semantics, for unit tests. Other methods panic.
type fakeMeta struct {
	Meta

	mu        sync.Mutex
	nextSlice uint64
	attrs     map[meta.Ino]*meta.Attr
	chunks    map[meta.Ino]map[uint32][]meta.Slice
	refs      map[uint64]int
	freed     []meta.Slice
	reclaim   []meta.Ino
	writes    int
}

var _ Meta = (*fakeMeta)(nil)

func newFakeMeta() *fakeMeta {
	return &fakeMeta{
		attrs:  make(map[meta.Ino]*meta.Attr),
		chunks: make(map[meta.Ino]map[uint32][]meta.Slice),
		refs:   make(map[uint64]int),
	}
}

// create makes a regular file and returns its attributes.
func (f *fakeMeta) create(ino meta.Ino) meta.Attr {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attrs[ino] = &meta.Attr{Ino: ino, Type: meta.TypeRegular}
	f.chunks[ino] = make(map[uint32][]meta.Slice)
	return *f.attrs[ino]
}

// remove queues ino for reclaim, as the last unlink and close would.
func (f *fakeMeta) remove(ino meta.Ino) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reclaim = append(f.reclaim, ino)
}

func (f *fakeMeta) records(ino meta.Ino, idx uint32) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.chunks[ino][idx])
}

func (f *fakeMeta) liveSlices(fn func(meta.Slice) error) error {
	f.mu.Lock()
	var all []meta.Slice
	for _, cs := range f.chunks {
		for _, recs := range cs {
			all = append(all, recs...)
		}
	}
	f.mu.Unlock()
	for _, s := range all {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeMeta) refLocked(s meta.Slice) {
	if s.ID != 0 {
		f.refs[s.ID]++
	}
}

func (f *fakeMeta) unrefLocked(s meta.Slice) {
	if s.ID == 0 {
		return
	}
	f.refs[s.ID]--
	if f.refs[s.ID] == 0 {
		delete(f.refs, s.ID)
		f.freed = append(f.freed, meta.Slice{ID: s.ID, Size: s.Size})
	}
}

func (f *fakeMeta) GetAttr(ctx context.Context, ino meta.Ino) (meta.Attr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.attrs[ino]
	if a == nil {
		return meta.Attr{}, fserr.E("meta.GetAttr", fserr.NotExist)
	}
	return *a, nil
}

func (f *fakeMeta) SetAttr(ctx context.Context, id meta.Identity, ino meta.Ino, mask uint32, attr meta.Attr) (meta.Attr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.attrs[ino]
	if a == nil {
		return meta.Attr{}, fserr.E("meta.SetAttr", fserr.NotExist)
	}
	if mask&meta.SetSize != 0 && attr.Size < a.Size {
		cs := f.chunks[ino]
		for idx, recs := range cs {
			base := uint64(idx) * meta.ChunkSize
			if base >= attr.Size {
				for _, r := range recs {
					f.unrefLocked(r)
				}
				delete(cs, idx)
			} else if base+meta.ChunkSize > attr.Size {
				pos := uint32(attr.Size - base)
				cs[idx] = append(recs, meta.Slice{Pos: pos, Len: meta.ChunkSize - pos})
			}
		}
	}
	if mask&meta.SetSize != 0 {
		a.Size = attr.Size
	}
	return *a, nil
}

func (f *fakeMeta) ReadChunk(ctx context.Context, ino meta.Ino, idx uint32) ([]meta.Slice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.attrs[ino] == nil {
		return nil, fserr.E("meta.ReadChunk", fserr.NotExist)
	}
	return slices.Clone(f.chunks[ino][idx]), nil
}

func (f *fakeMeta) NewSliceID(ctx context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextSlice++
	return f.nextSlice, nil
}

func (f *fakeMeta) Write(ctx context.Context, ino meta.Ino, writes []meta.ChunkWrite, mtime time.Time) (meta.Attr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.attrs[ino]
	if a == nil {
		return meta.Attr{}, fserr.E("meta.Write", fserr.NotExist)
	}
	f.writes++
	for _, w := range writes {
		f.chunks[ino][w.Index] = append(f.chunks[ino][w.Index], w.Slice)
		f.refLocked(w.Slice)
		if end := uint64(w.Index)*meta.ChunkSize + uint64(w.Slice.Pos) + uint64(w.Slice.Len); end > a.Size {
			a.Size = end
		}
	}
	a.Mtime = mtime.UnixNano()
	return *a, nil
}

func (f *fakeMeta) CompactChunk(ctx context.Context, ino meta.Ino, idx uint32, old, repl []meta.Slice) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.chunks[ino][idx]
	if len(cur) < len(old) || !slices.Equal(cur[:len(old)], old) {
		return fserr.E("meta.CompactChunk", fserr.Conflict)
	}
	for _, r := range repl {
		f.refLocked(r)
	}
	for _, r := range old {
		f.unrefLocked(r)
	}
	f.chunks[ino][idx] = append(slices.Clone(repl), cur[len(old):]...)
	return nil
}

func (f *fakeMeta) Reclaim(ctx context.Context, limit int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for len(f.reclaim) > 0 && n < limit {
		ino := f.reclaim[0]
		f.reclaim = f.reclaim[1:]
		for _, recs := range f.chunks[ino] {
			for _, r := range recs {
				f.unrefLocked(r)
			}
		}
		delete(f.chunks, ino)
		delete(f.attrs, ino)
		n++
	}
	return n, nil
}

func (f *fakeMeta) FreedSlices(ctx context.Context, limit int) ([]meta.Slice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(limit, len(f.freed))
	return slices.Clone(f.freed[:n]), nil
}

func (f *fakeMeta) ForgetSlices(ctx context.Context, ids []uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.freed = slices.DeleteFunc(f.freed, func(s meta.Slice) bool { return slices.Contains(ids, s.ID) })
	return nil
}

func (f *fakeMeta) SweepRanges(ctx context.Context, limit int) ([][2]uint64, error) {
	return nil, nil
}

func (f *fakeMeta) ForgetSweep(ctx context.Context, ranges [][2]uint64) error { return nil }

func (f *fakeMeta) LiveSlices(ctx context.Context, fn func(meta.Slice) error) error {
	if err := f.liveSlices(fn); err != nil {
		return err
	}
	f.mu.Lock()
	freed := slices.Clone(f.freed)
	f.mu.Unlock()
	for _, s := range freed {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}
