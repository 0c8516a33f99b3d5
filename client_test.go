package shoal

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNames(t *testing.T) { eachBackend(t, testNames) }

func testNames(t *testing.T, b backend) {
	c, _ := b.open(t)
	for _, bad := range []string{"..", "../x", "a//b", "a/", "a/./b", "", "a\x00b", "//a", "a/.."} {
		err := c.Mkdir(bad, 0o755)
		wantErrno(t, err, syscall.EINVAL, "mkdir "+bad)
		if !errors.Is(err, fs.ErrInvalid) {
			t.Fatalf("mkdir %q: %v is not fs.ErrInvalid", bad, err)
		}
		var e *Error
		errors.As(err, &e)
		if e.Op != "mkdir" || e.Path != bad {
			t.Fatalf("mkdir %q: error names op %q path %q", bad, e.Op, e.Path)
		}
	}
	must(t, c.Mkdir("/a", 0o755)) // one leading slash is accepted
	if _, err := c.Lstat("/a"); err != nil {
		t.Fatal(err)
	}
	// The io/fs methods are strict.
	if _, err := c.Stat("/a"); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("Stat(/a) = %v, want invalid", err)
	}
	if _, err := c.Open("/a"); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("Open(/a) = %v, want invalid", err)
	}
	if _, err := c.ReadDir("/"); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("ReadDir(/) = %v", err)
	}
	if _, err := c.ReadFile("/a"); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("ReadFile(/a) = %v", err)
	}
	fi, err := c.Stat(".")
	must(t, err)
	if !fi.IsDir() || fi.Name() != "." {
		t.Fatalf("Stat(.) = %v", fi)
	}
	wantErrno(t, c.Mkdir(".", 0o755), syscall.EEXIST, "mkdir .")
	wantErrno(t, c.Remove("."), syscall.EINVAL, "remove .")
	wantErrno(t, c.Mkdir(strings.Repeat("x", 256), 0o755), syscall.ENAMETOOLONG, "mkdir long")
}

func TestMkdirRemove(t *testing.T) { eachBackend(t, testMkdirRemove) }

func testMkdirRemove(t *testing.T, b backend) {
	c, _ := b.open(t)
	must(t, c.Mkdir("d", 0o777))
	fi, err := c.Stat("d")
	must(t, err)
	if !fi.IsDir() || fi.Mode() != fs.ModeDir|0o755 || fi.Name() != "d" {
		t.Fatalf("stat d: %v (umask 022 not applied?)", fi)
	}
	if a := fi.Sys().(*Attr); a.Ino == 0 || a.Nlink < 2 {
		t.Fatalf("attr %+v", a)
	}
	err = c.Mkdir("d", 0o755)
	wantErrno(t, err, syscall.EEXIST, "mkdir existing")
	if !errors.Is(err, fs.ErrExist) {
		t.Fatal("not fs.ErrExist")
	}
	err = c.Mkdir("nope/d", 0o755)
	wantErrno(t, err, syscall.ENOENT, "mkdir under missing")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("not fs.ErrNotExist")
	}
	must(t, c.WriteFile("d/f", []byte("x"), 0o644))
	wantErrno(t, c.Mkdir("d/f/g", 0o755), syscall.ENOTDIR, "mkdir under file")
	wantErrno(t, c.Remove("d"), syscall.ENOTEMPTY, "remove non-empty")
	wantErrno(t, c.Remove("missing"), syscall.ENOENT, "remove missing")
	must(t, c.Remove("d/f"))
	must(t, c.Remove("d"))
	if _, err := c.Stat("d"); !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("stat removed: %v", err)
	}

	must(t, c.MkdirAll("x/y/z", 0o755))
	must(t, c.MkdirAll("x/y/z", 0o755))
	must(t, c.MkdirAll(".", 0o755))
	must(t, c.WriteFile("x/f", nil, 0o644))
	wantErrno(t, c.MkdirAll("x/f/g", 0o755), syscall.ENOTDIR, "mkdirall through file")
	wantErrno(t, c.MkdirAll("x/f", 0o755), syscall.ENOTDIR, "mkdirall on file")
	for i := range 150 { // more than one iterator batch
		must(t, c.WriteFile("x/y/z/f"+string(rune('a'+i%26))+strings.Repeat("q", i/26), []byte("data"), 0o644))
	}
	must(t, c.Symlink("y", "x/link"))
	must(t, c.RemoveAll("x"))
	if _, err := c.Lstat("x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after RemoveAll: %v", err)
	}
	must(t, c.RemoveAll("x"))         // missing is fine
	must(t, c.RemoveAll("nope/deep")) // missing parent too
	must(t, c.WriteFile("lone", nil, 0o644))
	must(t, c.RemoveAll("lone"))
	wantErrno(t, c.RemoveAll("."), syscall.EINVAL, "removeall .")
}

