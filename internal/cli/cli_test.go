package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	shoal "github.com/shoalfs/shoal"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

type result struct {
	stdout, stderr string
	code           int
}

// run executes "shoal args..." in-process with stdin.
func run(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, stdin, &out, &errb)
	return result{out.String(), errb.String(), code}
}

// fsh runs "shoal fs --data dir args..." and fails the test unless it
// exits 0 with nothing on stderr.
func fsh(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := run(t, nil, append([]string{"fs", "--data", dir}, args...)...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("shoal fs %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fsFail runs "shoal fs --data dir args..." expecting exit code want.
func fsFail(t *testing.T, dir string, want int, args ...string) result {
	t.Helper()
	r := run(t, nil, append([]string{"fs", "--data", dir}, args...)...)
	if r.code != want {
		t.Fatalf("shoal fs %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), r.code, want, r.stderr)
	}
	return r
}

func TestPutGetRoundTrip(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	data := make([]byte, 10<<20)
	rand.Read(data)
	src := filepath.Join(tmp, "src.bin")
	if err := os.WriteFile(src, data, 0o640); err != nil {
		t.Fatal(err)
	}
	fsh(t, dir, "mkdir", "/in")
	// stderr is a buffer, not a terminal: no progress output at all.
	fsh(t, dir, "put", src, "/in/") // into a directory by trailing slash
	fsh(t, dir, "put", src, "in/copy.bin")
	out := filepath.Join(tmp, "out.bin")
	fsh(t, dir, "get", "/in/src.bin", out)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("get returned %d bytes that differ from the %d put", len(got), len(data))
	}
	if s := fsh(t, dir, "get", "in/copy.bin", "-"); s != string(data) {
		t.Fatalf("get to stdout returned %d bytes that differ", len(s))
	}
	// get into an existing local directory keeps the remote name.
	fsh(t, dir, "get", "in/copy.bin", tmp)
	if got, _ := os.ReadFile(filepath.Join(tmp, "copy.bin")); !bytes.Equal(got, data) {
		t.Fatal("get into a directory: content differs")
	}
	if s := fsh(t, dir, "ls", "-l", "in/src.bin"); !strings.HasPrefix(s, "-rw-r----- ") || !strings.Contains(s, " 10485760 ") {
		t.Fatalf("put did not keep mode and size: %q", s)
	}

	// An existing file is replaced only with -f.
	r := fsFail(t, dir, 1, "put", src, "in/copy.bin")
	if r.stderr != "shoal: put: in/copy.bin: file exists\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	small := filepath.Join(tmp, "small")
	os.WriteFile(small, []byte("small"), 0o644)
	fsh(t, dir, "put", "-f", small, "in/copy.bin")
	if s := fsh(t, dir, "cat", "in/copy.bin"); s != "small" {
		t.Fatalf("put -f: cat = %q", s)
	}
}

func TestPutGetRecursive(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	src := filepath.Join(tmp, "tree")
	os.MkdirAll(filepath.Join(src, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(src, "a", "b", "f"), []byte("deep"), 0o644)
	os.WriteFile(filepath.Join(src, "top"), []byte("top"), 0o644)
	os.Symlink("a/b/f", filepath.Join(src, "link"))

	fsFail(t, dir, 1, "put", src, "x")
	fsh(t, dir, "put", "-r", src, "/")
	if got := fsh(t, dir, "cat", "tree/a/b/f", "tree/top"); got != "deeptop" {
		t.Fatalf("cat after put -r = %q", got)
	}
	if got := fsh(t, dir, "ls", "-l", "tree/link"); !strings.HasSuffix(got, "tree/link -> a/b/f\n") {
		t.Fatalf("symlink after put -r: %q", got)
	}
	back := filepath.Join(tmp, "back")
	fsh(t, dir, "get", "-r", "tree", back)
	if b, _ := os.ReadFile(filepath.Join(back, "a", "b", "f")); string(b) != "deep" {
		t.Fatalf("get -r: %q", b)
	}
	if l, _ := os.Readlink(filepath.Join(back, "link")); l != "a/b/f" {
		t.Fatalf("get -r symlink: %q", l)
	}
}

func TestPutStdin(t *testing.T) {
	dir := t.TempDir()
	r := run(t, strings.NewReader("from stdin\n"), "fs", "--data", dir, "put", "-", "/piped.txt")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("put -: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := fsh(t, dir, "cat", "piped.txt"); got != "from stdin\n" {
		t.Fatalf("cat = %q", got)
	}
	// Stdin into a directory has no name to use: a usage error.
	r = run(t, strings.NewReader("x"), "fs", "--data", dir, "put", "-", "/")
	if r.code != 2 {
		t.Fatalf("put - /: exit %d, want 2", r.code)
	}
}

func TestLs(t *testing.T) {
	dir := t.TempDir()
	fsh(t, dir, "mkdir", "-p", "d/sub", "e")
	fsh(t, dir, "touch", "d/f1", "d/.hidden", "top")
	fsh(t, dir, "truncate", "-s", "1K", "d/f1")

	if got := fsh(t, dir, "ls"); got != "d\ne\ntop\n" {
		t.Fatalf("ls = %q", got)
	}
	if got := fsh(t, dir, "ls", "/d"); got != "f1\nsub\n" {
		t.Fatalf("ls /d = %q", got)
	}
	if got := fsh(t, dir, "ls", "-a", "d"); got != ".hidden\nf1\nsub\n" {
		t.Fatalf("ls -a d = %q", got)
	}
	if got := fsh(t, dir, "ls", "top", "e", "d/sub"); got != "top\n\ne:\n\nd/sub:\n" {
		t.Fatalf("ls of several = %q", got)
	}
	if got := fsh(t, dir, "ls", "-R", "d"); got != "d:\nf1\nsub\n\nd/sub:\n" {
		t.Fatalf("ls -R = %q", got)
	}
	long := fsh(t, dir, "ls", "-l", "d")
	lines := strings.Split(strings.TrimSuffix(long, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("ls -l d: %q", long)
	}
	re := regexp.MustCompile(`^-rw-r--r-- 1 0 0 1024 \d{4}-\d\d-\d\d \d\d:\d\d f1$`)
	if !re.MatchString(lines[0]) {
		t.Fatalf("ls -l line %q does not match %v", lines[0], re)
	}
	if !regexp.MustCompile(`^drwxr-xr-x +\d+ 0 0 +\d+ \S+ \S+ sub$`).MatchString(lines[1]) {
		t.Fatalf("ls -l dir line %q", lines[1])
	}
	if got := fsh(t, dir, "ls", "-d", "d"); got != "d\n" {
		t.Fatalf("ls -d = %q", got)
	}
}

func TestStat(t *testing.T) {
	dir := t.TempDir()
	fsh(t, dir, "touch", "f")
	fsh(t, dir, "truncate", "-s", "100", "f")
	got := fsh(t, dir, "stat", "/f")
	for _, want := range []string{"  File: /f\n", "  Size: 100 ", "Type: regular file\n", " Inode: ",
		"Links: 1\n", "Access: (0644/-rw-r--r--)  Uid: 0  Gid: 0\n", "Modify: ", "Change: ", " Flags: -\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("stat output lacks %q:\n%s", want, got)
		}
	}
	got = fsh(t, dir, "stat", ".")
	if !strings.Contains(got, "Type: directory\n") || !strings.Contains(got, "(0755/drwxr-xr-x)") {
		t.Errorf("stat of the root:\n%s", got)
	}
}

func TestMkdirRm(t *testing.T) {
	dir := t.TempDir()
	fsh(t, dir, "mkdir", "-p", "/a/b/c")
	fsh(t, dir, "mkdir", "-p", "/a/b/c") // -p: an existing directory is fine
	r := fsFail(t, dir, 1, "mkdir", "a/b")
	if r.stderr != "shoal: mkdir: a/b: file exists\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	fsFail(t, dir, 1, "mkdir", "x/y") // missing parent without -p
	fsh(t, dir, "mkdir", "-m", "700", "private")
	if got := fsh(t, dir, "ls", "-ld", "private"); !strings.HasPrefix(got, "drwx------ ") {
		t.Fatalf("mkdir -m 700: %q", got)
	}
	fsh(t, dir, "touch", "a/b/c/f")

	r = fsFail(t, dir, 1, "rm", "a")
	if r.stderr != "shoal: rm: a: is a directory\n" {
		t.Fatalf("rm of a dir without -r: %q", r.stderr)
	}
	fsh(t, dir, "rm", "-r", "a")
	fsh(t, dir, "rm", "-f", "nonexistent")
	fsFail(t, dir, 1, "rm", "-r", "/")
	if got := fsh(t, dir, "ls"); got != "private\n" {
		t.Fatalf("ls after rm -r = %q", got)
	}
}

func TestMv(t *testing.T) {
	dir := t.TempDir()
	fsh(t, dir, "mkdir", "d")
	put(t, dir, "a", "A")
	put(t, dir, "b", "B")
	fsh(t, dir, "mv", "a", "a2")
	fsh(t, dir, "mv", "a2", "d") // into the directory
	if got := fsh(t, dir, "cat", "d/a2"); got != "A" {
		t.Fatalf("cat d/a2 = %q", got)
	}
	put(t, dir, "c", "C")
	r := fsFail(t, dir, 1, "mv", "--no-replace", "c", "b")
	if r.stderr != "shoal: mv: c: file exists\n" {
		t.Fatalf("mv --no-replace stderr %q", r.stderr)
	}
	fsh(t, dir, "mv", "--exchange", "c", "b")
	if got := fsh(t, dir, "cat", "b", "c"); got != "CB" {
		t.Fatalf("after exchange cat b c = %q", got)
	}
	fsh(t, dir, "mv", "b", "c", "d")
	if got := fsh(t, dir, "ls", "d"); got != "a2\nb\nc\n" {
		t.Fatalf("ls d = %q", got)
	}
	fsFail(t, dir, 2, "mv", "--no-replace", "--exchange", "d/b", "d/c")
}

func TestLn(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "f", "data")
	fsh(t, dir, "ln", "-s", "f", "sym")
	fsh(t, dir, "ln", "-s", "/no/such", "dangling")
	fsh(t, dir, "ln", "f", "hard")
	got := fsh(t, dir, "ls", "-l")
	for _, re := range []string{
		`(?m)^lrwxrwxrwx 1 0 0 +1 \S+ \S+ sym -> f$`,
		`(?m)^lrwxrwxrwx 1 0 0 +8 \S+ \S+ dangling -> /no/such$`,
		`(?m)^-rw-r--r-- 2 0 0 +4 \S+ \S+ hard$`,
	} {
		if !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("ls -l lacks %s:\n%s", re, got)
		}
	}
	if got := fsh(t, dir, "cat", "sym"); got != "data" {
		t.Fatalf("cat through symlink = %q", got)
	}
	fsFail(t, dir, 1, "ln", "f", "hard")
}

func TestChmodChown(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "f", "x")
	fsh(t, dir, "mkdir", "d")
	access := func(name string) string {
		t.Helper()
		m := regexp.MustCompile(`Access: \((\d+/\S+)\)`).FindStringSubmatch(fsh(t, dir, "stat", name))
		if m == nil {
			t.Fatalf("no Access line for %s", name)
		}
		return m[1]
	}
	for _, tc := range []struct{ mode, name, want string }{
		{"600", "f", "0600/-rw-------"},
		{"u+x,g+r", "f", "0740/-rwxr-----"},
		{"go=rX", "f", "0755/-rwxr-xr-x"},
		{"a-x,o-r", "f", "0640/-rw-r-----"},
		{"4755", "f", "4755/-rwsr-xr-x"},
		{"u-x", "f", "4655/-rwSr-xr-x"},
		{"1777", "d", "1777/drwxrwxrwt"},
		{"o-x", "d", "1776/drwxrwxrwT"},
		{"=rx", "d", "0555/dr-xr-xr-x"},
		{"g+s", "d", "2555/dr-xr-sr-x"},
	} {
		fsh(t, dir, "chmod", tc.mode, tc.name)
		if got := access(tc.name); got != tc.want {
			t.Errorf("chmod %s %s: %s, want %s", tc.mode, tc.name, got, tc.want)
		}
	}
	r := fsFail(t, dir, 2, "chmod", "u+q", "f")
	if !strings.Contains(r.stderr, `invalid mode "u+q"`) {
		t.Fatalf("bad mode stderr %q", r.stderr)
	}

	ids := func() string {
		return regexp.MustCompile(`Uid: \d+  Gid: \d+`).FindString(fsh(t, dir, "stat", "f"))
	}
	fsh(t, dir, "chown", "1000:2000", "f")
	if got := ids(); got != "Uid: 1000  Gid: 2000" {
		t.Fatalf("after chown 1000:2000: %s", got)
	}
	fsh(t, dir, "chown", ":7", "f")
	fsh(t, dir, "chown", "--", "-1:-1", "f") // "--": a leading -1 would read as a flag
	if got := ids(); got != "Uid: 1000  Gid: 7" {
		t.Fatalf("after chown :7: %s", got)
	}
	fsh(t, dir, "chown", "5", "f")
	if got := ids(); got != "Uid: 5  Gid: 7" {
		t.Fatalf("after chown 5: %s", got)
	}
	fsFail(t, dir, 2, "chown", "alice", "f")
	fsFail(t, dir, 1, "chown", "1", "missing")
}

func TestXattr(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "f", "x")
	fsh(t, dir, "xattr", "set", "f", "user.color", "blue")
	fsh(t, dir, "xattr", "set", "/f", "user.shape", "round")
	if got := fsh(t, dir, "xattr", "get", "f", "user.color"); got != "blue\n" {
		t.Fatalf("xattr get = %q", got)
	}
	if got := fsh(t, dir, "xattr", "list", "f"); got != "user.color\nuser.shape\n" {
		t.Fatalf("xattr list = %q", got)
	}
	r := fsFail(t, dir, 1, "xattr", "set", "--create", "f", "user.color", "red")
	if r.stderr != "shoal: set: f: file exists\n" {
		t.Fatalf("set --create stderr %q", r.stderr)
	}
	fsFail(t, dir, 1, "xattr", "set", "--replace", "f", "user.none", "v")
	fsh(t, dir, "xattr", "set", "--replace", "f", "user.color", "red")
	fsh(t, dir, "xattr", "rm", "f", "user.shape")
	if got := fsh(t, dir, "xattr", "list", "f"); got != "user.color\n" {
		t.Fatalf("xattr list after rm = %q", got)
	}
	r = fsFail(t, dir, 1, "xattr", "get", "f", "user.shape")
	if r.stderr != "shoal: get: f: no data available\n" {
		t.Fatalf("get of a removed xattr: %q", r.stderr)
	}
	fsFail(t, dir, 2, "xattr", "set", "f", "only-name")
}

