package blockserver

import (
	"math"
	"strconv"
	"strings"

	"github.com/shoalfs/shoal/internal/fserr"
)

// byteRange is one parsed "bytes=" range: start-end (end inclusive,
// end < 0 for open-ended) or, when suffix is set, the last `start` bytes.
type byteRange struct {
	set    bool
	suffix bool
	start  int64
	end    int64
}

// length is the number of bytes asked for, -1 for "to the end". Only
// meaningful for a non-suffix range.
func (r byteRange) length() int64 {
	if r.end < 0 {
		return -1
	}
	return r.end - r.start + 1
}

// resolve applies r to an object of size bytes: the range is truncated
// to the object, and ok is false when it starts at or past the end (or
// is a suffix of zero bytes), as HTTP's 416.
func (r byteRange) resolve(size int64) (off, n int64, ok bool) {
	if r.suffix {
		if r.start == 0 || size == 0 {
			return 0, 0, false
		}
		n = min(r.start, size)
		return size - n, n, true
	}
	if r.start >= size {
		return 0, 0, false
	}
	n = size - r.start
	if r.end >= 0 && r.end-r.start+1 < n {
		n = r.end - r.start + 1
	}
	return r.start, n, true
}

// parseRange parses a Range header holding at most one byte range. An
// empty header is no range. Several ranges are refused: the client never
// asks for them and serving them would need multipart bodies.
func parseRange(h string) (byteRange, error) {
	const op = "blockserver.Range"
	if h == "" {
		return byteRange{}, nil
	}
	bad := func(why string) (byteRange, error) {
		return byteRange{}, fserr.Errorf(op, fserr.Invalid, "blockserver: bad Range %q: %s", h, why)
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return bad("unit is not bytes")
	}
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, ",") {
		return bad("more than one range")
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return bad("no '-'")
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	num := func(s string) (int64, bool) {
		// ParseInt accepts a sign; HTTP does not.
		if s == "" || s[0] < '0' || s[0] > '9' {
			return 0, false
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	}
	if first == "" {
		n, ok := num(last)
		if !ok {
			return bad("bad suffix length")
		}
		return byteRange{set: true, suffix: true, start: n}, nil
	}
	start, ok := num(first)
	if !ok {
		return bad("bad first byte")
	}
	if last == "" {
		return byteRange{set: true, start: start, end: -1}, nil
	}
	end, ok := num(last)
	if !ok {
		return bad("bad last byte")
	}
	if end < start {
		return bad("last byte before first")
	}
	if end == math.MaxInt64 {
		end = -1 // the length would overflow; it means "to the end" anyway
	}
	return byteRange{set: true, start: start, end: end}, nil
}