func TestFileIO(t *testing.T) { eachBackend(t, testFileIO) }

func testFileIO(t *testing.T, b backend) {
	c, _ := b.open(t)
	f, err := c.Create("f")
	must(t, err)
	if f.Name() != "f" {
		t.Fatalf("Name %q", f.Name())
	}
	if n, err := f.WriteString("hello, world"); n != 12 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	// Stat sees the size while the data is still buffered.
	fi, err := c.Stat("f")
	must(t, err)
	if fi.Size() != 12 || fi.Mode() != 0o644 {
		t.Fatalf("stat while open: %v", fi)
	}
	if off, err := f.Seek(7, io.SeekStart); off != 7 || err != nil {
		t.Fatalf("seek: %d %v", off, err)
	}
	buf := make([]byte, 10)
	n, err := f.Read(buf)
	if n != 5 || err != nil || string(buf[:n]) != "world" {
		t.Fatalf("read: %d %v %q", n, err, buf[:n])
	}
	if n, err := f.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read at EOF: %d %v", n, err)
	}
	if n, err := f.ReadAt(buf, 3); n != 9 || err != io.EOF {
		t.Fatalf("short ReadAt: %d %v", n, err)
	}
	if n, err := f.ReadAt(buf[:4], 0); n != 4 || err != nil || string(buf[:4]) != "hell" {
		t.Fatalf("ReadAt: %d %v", n, err)
	}
	if _, err := f.ReadAt(buf, 12); err != io.EOF {
		t.Fatalf("ReadAt at EOF: %v", err)
	}
	wantErrno(t, func() error { _, err := f.ReadAt(buf, -1); return err }(), syscall.EINVAL, "ReadAt negative")
	if _, err := f.WriteAt([]byte("J"), 20); err != nil {
		t.Fatal(err)
	}
	if off, err := f.Seek(-1, io.SeekEnd); off != 20 || err != nil {
		t.Fatalf("seek end: %d %v", off, err)
	}
	wantErrno(t, func() error { _, err := f.Seek(-100, io.SeekCurrent); return err }(), syscall.EINVAL, "seek negative")
	must(t, f.Sync())
	fi, err = f.Stat()
	must(t, err)
	if fi.Size() != 21 || fi.Name() != "f" {
		t.Fatalf("fstat: %v", fi)
	}
	must(t, f.Truncate(5))
	must(t, f.Close())
	err = f.Close()
	if !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindClosed {
		t.Fatalf("second close kind: %v", err)
	}
	if _, err := f.Read(buf); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if _, err := f.Write(buf); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	got, err := c.ReadFile("f")
	must(t, err)
	if string(got) != "hello" {
		t.Fatalf("content %q", got)
	}

	// Holes read as zeros; data spanning blocks and a chunk boundary.
	big := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/16+3)
	f, err = c.OpenFile("big", os.O_RDWR|os.O_CREATE, 0o600)
	must(t, err)
	_, err = f.WriteAt(big, 64<<20-1000)
	must(t, err)
	must(t, f.Close())
	fi, err = c.Stat("big")
	must(t, err)
	if fi.Size() != int64(64<<20-1000+len(big)) {
		t.Fatalf("size %d", fi.Size())
	}
	r, err := c.Open("big")
	must(t, err)
	part := make([]byte, 3000)
	_, err = r.(io.ReaderAt).ReadAt(part, 64<<20-3000)
	must(t, err)
	if !bytes.Equal(part[:2000], make([]byte, 2000)) || !bytes.Equal(part[2000:], big[:1000]) {
		t.Fatal("hole or data wrong around the chunk boundary")
	}
	_, err = r.(io.ReaderAt).ReadAt(part, int64(64<<20-1000+len(big)-3000))
	must(t, err)
	if !bytes.Equal(part, big[len(big)-3000:]) {
		t.Fatal("tail wrong")
	}
	must(t, r.Close())
}

func TestOpenFlags(t *testing.T) { eachBackend(t, testOpenFlags) }