func TestDuDf(t *testing.T) {
	dir := t.TempDir()
	fsh(t, dir, "mkdir", "-p", "a/b")
	fsh(t, dir, "truncate", "-s", "1000", "a/f")
	fsh(t, dir, "truncate", "-s", "1.5M", "a/b/g")
	fsh(t, dir, "ln", "a/f", "a/hard") // counted once
	fsh(t, dir, "ln", "-s", "f", "a/sym")
	if got := fsh(t, dir, "du", "a"); got != "1572864\ta/b\n1573864\ta\n" {
		t.Fatalf("du a = %q", got)
	}
	if got := fsh(t, dir, "du", "-s", "-h", "/a"); got != "1.5M\t/a\n" {
		t.Fatalf("du -sh = %q", got)
	}
	if got := fsh(t, dir, "du", "-a", "a/b/g", "a/b"); got != "1572864\ta/b/g\n1572864\ta/b/g\n1572864\ta/b\n" {
		t.Fatalf("du -sh = %q", got)
	}
	got := fsh(t, dir, "df")
	lines := strings.Split(got, "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "Filesystem") || !strings.HasPrefix(lines[1], dir) {
		t.Fatalf("df = %q", got)
	}
	if f := strings.Fields(lines[1]); len(f) != 9 {
		t.Fatalf("df row %q: %d fields", lines[1], len(f))
	}
	if got := fsh(t, dir, "df", "-h"); !strings.Contains(got, "Use%") {
		t.Fatalf("df -h = %q", got)
	}
}

