package agent

import (
	"bytes"
	"os"
	"syscall"
	"testing"
)

func TestWholeFileOps(t *testing.T) {
	a := startAgent(t, Config{})
	tc := dialAgent(t, a)
	build(tc, t.TempDir())

	data := bytes.Repeat([]byte("0123456789"), 1000)
	creat := int(os.O_WRONLY | os.O_CREATE | os.O_TRUNC)
	if n := tc.ok(OpWriteFile, "f", creat, 0o640, data).int(); n != int64(len(data)) {
		t.Fatalf("writefile: %d", n)
	}
	if r := tc.call(OpWriteFile, "f", creat|os.O_EXCL, 0o640, data); r.errno != int32(syscall.EEXIST) {
		t.Fatalf("writefile O_EXCL on an existing file: errno %d", r.errno)
	}
	tc.ok(OpWriteFile, "f", int(os.O_WRONLY|os.O_APPEND), 0, []byte("END"))
	want := append(append([]byte{}, data...), "END"...)

	for _, c := range []struct {
		start, end int64
		set        int
		want       []byte
	}{
		{0, 0, 0, want},
		{10, 20, 1, want[10:20]},
		{-3, 0, 0, []byte("END")},
		{5, -3, 1, want[5 : len(want)-3]},
		{20, 10, 1, nil},
		{int64(len(want)) + 5, 0, 0, nil},
	} {
		got := tc.ok(OpReadFile, "f", c.start, c.end, c.set).bytes()
		if !bytes.Equal(got, c.want) {
			t.Fatalf("readfile [%d:%d set %d]: %d bytes, want %d", c.start, c.end, c.set, len(got), len(c.want))
		}
	}
	if r := tc.call(OpReadFile, "nope", 0, 0, 0); r.errno != int32(syscall.ENOENT) {
		t.Fatalf("readfile of a missing file: errno %d", r.errno)
	}

	if n := tc.ok(OpCopy, "f", "g", 0).int(); n != int64(len(want)) {
		t.Fatalf("copy: %d", n)
	}
	if got := tc.ok(OpReadFile, "g", 0, 0, 0).bytes(); !bytes.Equal(got, want) {
		t.Fatal("copy: content differs")
	}
	d := tc.ok(OpStat, "g", 1)
	if _, mode := d.int(), d.int(); mode&0o777 != 0o640 {
		t.Fatalf("copy: mode %o", mode)
	}
	if r := tc.call(OpCopy, "f", "g", 1); r.errno != int32(syscall.EEXIST) {
		t.Fatalf("exclusive copy onto a file: errno %d", r.errno)
	}
	tc.ok(OpMkdir, "dir", 0o755, 0)
	if r := tc.call(OpCopy, "dir", "h", 0); r.errno != int32(syscall.EISDIR) {
		t.Fatalf("copy of a directory: errno %d", r.errno)
	}

	// OPEN with a prefetch answers the first bytes too; older callers
	// (three arguments) get the handle alone.
	d = tc.ok(OpOpen, "f", int(os.O_RDONLY), 0, 16)
	h := d.int()
	if st := d.int(); st != 0 {
		t.Fatalf("prefetch status %d", st)
	}
	if got := d.bytes(); !bytes.Equal(got, want[:16]) {
		t.Fatalf("prefetch %q", got)
	}
	tc.ok(OpClose, h)
	d = tc.ok(OpOpen, "f", int(os.O_RDONLY), 0)
	h = d.int()
	if len(d.b) != 0 {
		t.Fatalf("open without prefetch answered %d more bytes", len(d.b))
	}
	tc.ok(OpClose, h)

	st := tc.ok(OpStats)
	if req, inflight, most := st.int(), st.int(), st.int(); req < 10 || inflight != 0 || most < 1 {
		t.Fatalf("stats: %d requests, %d in flight, %d at most", req, inflight, most)
	}

	tc.ok(OpMkdir, "b", 0o755, 0)
	if ns := tc.ok(OpSDKBench, "create", "b", 3, 10).int(); ns < 0 {
		t.Fatal("negative time")
	}
	tc.ok(OpSDKBench, "read", "b", 3, 10)
}