func testOpenFlags(t *testing.T, b backend) {
	c, _ := b.open(t)
	must(t, c.WriteFile("f", []byte("abc"), 0o644))
	must(t, c.Mkdir("d", 0o755))
	must(t, c.Symlink("f", "l"))

	_, err := c.OpenFile("f", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	wantErrno(t, err, syscall.EEXIST, "O_EXCL existing")
	_, err = c.OpenFile("l", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	wantErrno(t, err, syscall.EEXIST, "O_EXCL on symlink")
	_, err = c.OpenFile("missing", os.O_RDONLY, 0)
	wantErrno(t, err, syscall.ENOENT, "open missing")
	_, err = c.OpenFile("f", os.O_RDONLY|O_DIRECTORY, 0)
	wantErrno(t, err, syscall.ENOTDIR, "O_DIRECTORY on file")
	_, err = c.OpenFile("d", os.O_WRONLY, 0)
	wantErrno(t, err, syscall.EISDIR, "dir for write")
	_, err = c.OpenFile("d", os.O_RDWR|os.O_CREATE, 0o644)
	wantErrno(t, err, syscall.EISDIR, "O_CREATE on dir")
	_, err = c.OpenFile("l", os.O_RDONLY|O_NOFOLLOW, 0)
	wantErrno(t, err, syscall.ELOOP, "O_NOFOLLOW on symlink")
	_, err = c.OpenFile("f/x", os.O_RDONLY, 0)
	wantErrno(t, err, syscall.ENOTDIR, "open through file")

	w, err := c.OpenFile("f", os.O_WRONLY, 0)
	must(t, err)
	_, err = w.Read(make([]byte, 1))
	wantErrno(t, err, syscall.EBADF, "read on O_WRONLY")
	must(t, w.Close())
	r, err := c.OpenFile("l", os.O_RDONLY, 0) // follows the link
	must(t, err)
	_, err = r.Write([]byte("x"))
	wantErrno(t, err, syscall.EBADF, "write on O_RDONLY")
	wantErrno(t, r.Truncate(0), syscall.EINVAL, "truncate on O_RDONLY")
	must(t, r.Close())

	a, err := c.OpenFile("f", os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	a2, err := c.OpenFile("f", os.O_RDWR|os.O_APPEND, 0)
	must(t, err)
	_, err = a.Write([]byte("de"))
	must(t, err)
	_, err = a2.Write([]byte("fg"))
	must(t, err)
	_, err = a.WriteAt([]byte("x"), 0)
	wantErrno(t, err, syscall.EINVAL, "WriteAt on O_APPEND")
	must(t, a.Close())
	must(t, a2.Close())
	if got, _ := c.ReadFile("f"); string(got) != "abcdefg" {
		t.Fatalf("after appends: %q", got)
	}

	tr, err := c.OpenFile("f", os.O_RDWR|os.O_TRUNC, 0)
	must(t, err)
	if fi, _ := tr.Stat(); fi.Size() != 0 {
		t.Fatalf("O_TRUNC left size %d", fi.Size())
	}
	must(t, tr.Close())

	// O_CREATE through a dangling symlink creates its target.
	must(t, c.Symlink("d/target", "dangling"))
	cf, err := c.OpenFile("dangling", os.O_WRONLY|os.O_CREATE, 0o600)
	must(t, err)
	must(t, cf.Close())
	if fi, err := c.Lstat("d/target"); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dangling create: %v %v", fi, err)
	}
}

func TestDirFile(t *testing.T) { eachBackend(t, testDirFile) }

func testDirFile(t *testing.T, b backend) {
	c, _ := b.open(t)
	must(t, c.Mkdir("d", 0o755))
	for _, n := range []string{"c", "a", "b"} {
		must(t, c.WriteFile("d/"+n, []byte(n), 0o644))
	}
	must(t, c.Mkdir("d/sub", 0o700))
	f, err := c.Open("d")
	must(t, err)
	df := f.(*File)
	_, err = df.Read(make([]byte, 1))
	wantErrno(t, err, syscall.EISDIR, "read on dir")
	var names []string
	for {
		ents, err := df.ReadDir(2)
		if err == io.EOF {
			break
		}
		must(t, err)
		if len(ents) == 0 || len(ents) > 2 {
			t.Fatalf("ReadDir(2) gave %d", len(ents))
		}
		for _, e := range ents {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"a", "b", "c", "sub"}) {
		t.Fatalf("names %v", names)
	}
	if ents, err := df.ReadDir(-1); len(ents) != 0 || err != nil {
		t.Fatalf("ReadDir(-1) at end: %v %v", ents, err)
	}
	_, err = df.Seek(0, io.SeekStart)
	must(t, err)
	ents, err := df.ReadDir(-1)
	must(t, err)
	if len(ents) != 4 {
		t.Fatalf("after rewind: %d", len(ents))
	}
	fi, err := df.Stat()
	must(t, err)
	if !fi.IsDir() || fi.Name() != "d" {
		t.Fatalf("dir stat %v", fi)
	}
	must(t, df.Close())

	list, err := c.ReadDir("d")
	must(t, err)
	if len(list) != 4 || list[3].Name() != "sub" || !list[3].IsDir() || list[3].Type() != fs.ModeDir {
		t.Fatalf("ReadDir %v", list)
	}
	info, err := list[0].Info()
	must(t, err)
	if info.Size() != 1 || info.Name() != "a" {
		t.Fatalf("info %v", info)
	}
	_, err = c.ReadDir("d/a")
	wantErrno(t, err, syscall.ENOTDIR, "ReadDir on file")

	it, err := c.OpenDir("d")
	must(t, err)
	it.BatchSize = 1
	n := 0
	for {
		e, err := it.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		if e.Name() == "b" {
			info, err := e.Info() // fetched lazily
			must(t, err)
			if info.Size() != 1 {
				t.Fatal("lazy info")
			}
		}
		n++
	}
	must(t, it.Close())
	if n != 4 {
		t.Fatalf("iterated %d", n)
	}
	_, err = c.OpenDir("d/a")
	wantErrno(t, err, syscall.ENOTDIR, "OpenDir on file")
}

func TestRename(t *testing.T) { eachBackend(t, testRename) }

func testRename(t *testing.T, b backend) {
	c, _ := b.open(t)
	must(t, c.MkdirAll("a/b", 0o755))
	must(t, c.WriteFile("f", []byte("1"), 0o644))
	must(t, c.WriteFile("g", []byte("2"), 0o644))
	must(t, c.Rename("f", "a/b/f"))
	wantErrno(t, c.Rename("f", "x"), syscall.ENOENT, "rename missing")
	must(t, c.Rename("g", "a/b/f")) // replaces
	if got, _ := c.ReadFile("a/b/f"); string(got) != "2" {
		t.Fatalf("replaced content %q", got)
	}
	wantErrno(t, c.Rename("a", "a/b/c"), syscall.EINVAL, "rename into own subtree")
	must(t, c.WriteFile("h", []byte("3"), 0o644))
	wantErrno(t, c.Rename("h", "a/b/f", RenameNoReplace), syscall.EEXIST, "noreplace")
	must(t, c.Rename("h", "a/b/f", RenameExchange))
	if got, _ := c.ReadFile("h"); string(got) != "2" {
		t.Fatalf("exchange: h=%q", got)
	}
	wantErrno(t, c.Rename("a", "h"), syscall.ENOTDIR, "dir over file")
	wantErrno(t, c.Rename("h", "a"), syscall.EISDIR, "file over dir")
	must(t, c.Mkdir("e", 0o755))
	wantErrno(t, c.Rename("e", "a"), syscall.ENOTEMPTY, "dir over non-empty dir")
	must(t, c.Rename("a", "e")) // over an empty dir
	if _, err := c.Stat("e/b/f"); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, c.Rename(".", "z"), syscall.EBUSY, "rename root")
}

func TestLinks(t *testing.T) { eachBackend(t, testLinks) }

func testLinks(t *testing.T, b backend) {
	c, _ := b.open(t)
	must(t, c.WriteFile("f", []byte("data"), 0o644))
	must(t, c.Link("f", "g"))
	fi, err := c.Stat("g")
	must(t, err)
	if fi.Sys().(*Attr).Nlink != 2 {
		t.Fatalf("nlink %d", fi.Sys().(*Attr).Nlink)
	}
	wantErrno(t, c.Link("f", "g"), syscall.EEXIST, "link existing")
	wantErrno(t, c.Link("missing", "h"), syscall.ENOENT, "link missing")
	must(t, c.Mkdir("d", 0o755))
	wantErrno(t, c.Link("d", "d2"), syscall.EPERM, "link dir")

	must(t, c.Symlink("f", "s"))
	must(t, c.Symlink("nowhere", "dangling"))
	must(t, c.Symlink("loop", "loop"))
	if tgt, err := c.Readlink("s"); tgt != "f" || err != nil {
		t.Fatalf("readlink %q %v", tgt, err)
	}
	_, err = c.Readlink("f")
	wantErrno(t, err, syscall.EINVAL, "readlink on file")
	_, err = c.Readlink("missing")
	wantErrno(t, err, syscall.ENOENT, "readlink missing")
	li, err := c.Lstat("s")
	must(t, err)
	if li.Mode().Type() != fs.ModeSymlink || li.Size() != 1 {
		t.Fatalf("lstat symlink %v", li)
	}
	si, err := c.Stat("s")
	must(t, err)
	if !si.Mode().IsRegular() || si.Size() != 4 || si.Name() != "s" {
		t.Fatalf("stat through symlink %v", si)
	}
	_, err = c.Stat("dangling")
	wantErrno(t, err, syscall.ENOENT, "stat dangling")
	_, err = c.Stat("loop")
	wantErrno(t, err, syscall.ELOOP, "stat loop")
	wantErrno(t, c.Symlink("f", "s"), syscall.EEXIST, "symlink existing")
	must(t, c.Link("s", "s2")) // link(2) does not follow
	if li, _ := c.Lstat("s2"); li.Mode().Type() != fs.ModeSymlink {
		t.Fatal("hard link to symlink is not a symlink")
	}
}

func TestAttrs(t *testing.T) { eachBackend(t, testAttrs) }

func testAttrs(t *testing.T, b backend) {
	c, _ := b.open(t)
	must(t, c.WriteFile("f", []byte("data"), 0o644))
	must(t, c.Chmod("f", 0o600|fs.ModeSetgid))
	fi, _ := c.Stat("f")
	if fi.Mode() != 0o600|fs.ModeSetgid {
		t.Fatalf("mode %v", fi.Mode())
	}
	must(t, c.Chown("f", 1000, -1))
	a := statAttr(t, c, "f")
	if a.Uid != 1000 || a.Gid != 0 {
		t.Fatalf("owner %d:%d", a.Uid, a.Gid)
	}
	must(t, c.Symlink("f", "l"))
	must(t, c.Lchown("l", 7, 8))
	if a := statAttr(t, c, "f"); a.Uid != 1000 {
		t.Fatal("lchown followed the link")
	}
	if li, _ := c.Lstat("l"); li.Sys().(*Attr).Uid != 7 || li.Sys().(*Attr).Gid != 8 {
		t.Fatal("lchown did not change the link")
	}
	at := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	mt := time.Date(2021, 1, 2, 3, 4, 5, 6, time.UTC)
	must(t, c.Chtimes("f", at, mt))
	a = statAttr(t, c, "f")
	if !a.Atime.Equal(at) || !a.Mtime.Equal(mt) {
		t.Fatalf("times %v %v", a.Atime, a.Mtime)
	}
	must(t, c.Chtimes("f", time.Time{}, time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)))
	if a := statAttr(t, c, "f"); !a.Atime.Equal(at) || a.Mtime.Year() != 2022 {
		t.Fatalf("zero atime changed it: %v", a.Atime)
	}
	out, err := c.SetAttr("f", SetAttrMode|SetAttrSize, Attr{Mode: 0o640, Size: 2})
	must(t, err)
	if out.Mode != 0o640 || out.Size != 2 {
		t.Fatalf("SetAttr %+v", out)
	}
	must(t, c.Truncate("f", 10))
	if got, _ := c.ReadFile("f"); !bytes.Equal(got, append([]byte("da"), make([]byte, 8)...)) {
		t.Fatalf("after truncate %q", got)
	}
	wantErrno(t, c.Truncate("f", -1), syscall.EINVAL, "negative truncate")
	must(t, c.Mkdir("d", 0o755))
	wantErrno(t, c.Truncate("d", 0), syscall.EISDIR, "truncate dir")
	wantErrno(t, c.Chmod("missing", 0o644), syscall.ENOENT, "chmod missing")

	must(t, c.Mknod("fifo", fs.ModeNamedPipe|0o644, 0))
	must(t, c.Mknod("chr", fs.ModeDevice|fs.ModeCharDevice|0o600, 0x0103))
	if fi, _ := c.Lstat("fifo"); fi.Mode().Type() != fs.ModeNamedPipe {
		t.Fatalf("fifo %v", fi.Mode())
	}
	if fi, _ := c.Lstat("chr"); fi.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice || fi.Sys().(*Attr).Rdev != 0x0103 {
		t.Fatalf("chr %v", fi.Mode())
	}
	wantErrno(t, c.Mknod("bad", fs.ModeDir, 0), syscall.EINVAL, "mknod dir")
	wantErrno(t, c.Mknod("fifo", fs.ModeNamedPipe, 0), syscall.EEXIST, "mknod existing")

	st, err := c.StatFS()
	must(t, err)
	if st.UsedInodes == 0 || st.TotalBytes == 0 || st.BlockSize == 0 || st.AvailBytes > st.TotalBytes {
		t.Fatalf("statfs %+v", st)
	}
}

