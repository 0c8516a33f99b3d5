package data

import (
	"fmt"
	"testing"

	"github.com/shoalfs/shoal/internal/blockfmt"
	"github.com/shoalfs/shoal/internal/meta"
)

func TestVisible(t *testing.T) {
	s := func(id uint64, size, off, length, pos uint32) meta.Slice {
		return meta.Slice{ID: id, Size: size, Off: off, Len: length, Pos: pos}
	}
	g := func(pos, length uint32, id uint64, size, off uint32) segment {
		return segment{Pos: pos, Len: length, ID: id, Size: size, Off: off}
	}
	const big = 1 << 30
	tests := []struct {
		name  string
		recs  []meta.Slice
		limit uint32
		want  []segment
	}{
		{"empty", nil, big, nil},
		{"one", []meta.Slice{s(1, 10, 0, 10, 0)}, big, []segment{g(0, 10, 1, 10, 0)}},
		{"offset record", []meta.Slice{s(1, 10, 3, 5, 100)}, big, []segment{g(100, 5, 1, 10, 3)}},
		{"zero length ignored", []meta.Slice{s(1, 10, 0, 0, 0)}, big, nil},
		{"disjoint out of order", []meta.Slice{s(1, 10, 0, 10, 50), s(2, 10, 0, 10, 0)}, big,
			[]segment{g(0, 10, 2, 10, 0), g(50, 10, 1, 10, 0)}},
		{"adjacent different slices", []meta.Slice{s(1, 10, 0, 10, 0), s(2, 10, 0, 10, 10)}, big,
			[]segment{g(0, 10, 1, 10, 0), g(10, 10, 2, 10, 0)}},
		{"adjacent same slice merged", []meta.Slice{s(1, 20, 0, 10, 0), s(1, 20, 10, 10, 10)}, big,
			[]segment{g(0, 20, 1, 20, 0)}},
		{"adjacent same slice not continuous", []meta.Slice{s(1, 20, 0, 10, 0), s(1, 20, 0, 10, 10)}, big,
			[]segment{g(0, 10, 1, 20, 0), g(10, 10, 1, 20, 0)}},
		{"full overwrite", []meta.Slice{s(1, 10, 0, 10, 0), s(2, 10, 0, 10, 0)}, big, []segment{g(0, 10, 2, 10, 0)}},
		{"older wider", []meta.Slice{s(1, 100, 0, 100, 0), s(2, 10, 0, 10, 40)}, big,
			[]segment{g(0, 40, 1, 100, 0), g(40, 10, 2, 10, 0), g(50, 50, 1, 100, 50)}},
		{"newer wider", []meta.Slice{s(1, 10, 0, 10, 40), s(2, 100, 0, 100, 0)}, big, []segment{g(0, 100, 2, 100, 0)}},
		{"overlap left", []meta.Slice{s(1, 10, 0, 10, 10), s(2, 10, 0, 10, 5)}, big,
			[]segment{g(5, 10, 2, 10, 0), g(15, 5, 1, 10, 5)}},
		{"overlap right", []meta.Slice{s(1, 10, 0, 10, 10), s(2, 10, 0, 10, 15)}, big,
			[]segment{g(10, 5, 1, 10, 0), g(15, 10, 2, 10, 0)}},
		{"bridging two", []meta.Slice{s(1, 10, 0, 10, 0), s(2, 10, 0, 10, 20), s(3, 20, 0, 20, 5)}, big,
			[]segment{g(0, 5, 1, 10, 0), g(5, 20, 3, 20, 0), g(25, 5, 2, 10, 5)}},
		{"nested three", []meta.Slice{s(1, 100, 0, 100, 0), s(2, 50, 0, 50, 25), s(3, 10, 0, 10, 45)}, big,
			[]segment{g(0, 25, 1, 100, 0), g(25, 20, 2, 50, 0), g(45, 10, 3, 10, 0), g(55, 20, 2, 50, 30), g(75, 25, 1, 100, 75)}},
		{"hole punches", []meta.Slice{s(1, 100, 0, 100, 0), s(0, 0, 0, 20, 30)}, big,
			[]segment{g(0, 30, 1, 100, 0), g(50, 50, 1, 100, 50)}},
		{"data over hole", []meta.Slice{s(0, 0, 0, 100, 0), s(1, 10, 0, 10, 50)}, big, []segment{g(50, 10, 1, 10, 0)}},
		{"hole then rewrite merges", []meta.Slice{s(1, 100, 0, 100, 0), s(0, 0, 0, 20, 30), s(1, 100, 30, 20, 30)}, big,
			[]segment{g(0, 100, 1, 100, 0)}},
		{"clip at limit", []meta.Slice{s(1, 100, 0, 100, 0)}, 60, []segment{g(0, 60, 1, 100, 0)}},
		{"clip drops beyond", []meta.Slice{s(1, 10, 0, 10, 0), s(2, 10, 0, 10, 70)}, 60, []segment{g(0, 10, 1, 10, 0)}},
		{"limit zero", []meta.Slice{s(1, 10, 0, 10, 0)}, 0, nil},
		{"same range many times", []meta.Slice{s(1, 4, 0, 4, 0), s(2, 4, 0, 4, 0), s(3, 4, 0, 4, 0), s(4, 4, 0, 2, 1)}, big,
			[]segment{g(0, 1, 3, 4, 0), g(1, 2, 4, 4, 0), g(3, 1, 3, 4, 3)}},
		{"chunk end", []meta.Slice{s(1, 8, 0, 8, meta.ChunkSize-8)}, meta.ChunkSize, []segment{g(meta.ChunkSize-8, 8, 1, 8, 0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := visible(tc.recs, tc.limit)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("visible(%v, %d)\n got %v\nwant %v", tc.recs, tc.limit, got, tc.want)
			}
		})
	}
}

