package meta

import (
	"reflect"
	"testing"
)

// TestApplyLockMerge: same-type ranges that touch or overlap become one
// record; a different type in the middle splits one into three.
func TestApplyLockMerge(t *testing.T) {
	w := func(s, e uint64) lockRec { return lockRec{start: s, end: e, typ: WriteLock} }
	r := func(s, e uint64) lockRec { return lockRec{start: s, end: e, typ: ReadLock} }
	u := func(s, e uint64) lockRec { return lockRec{start: s, end: e, typ: Unlock} }
	cases := []struct {
		mine []lockRec
		want lockRec
		out  []lockRec
	}{
		{[]lockRec{w(0, 2)}, w(3, 5), []lockRec{w(0, 5)}},
		{[]lockRec{w(0, 2), w(6, 8)}, w(3, 5), []lockRec{w(0, 8)}},
		{[]lockRec{w(0, 9)}, r(3, 5), []lockRec{w(0, 2), w(6, 9), r(3, 5)}},
		{[]lockRec{w(0, 9)}, u(3, 5), []lockRec{w(0, 2), w(6, 9)}},
		{[]lockRec{r(0, 2)}, w(3, LockEOF), []lockRec{r(0, 2), w(3, LockEOF)}},
		{[]lockRec{w(5, LockEOF)}, w(0, 4), []lockRec{w(0, LockEOF)}},
		{[]lockRec{w(0, LockEOF)}, u(0, LockEOF), nil},
	}
	for i, c := range cases {
		if got := applyLock(c.mine, c.want); !reflect.DeepEqual(got, c.out) {
			t.Errorf("case %d: %+v", i, got)
		}
	}
}