func statAttr(t *testing.T, c *Client, name string) *Attr {
	t.Helper()
	fi, err := c.Stat(name)
	must(t, err)
	return fi.Sys().(*Attr)
}

func TestXattrs(t *testing.T) { eachBackend(t, testXattrs) }

func testXattrs(t *testing.T, b backend) {
	c, _ := b.open(t)
	must(t, c.WriteFile("f", nil, 0o644))
	must(t, c.SetXattr("f", "user.a", []byte("1"), 0))
	wantErrno(t, c.SetXattr("f", "user.a", []byte("2"), XattrCreate), syscall.EEXIST, "xattr create existing")
	wantErrno(t, c.SetXattr("f", "user.b", []byte("2"), XattrReplace), syscall.ENODATA, "xattr replace missing")
	must(t, c.SetXattr("f", "user.b", []byte("22"), XattrCreate))
	v, err := c.GetXattr("f", "user.b")
	must(t, err)
	if string(v) != "22" {
		t.Fatalf("value %q", v)
	}
	_, err = c.GetXattr("f", "user.none")
	wantErrno(t, err, syscall.ENODATA, "get missing xattr")
	names, err := c.ListXattr("f")
	must(t, err)
	slices.Sort(names)
	if !slices.Equal(names, []string{"user.a", "user.b"}) {
		t.Fatalf("list %v", names)
	}
	must(t, c.RemoveXattr("f", "user.a"))
	wantErrno(t, c.RemoveXattr("f", "user.a"), syscall.ENODATA, "remove missing xattr")
	_, err = c.GetXattr("missing", "user.a")
	wantErrno(t, err, syscall.ENOENT, "xattr on missing")
}

