package cli

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// No test may reach whatever listens on the real default port.
	defaultAddr = closedAddr()
	os.Exit(m.Run())
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// With neither --addr nor --data (nor SHOAL_ADDR, SHOAL_DATA) and no
// server on the default address, a command fails saying how to choose,
// and creates nothing in the current directory.
func TestNoTargetFails(t *testing.T) {
	t.Setenv("SHOAL_ADDR", "")
	t.Setenv("SHOAL_DATA", "")
	cwd := t.TempDir()
	t.Chdir(cwd)
	os.WriteFile("f", []byte("payload"), 0o644)
	for _, args := range [][]string{{"fs", "put", "f", "/x"}, {"fs", "ls"}, {"fsck"}, {"kv", "list"}, {"admin", "fs", "list"}} {
		r := run(t, nil, args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "no server listens on "+defaultAddr) ||
			!strings.Contains(r.stderr, "--addr HOST:PORT") || !strings.Contains(r.stderr, "--data DIR") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(cwd, "data")); !os.IsNotExist(err) {
		t.Fatalf("./data was created (stat: %v)", err)
	}
}

// With neither flag, a server listening on the default address is used;
// SHOAL_DATA still picks a local directory.
func TestDefaultAddrServer(t *testing.T) {
	t.Setenv("SHOAL_ADDR", "")
	t.Setenv("SHOAL_DATA", "")
	addr, _ := startServer(t, t.TempDir())
	old := defaultAddr
	defaultAddr = addr
	t.Cleanup(func() { defaultAddr = old })
	cwd := t.TempDir()
	t.Chdir(cwd)
	os.WriteFile("f", []byte("payload"), 0o644)
	if r := run(t, nil, "fs", "put", "f", "/x"); r.code != 0 {
		t.Fatalf("put to the default server: %+v", r)
	}
	if r := run(t, nil, "fs", "--addr", addr, "cat", "/x"); r.code != 0 || r.stdout != "payload" {
		t.Fatalf("cat from the server: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(cwd, "data")); !os.IsNotExist(err) {
		t.Fatalf("./data was created (stat: %v)", err)
	}
	dir := t.TempDir()
	t.Setenv("SHOAL_DATA", dir)
	if r := run(t, nil, "fs", "mkdir", "local"); r.code != 0 {
		t.Fatalf("mkdir with SHOAL_DATA: %+v", r)
	}
	if got := fsh(t, dir, "ls"); got != "local\n" {
		t.Fatalf("SHOAL_DATA directory holds %q", got)
	}
}

// A wrong --addr fails at once with a message naming the address and
// what answered there.
func TestWrongAddr(t *testing.T) {
	// The server's block port speaks HTTP/1.1, as the S3 port does.
	_, _, banner := startServerOut(t, t.TempDir())
	m := regexp.MustCompile(`blocks:\s+(\S+)`).FindStringSubmatch(banner())
	if m == nil {
		t.Fatalf("no block address in the banner %q", banner())
	}
	blocks := m[1]
	refused := closedAddr()
	cases := []struct{ addr, want string }{
		{blocks, "shoal: ls: " + blocks + " answered HTTP, not the Shoal API"},
		{refused, "shoal: ls: " + refused + " refused the connection: no server listens there"},
		{"nosuch.invalid:7700", "shoal: ls: nosuch.invalid:7700 does not resolve"},
		{"127.0.0.1", "shoal: ls: 127.0.0.1 has no port (want host:port): did you mean --addr 127.0.0.1:7700?"},
	}
	for _, tc := range cases {
		start := time.Now()
		r := run(t, nil, "fs", "--addr", tc.addr, "ls")
		if r.code != ExitFail || !strings.HasPrefix(r.stderr, tc.want) {
			t.Errorf("--addr %s: exit %d, stderr %q, want prefix %q", tc.addr, r.code, r.stderr, tc.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("--addr %s: failed after %v, want at once", tc.addr, d)
		}
	}
}

// get refuses to replace an existing local file without -f, and leaves
// nothing behind when the remote side fails.
func TestGetNoClobber(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	put(t, dir, "remote", "new")
	local := filepath.Join(tmp, "local")
	os.WriteFile(local, []byte("precious"), 0o644)
	r := fsFail(t, dir, 1, "get", "remote", local)
	if r.stderr != "shoal: get: "+local+": file exists\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	if b, _ := os.ReadFile(local); string(b) != "precious" {
		t.Fatalf("local file overwritten: %q", b)
	}
	fsh(t, dir, "get", "-f", "remote", local)
	if b, _ := os.ReadFile(local); string(b) != "new" {
		t.Fatalf("get -f: %q", b)
	}
	// Into a directory holding a file of the remote name: refused too.
	os.WriteFile(filepath.Join(tmp, "remote"), []byte("keep"), 0o644)
	fsFail(t, dir, 1, "get", "remote", tmp)
	if b, _ := os.ReadFile(filepath.Join(tmp, "remote")); string(b) != "keep" {
		t.Fatalf("file in directory overwritten: %q", b)
	}
}

func TestVersionFlag(t *testing.T) {
	v := run(t, nil, "version")
	r := run(t, nil, "--version")
	if r.code != 0 || r.stdout != v.stdout || !strings.HasPrefix(r.stdout, "shoal ") {
		t.Fatalf("--version: %+v, version: %+v", r, v)
	}
}

// bench --addr needs no --data: the run goes as far as dialling.
func TestBenchAddrWithoutData(t *testing.T) {
	refused := closedAddr()
	r := run(t, nil, "bench", "--addr", refused, "--workload", "meta", "--repeat", "1", "--scale", "0.1")
	if strings.Contains(r.stderr, "required flag") || !strings.Contains(r.stderr, refused+" refused the connection") {
		t.Fatalf("bench --addr: %+v", r)
	}
}

// df shows the disk's room (not 1 PiB) in columns whose header lines up
// with the values: the first left-aligned, the others right-aligned.
func TestDfColumns(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "f", "some bytes")
	for _, args := range [][]string{{"df"}, {"df", "-h"}} {
		out := fsh(t, dir, args...)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("%v: %q", args, out)
		}
		head, row := lines[0], lines[1]
		if len(head) != len(row) {
			t.Errorf("%v: header %d wide, row %d:\n%s", args, len(head), len(row), out)
		}
		ends := func(s string) []int {
			var e []int
			for i := range len(s) {
				if s[i] != ' ' && (i+1 == len(s) || s[i+1] == ' ') {
					e = append(e, i)
				}
			}
			return e
		}
		he, re := ends(head), ends(row)
		if len(he) != 9 || len(re) != 9 || !slices.Equal(he[1:], re[1:]) || !strings.HasPrefix(row, dir+" ") {
			t.Errorf("%v: columns do not line up:\n%s", args, out)
		}
		if strings.Contains(row, "1125899906842624") || strings.Contains(row, "1.0P") {
			t.Errorf("%v: df shows the 1 PiB placeholder:\n%s", args, out)
		}
	}
}
