package blockserver

import (
	"strconv"
	"testing"
)

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		h       string
		size    int64
		off, n  int64
		ok, bad bool
	}{
		{h: "bytes=0-0", size: 10, off: 0, n: 1, ok: true},
		{h: "bytes=2-5", size: 10, off: 2, n: 4, ok: true},
		{h: "bytes=2-", size: 10, off: 2, n: 8, ok: true},
		{h: "bytes= 2 - 5 ", size: 10, off: 2, n: 4, ok: true},
		{h: "bytes=8-100", size: 10, off: 8, n: 2, ok: true},
		{h: "bytes=10-", size: 10},
		{h: "bytes=10-20", size: 10},
		{h: "bytes=0-", size: 0},
		{h: "bytes=-3", size: 10, off: 7, n: 3, ok: true},
		{h: "bytes=-30", size: 10, off: 0, n: 10, ok: true},
		{h: "bytes=-0", size: 10},
		{h: "bytes=-3", size: 0},
		{h: "bytes=0-9223372036854775807", size: 10, off: 0, n: 10, ok: true},
		{h: "bytes=5-9223372036854775807", size: 10, off: 5, n: 5, ok: true},
		{h: "bytes=5-2", bad: true},
		{h: "bytes=1-2,4-5", bad: true},
		{h: "bytes=+1-2", bad: true},
		{h: "bytes=1-+2", bad: true},
		{h: "bytes=--1", bad: true},
		{h: "bytes=-", bad: true},
		{h: "bytes=", bad: true},
		{h: "bytes=a-b", bad: true},
		{h: "bytes=99999999999999999999-", bad: true},
		{h: "items=0-1", bad: true},
		{h: "bytes 0-1", bad: true},
	} {
		r, err := parseRange(tc.h)
		if (err != nil) != tc.bad {
			t.Errorf("parseRange(%q) error = %v, want bad=%v", tc.h, err, tc.bad)
			continue
		}
		if tc.bad {
			continue
		}
		off, n, ok := r.resolve(tc.size)
		if ok != tc.ok || (ok && (off != tc.off || n != tc.n)) {
			t.Errorf("%q on %d bytes: off %d n %d ok %v; want %d %d %v", tc.h, tc.size, off, n, ok, tc.off, tc.n, tc.ok)
		}
	}
	if r, err := parseRange(""); err != nil || r.set {
		t.Errorf("empty header: %+v, %v", r, err)
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-1", "bytes=5-", "bytes=-7", "bytes=1-2,3-4", "bytes=9223372036854775807-", ""} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		r, err := parseRange(h)
		if err != nil {
			return
		}
		if !r.set {
			if h != "" {
				t.Fatalf("%q parsed as no range", h)
			}
			return
		}
		if !r.suffix && r.end >= 0 && r.length() <= 0 {
			t.Fatalf("%q: length %d", h, r.length())
		}
		off, n, ok := r.resolve(size)
		if !ok {
			return
		}
		if off < 0 || n <= 0 || off > size || n > size-off {
			t.Fatalf("%q on %d bytes: off %d n %d outside the object", h, size, off, n)
		}
		// The canonical rendering of what was parsed parses the same.
		if !r.suffix {
			s := "bytes=" + strconv.FormatInt(r.start, 10) + "-"
			if r.end >= 0 {
				s += strconv.FormatInt(r.end, 10)
			}
			if r2, err := parseRange(s); err != nil || r2 != r {
				t.Fatalf("%q -> %+v, re-rendered %q -> %+v, %v", h, r, s, r2, err)
			}
		}
	})
}