func TestFlags(t *testing.T) { eachBackend(t, testFlags) }

func testFlags(t *testing.T, b backend) {
	c, _ := b.open(t)
	must(t, c.WriteFile("f", []byte("x"), 0o644))
	must(t, c.SetFlags("f", FlagImmutable))
	fl, err := c.GetFlags("f")
	must(t, err)
	if fl != FlagImmutable {
		t.Fatalf("flags %#x", fl)
	}
	wantErrno(t, c.WriteFile("f", []byte("y"), 0o644), syscall.EPERM, "write immutable")
	wantErrno(t, c.Remove("f"), syscall.EPERM, "remove immutable")
	wantErrno(t, c.Rename("f", "g"), syscall.EPERM, "rename immutable")
	wantErrno(t, c.Chmod("f", 0o600), syscall.EPERM, "chmod immutable")
	if got, _ := c.ReadFile("f"); string(got) != "x" {
		t.Fatal("immutable file changed")
	}
	must(t, c.SetFlags("f", FlagAppend))
	_, err = c.OpenFile("f", os.O_WRONLY, 0)
	wantErrno(t, err, syscall.EPERM, "non-append write to append-only")
	af, err := c.OpenFile("f", os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = af.Write([]byte("y"))
	must(t, err)
	must(t, af.Close())
	must(t, c.SetFlags("f", 0))
	must(t, c.Remove("f"))
}

func TestPermissions(t *testing.T) { eachBackend(t, testPermissions) }

func testPermissions(t *testing.T, b backend) {
	env := b.fresh(t)
	c, err := env.client(t)
	must(t, err)
	must(t, c.Chmod(".", 0o755))
	must(t, c.Mkdir("private", 0o700))
	must(t, c.WriteFile("private/x", []byte("secret"), 0o644))
	must(t, c.WriteFile("ro", []byte("r"), 0o644))
	must(t, c.Mkdir("mine", 0o755))
	must(t, c.Chown("mine", 1000, 1000))
	must(t, c.WriteFile("grp", []byte("g"), 0o660))
	must(t, c.Chown("grp", 0, 50))
	must(t, c.Close())

	u, err := env.client(t, WithIdentity(1000, 1000, 51))
	must(t, err)
	_, err = u.Stat("private/x")
	wantErrno(t, err, syscall.EACCES, "stat through 0700 dir")
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatal("not fs.ErrPermission")
	}
	_, err = u.ReadDir("private")
	wantErrno(t, err, syscall.EACCES, "readdir 0700 dir")
	wantErrno(t, u.WriteFile("ro", []byte("w"), 0o644), syscall.EACCES, "write 0644 root file")
	if got, err := u.ReadFile("ro"); err != nil || string(got) != "r" {
		t.Fatalf("read 0644: %q %v", got, err)
	}
	wantErrno(t, u.Mkdir("new", 0o755), syscall.EACCES, "mkdir in root-owned dir")
	wantErrno(t, u.Chmod("ro", 0o777), syscall.EPERM, "chmod of another's file")
	wantErrno(t, u.Chown("mine", 0, -1), syscall.EPERM, "give away")
	must(t, u.WriteFile("mine/f", []byte("ok"), 0o600)) // own directory
	must(t, u.Chmod("mine/f", 0o644))
	fi, err := u.Stat("mine/f")
	must(t, err)
	if a := fi.Sys().(*Attr); a.Uid != 1000 || a.Gid != 1000 {
		t.Fatalf("created owner %d:%d", a.Uid, a.Gid)
	}
	_, err = u.ReadFile("grp")
	wantErrno(t, err, syscall.EACCES, "group not ours")
	wantErrno(t, u.SetFlags("mine/f", FlagImmutable), syscall.EPERM, "set immutable without privilege")
}