// TestVisibleModel checks visible against painting bytes, on random records.
func TestVisibleModel(t *testing.T) {
	const n = 200
	seed := uint64(1)
	rnd := func(m uint32) uint32 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return uint32(seed>>33) % m
	}
	for iter := range 2000 {
		var recs []meta.Slice
		type px struct {
			id  uint64
			off uint32
		}
		var model [n]px
		for i := range int(rnd(8)) + 1 {
			pos, l := rnd(n), rnd(60)+1
			l = min(l, n-pos)
			id := uint64(i + 1)
			if rnd(4) == 0 {
				id = 0
			}
			off := rnd(10)
			recs = append(recs, meta.Slice{ID: id, Size: off + l, Off: off, Len: l, Pos: pos})
			for j := range l {
				model[pos+j] = px{id, off + j}
			}
		}
		limit := rnd(n + 1)
		var got [n]px
		for _, sg := range visible(recs, limit) {
			if sg.ID == 0 || sg.end() > limit {
				t.Fatalf("iter %d: bad segment %v", iter, sg)
			}
			for j := range sg.Len {
				got[sg.Pos+j] = px{sg.ID, sg.Off + j}
			}
		}
		for i := range n {
			want := model[i]
			if uint32(i) >= limit || want.id == 0 {
				want = px{}
			}
			if got[i] != want {
				t.Fatalf("iter %d: recs %v limit %d: byte %d = %v, want %v", iter, recs, limit, i, got[i], want)
			}
		}
	}
}

func TestBlockKey(t *testing.T) {
	for _, tc := range []struct {
		id          uint64
		index, blen int
	}{{1, 0, 1}, {1234567890, 15, meta.BlockSize}, {999, 3, 17}} {
		k := blockfmt.Key(tc.id, tc.index, tc.blen)
		id, index, blen, ok := blockfmt.ParseKey(k)
		if !ok || id != tc.id || index != tc.index || blen != tc.blen {
			t.Errorf("blockfmt.ParseKey(%q) = %d %d %d %v", k, id, index, blen, ok)
		}
	}
	if k := blockfmt.Key(1234567890, 2, 100); k != "chunks/1234/1234567/1234567890_2_100" {
		t.Errorf("blockKey = %q", k)
	}
	for _, k := range []string{"chunks/0/0/1_0_0", "chunks/1/0/1_0_5", "x/0/0/1_0_5", "chunks/0/0/1_0", "chunks/0/0/01_0_5"} {
		if _, _, _, ok := blockfmt.ParseKey(k); ok {
			t.Errorf("blockfmt.ParseKey(%q) accepted", k)
		}
	}
}
