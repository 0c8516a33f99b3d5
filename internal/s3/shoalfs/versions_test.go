package shoalfs

import (
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// The version store's escaping keeps the order of keys and round-trips.
func TestEscapePiece(t *testing.T) {
	keys := []string{"", "-", ".", "./", "/", "0", "a", "a\x7f", "a\x80", "a\xc3\xa9", "a\xff", "a-", "a.b", "a/b", "a0", "\x7f", "\x80", "\xff", "a\x01", "a~"}
	sort.Strings(keys)
	for i, k := range keys {
		if got := unescapePiece(escapePiece(k)); got != k {
			t.Errorf("%q round-trips to %q", k, got)
		}
		e := escapePiece(k)
		if strings.ContainsAny(e, "/\x00") || e == "." || e == ".." || !utf8.ValidString(e) || e >= belowMarks {
			t.Errorf("%q escapes to a bad name %q", k, e)
		}
		for _, l := range keys[i+1:] {
			if !(escapePiece(k) < escapePiece(l)) {
				t.Errorf("order: %q < %q but escaped %q >= %q", k, l, escapePiece(k), escapePiece(l))
			}
		}
	}
}