func TestWalk(t *testing.T) { eachBackend(t, testWalk) }

func testWalk(t *testing.T, b backend) {
	c, _ := b.open(t)
	for _, d := range []string{"r/a/x", "r/a/y", "r/b", "r/c/z"} {
		must(t, c.MkdirAll(d, 0o755))
	}
	for _, f := range []string{"r/f1", "r/a/f2", "r/a/x/f3", "r/c/z/f4"} {
		must(t, c.WriteFile(f, nil, 0o644))
	}
	must(t, c.Symlink("../a", "r/b/link"))
	type visit struct {
		dir         string
		dirs, files []string
	}
	names := func(es []fs.DirEntry) []string {
		var out []string
		for _, e := range es {
			if e != nil {
				out = append(out, e.Name())
			}
		}
		return out
	}
	collect := func(prune bool, opts ...WalkOption) []visit {
		var vs []visit
		err := c.Walk("r", func(dir string, dirs, files []fs.DirEntry, err error) error {
			must(t, err)
			vs = append(vs, visit{dir, names(dirs), names(files)})
			if prune && dir == "r" {
				for i, d := range dirs {
					if d.Name() == "a" {
						dirs[i] = nil
					}
				}
			}
			return nil
		}, opts...)
		must(t, err)
		return vs
	}
	var order []string
	for _, v := range collect(false) {
		order = append(order, v.dir)
	}
	if want := []string{"r", "r/a", "r/a/x", "r/a/y", "r/b", "r/c", "r/c/z"}; !slices.Equal(order, want) {
		t.Fatalf("top-down order %v", order)
	}
	vs := collect(false)
	if !slices.Equal(vs[0].dirs, []string{"a", "b", "c"}) || !slices.Equal(vs[0].files, []string{"f1"}) {
		t.Fatalf("root visit %+v", vs[0])
	}
	if !slices.Equal(vs[4].files, []string{"link"}) {
		t.Fatalf("symlink not a file without follow: %+v", vs[4])
	}
	order = nil
	for _, v := range collect(true) {
		order = append(order, v.dir)
	}
	if want := []string{"r", "r/b", "r/c", "r/c/z"}; !slices.Equal(order, want) {
		t.Fatalf("pruned order %v", order)
	}
	order = nil
	for _, v := range collect(false, WalkBottomUp()) {
		order = append(order, v.dir)
	}
	if want := []string{"r/a/x", "r/a/y", "r/a", "r/b", "r/c/z", "r/c", "r"}; !slices.Equal(order, want) {
		t.Fatalf("bottom-up order %v", order)
	}
	// Following symlinks visits a directory once even if linked.
	order = nil
	for _, v := range collect(false, WalkFollowSymlinks()) {
		order = append(order, v.dir)
	}
	if want := []string{"r", "r/a", "r/a/x", "r/a/y", "r/b", "r/c", "r/c/z"}; !slices.Equal(order, want) {
		t.Fatalf("follow order %v", order)
	}
	must(t, c.Rename("r/a", "elsewhere"))
	must(t, c.Symlink("../../elsewhere", "r/b/far"))
	order = nil
	for _, v := range collect(false, WalkFollowSymlinks()) {
		order = append(order, v.dir)
	}
	if want := []string{"r", "r/b", "r/b/far", "r/b/far/x", "r/b/far/y", "r/c", "r/c/z"}; !slices.Equal(order, want) {
		t.Fatalf("follow into link %v", order)
	}
	n := 0
	must(t, c.Walk("r", func(string, []fs.DirEntry, []fs.DirEntry, error) error { n++; return SkipAll }))
	if n != 1 {
		t.Fatalf("SkipAll visited %d", n)
	}
	var gotErr error
	must(t, c.Walk("missing", func(dir string, _, _ []fs.DirEntry, err error) error { gotErr = err; return nil }))
	wantErrno(t, gotErr, syscall.ENOENT, "walk missing root")
	boom := errors.New("boom")
	if err := c.Walk("r", func(string, []fs.DirEntry, []fs.DirEntry, error) error { return boom }); err != boom {
		t.Fatalf("walk error %v", err)
	}
}