func TestTreeGolden(t *testing.T) {
	dir := t.TempDir()
	fsh(t, dir, "mkdir", "-p", "data/train/shard0", "data/val", "models")
	for _, f := range []string{"data/train/shard0/part-0", "data/train/shard0/part-1", "data/val/part-0", "README", ".hidden"} {
		fsh(t, dir, "touch", f)
	}
	fsh(t, dir, "ln", "-s", "data/train", "models/latest")
	var b strings.Builder
	b.WriteString("$ tree\n" + fsh(t, dir, "tree"))
	b.WriteString("$ tree -L 1 /data\n" + fsh(t, dir, "tree", "-L", "1", "/data"))
	b.WriteString("$ tree -a models\n" + fsh(t, dir, "tree", "-a", "models"))
	golden(t, "tree.golden", b.String())
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("output differs from %s (go test -update rewrites it):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestTouchTruncate(t *testing.T) {
	dir := t.TempDir()
	fsh(t, dir, "touch", "new")
	fsh(t, dir, "touch", "new") // existing: times only
	fsh(t, dir, "touch", "-c", "absent")
	fsFail(t, dir, 1, "cat", "absent")
	fsh(t, dir, "truncate", "-s", "5", "new", "created")
	if got := fsh(t, dir, "cat", "created"); got != "\x00\x00\x00\x00\x00" {
		t.Fatalf("truncate created %q", got)
	}
	fsFail(t, dir, 2, "truncate", "-s", "lots", "new")
	fsFail(t, dir, 2, "truncate", "new") // -s is required
}

func TestFsck(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "f", "some data")
	fsh(t, dir, "mkdir", "-p", "a/b")
	r := run(t, nil, "fsck", "--data", dir)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "fsck: clean") || r.stderr != "" {
		t.Fatalf("fsck: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, "fsck", "--data", dir, "--json", "--verify-data")
	if r.code != 0 || !strings.Contains(r.stdout, `"clean": true`) || !strings.Contains(r.stdout, `"problems": []`) {
		t.Fatalf("fsck --json: exit %d, stdout %q", r.code, r.stdout)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	r = run(t, nil, "fsck", "--data", missing)
	if r.code != 2 || r.stderr != "shoal: fsck: "+missing+": no such file or directory\n" {
		t.Fatalf("fsck of a missing dir: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("fsck created the data directory it was checking")
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "ok", "fine")

	r := fsFail(t, dir, 1, "cat", "/missing")
	if r.stderr != "shoal: cat: /missing: no such file or directory\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	// Several paths: the failures are reported, the rest still done.
	r = fsFail(t, dir, 1, "cat", "nope1", "ok", "nope2")
	if r.stdout != "fine" || strings.Count(r.stderr, "no such file or directory") != 2 {
		t.Fatalf("partial failure: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = fsFail(t, dir, 1, "cat", "ok/x")
	if r.stderr != "shoal: cat: ok/x: not a directory\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	for _, args := range [][]string{
		{"put", "only-one"},
		{"ls", "--no-such-flag"},
		{"frobnicate"},
		{"cat"},
		{"chmod", "999", "ok"},
	} {
		r := fsFail(t, dir, 2, args...)
		if !strings.Contains(r.stderr, "--help' for usage") {
			t.Errorf("%v: stderr %q lacks the usage hint", args, r.stderr)
		}
	}
	if r := run(t, nil, "no-such-command"); r.code != 2 {
		t.Fatalf("unknown command: exit %d", r.code)
	}
	if r := run(t, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "shoal ") {
		t.Fatalf("version: %+v", r)
	}
}

func TestBusyDataDir(t *testing.T) {
	dir := t.TempDir()
	c, err := shoal.OpenLocal(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := fsFail(t, dir, 1, "ls")
	// The message names the holder, so the user knows what to stop.
	if !strings.HasPrefix(r.stderr, "shoal: ls: "+dir+": resource busy: ") ||
		!strings.Contains(r.stderr, fmt.Sprintf("pid %d ", os.Getpid())) {
		t.Fatalf("busy stderr %q", r.stderr)
	}
}

func TestEnvDataDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SHOAL_DATA", dir)
	if r := run(t, nil, "fs", "mkdir", "viaenv"); r.code != 0 {
		t.Fatalf("mkdir with SHOAL_DATA: %+v", r)
	}
	if got := fsh(t, dir, "ls"); got != "viaenv\n" {
		t.Fatalf("ls = %q", got)
	}
}

func put(t *testing.T, dir, name, content string) {
	t.Helper()
	r := run(t, strings.NewReader(content), "fs", "--data", dir, "put", "-", name)
	if r.code != 0 {
		t.Fatalf("put %s: %+v", name, r)
	}
}
