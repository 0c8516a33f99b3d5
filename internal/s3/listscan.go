package s3

import "strings"

// ListScan folds the keys of a bucket, visited in ascending order, into
// one ListPage: the prefix filter, the delimiter's common prefixes,
// StartAfter and the page size. Backends differ only in how they visit
// keys, so each drives a ListScan and the listing rules live here once.
// A backend skips each common prefix with one seek past it, the way a
// directory scan skips a subdirectory.
type ListScan struct {
	in  ListInput
	max int
	// Page is the page so far; it is the result once the scan is done or
	// runs out of keys.
	Page ListPage
}

// NewListScan starts the listing of in. The scan visits keys from the
// first >= pos (> pos unless incl); ok is false when no key can follow
// StartAfter, and the page is empty.
func NewListScan(in ListInput) (s *ListScan, pos string, incl, ok bool) {
	s = &ListScan{in: in, max: in.Max}
	if s.max <= 0 || s.max > 1000 {
		s.max = 1000
	}
	pos, incl = in.Prefix, true
	if in.StartAfter >= in.Prefix {
		pos, incl = in.StartAfter, false
		// A StartAfter that is itself a common prefix (a page ended on
		// it) resumes past everything under it.
		if in.Delimiter != "" && strings.HasPrefix(in.StartAfter, in.Prefix) {
			rest := in.StartAfter[len(in.Prefix):]
			if i := strings.Index(rest, in.Delimiter); i >= 0 && i+len(in.Delimiter) == len(rest) {
				if pos = prefixEnd(in.StartAfter); pos == "" {
					return s, "", false, false
				}
				incl = true
			}
		}
	}
	return s, pos, incl, true
}

// Max is the page size, in 1..1000.
func (s *ListScan) Max() int { return s.max }

// Add folds key, the next key of the scan. done means the page is
// complete: key is past the prefix, or the page is full (Truncated).
// When key falls under a common prefix, Add records the prefix and
// returns it, with resume the first key past it, where the scan goes on
// (inclusive); done when there is none. Otherwise key is an object, and
// obj gives its info.
func (s *ListScan) Add(key string, obj func() ObjectInfo) (prefix, resume string, done bool) {
	page := &s.Page
	if !strings.HasPrefix(key, s.in.Prefix) {
		return "", "", true
	}
	if len(page.Objects)+len(page.CommonPrefixes) == s.max {
		page.Truncated = true
		return "", "", true
	}
	if s.in.Delimiter != "" {
		rest := key[len(s.in.Prefix):]
		if i := strings.Index(rest, s.in.Delimiter); i >= 0 {
			cp := s.in.Prefix + rest[:i+len(s.in.Delimiter)]
			page.CommonPrefixes = append(page.CommonPrefixes, cp)
			page.Next = cp
			resume = prefixEnd(cp)
			return cp, resume, resume == ""
		}
	}
	page.Objects = append(page.Objects, obj())
	page.Next = key
	return "", "", false
}

// prefixEnd is the smallest string greater than every string with prefix
// p, or "" if there is none.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}
