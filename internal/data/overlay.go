package data

import (
	"slices"

	"github.com/shoalfs/shoal/internal/meta"
)

// segment is a visible run of a chunk: chunk bytes [Pos, Pos+Len) show
// bytes [Off, Off+Len) of slice ID, whose data is Size bytes long.
type segment struct {
	Pos, Len uint32
	ID       uint64
	Size     uint32
	Off      uint32
}

func (s segment) end() uint32 { return s.Pos + s.Len }

// visible overlays a chunk's slice records (oldest first) newest over
// oldest and returns the runs of slice data that show, in position order,
// clipped at limit (the file size within the chunk). Holes (ID 0) and
// ranges no record covers read as zeros and are not returned. Adjacent
// runs of one slice that continue each other are merged.
func visible(recs []meta.Slice, limit uint32) []segment {
	var segs, next []segment
	for _, r := range recs {
		if r.Len == 0 || r.Pos >= limit {
			continue
		}
		rs, re := r.Pos, r.Pos+r.Len
		next = next[:0]
		inserted := false
		for _, s := range segs {
			if s.end() <= rs || s.Pos >= re {
				if !inserted && s.Pos >= re {
					next = append(next, segment{rs, r.Len, r.ID, r.Size, r.Off})
					inserted = true
				}
				next = append(next, s)
				continue
			}
			if s.Pos < rs {
				next = append(next, segment{s.Pos, rs - s.Pos, s.ID, s.Size, s.Off})
			}
			if !inserted {
				next = append(next, segment{rs, r.Len, r.ID, r.Size, r.Off})
				inserted = true
			}
			if s.end() > re {
				next = append(next, segment{re, s.end() - re, s.ID, s.Size, s.Off + (re - s.Pos)})
			}
		}
		if !inserted {
			next = append(next, segment{rs, r.Len, r.ID, r.Size, r.Off})
		}
		segs, next = next, segs
	}
	out := segs[:0]
	for _, s := range segs {
		if s.ID == 0 || s.Pos >= limit {
			continue
		}
		if s.end() > limit {
			s.Len = limit - s.Pos
		}
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.ID == s.ID && p.end() == s.Pos && p.Off+p.Len == s.Off {
				p.Len += s.Len
				continue
			}
		}
		out = append(out, s)
	}
	return slices.Clip(out)
}