func TestContextAndClose(t *testing.T) { eachBackend(t, testContextAndClose) }

func testContextAndClose(t *testing.T, b backend) {
	c, _ := b.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	v := c.WithContext(ctx)
	must(t, v.Mkdir("d", 0o755))
	cancel()
	if err := v.Mkdir("e", 0o755); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled view: %v", err)
	}
	must(t, v.Close()) // a view closes nothing
	must(t, c.Mkdir("e", 0o755))
	must(t, c.Close())
	_, err := c.Stat("d")
	wantErrno(t, err, syscall.EBADF, "stat after close")
	if !errors.Is(err, fs.ErrClosed) {
		t.Fatal("not fs.ErrClosed")
	}
	if err := c.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := v.ReadDir("."); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("view after close: %v", err)
	}
}

func TestUnlinkedWhileOpen(t *testing.T) { eachBackend(t, testUnlinkedWhileOpen) }

func testUnlinkedWhileOpen(t *testing.T, b backend) {
	c, store := b.open(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("shoal!"), (6<<20)/6) // two blocks
	must(t, c.WriteFile("f", data, 0o644))
	f, err := c.OpenFile("f", os.O_RDWR, 0)
	must(t, err)
	must(t, c.Remove("f"))
	if _, err := c.Stat("f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("still visible")
	}
	must(t, c.GC()) // must not reclaim an open file
	got := make([]byte, len(data))
	_, err = f.ReadAt(got, 0)
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("data changed after unlink")
	}
	_, err = f.WriteAt([]byte("more"), int64(len(data)))
	must(t, err)
	must(t, f.Sync())
	tail := make([]byte, 4)
	_, err = f.ReadAt(tail, int64(len(data)))
	must(t, err)
	if string(tail) != "more" {
		t.Fatalf("tail %q", tail)
	}
	if objs, _ := store.List(ctx, "", "", 0); len(objs) == 0 {
		t.Fatal("blocks gone while open")
	}
	must(t, f.Close())
	must(t, c.GC())
	if objs, _ := store.List(ctx, "", "", 0); len(objs) != 0 {
		t.Fatalf("%d blocks left after close + GC", len(objs))
	}
	problems, err := c.Check(true)
	must(t, err)
	if len(problems) > 0 {
		t.Fatalf("check: %v", problems)
	}
}

func TestBackgroundGC(t *testing.T) { eachBackend(t, testBackgroundGC) }

func testBackgroundGC(t *testing.T, b backend) {
	c, store := b.open(t, WithGCInterval(20*time.Millisecond))
	must(t, c.WriteFile("f", make([]byte, 100), 0o644))
	must(t, c.Remove("f"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		objs, _ := store.List(context.Background(), "", "", 0)
		if len(objs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background GC left %d blocks", len(objs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, c.Close()) // stops the loop; -race and the test's end catch a leak
}

func TestCheck(t *testing.T) { eachBackend(t, testCheck) }

func testCheck(t *testing.T, b backend) {
	c, _ := b.open(t)
	must(t, c.MkdirAll("a/b", 0o755))
	must(t, c.WriteFile("a/b/f", bytes.Repeat([]byte{7}, 5<<20), 0o644))
	problems, err := c.Check(true)
	must(t, err)
	if len(problems) > 0 {
		t.Fatalf("check: %v", problems)
	}
}
