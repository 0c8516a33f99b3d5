package shoal

import (
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// The calls the FUSE mount needs beyond os-style ones: unlink(2) and
// rmdir(2) without Remove's fallback, setattr without following a link,
// setattr and flush through an open (possibly unlinked) file, the errno
// table, and inode numbers from a directory iterator.
func TestPOSIXOps(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := b.fresh(t)
		c, err := e.client(t)
		must(t, err)
		must(t, c.Mkdir("d", 0o755))
		must(t, c.WriteFile("f", []byte("data"), 0o644))
		wantErrno(t, c.Unlink("d"), syscall.EISDIR, "unlink a directory")
		wantErrno(t, c.Rmdir("f"), syscall.ENOTDIR, "rmdir a file")
		must(t, c.WriteFile("d/x", nil, 0o644))
		wantErrno(t, c.Rmdir("d"), syscall.ENOTEMPTY, "rmdir a non-empty directory")
		must(t, c.Unlink("d/x"))
		must(t, c.Rmdir("d"))
		if Errno(c.Unlink("d")) != syscall.ENOENT || Errno(nil) != 0 {
			t.Errorf("Errno: %v", Errno(c.Unlink("d")))
		}

		must(t, c.Symlink("f", "l"))
		old := time.Unix(1_000_000_000, 0)
		if _, err := c.LSetAttr("l", SetAttrMtime, Attr{Mtime: old}); err != nil {
			t.Fatal(err)
		}
		li, err := c.Lstat("l")
		must(t, err)
		fi, err := c.Stat("l")
		must(t, err)
		if !li.ModTime().Equal(old) || fi.ModTime().Equal(old) {
			t.Errorf("LSetAttr: link mtime %v, target mtime %v", li.ModTime(), fi.ModTime())
		}

		f, err := c.OpenFile("f", os.O_RDWR, 0)
		must(t, err)
		defer f.Close()
		must(t, c.Unlink("f"))
		_, err = f.WriteAt([]byte("more"), 4)
		must(t, err)
		must(t, f.Flush())
		a, err := f.SetAttr(SetAttrSize|SetAttrMode, Attr{Size: 6, Mode: 0o600})
		must(t, err)
		if a.Size != 6 || a.Mode.Perm() != 0o600 {
			t.Errorf("File.SetAttr on an unlinked file: %+v", a)
		}
		buf := make([]byte, 6)
		if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF || string(buf) != "datamo" {
			t.Errorf("after SetAttr: %q %v", buf, err)
		}

		must(t, c.WriteFile("g", []byte("1"), 0o644))
		it, err := c.OpenDir(".")
		must(t, err)
		defer it.Close()
		for {
			de, err := it.Next()
			if err == io.EOF {
				break
			}
			must(t, err)
			info, err := de.Info()
			must(t, err)
			ino, ok := de.(interface{ Ino() uint64 })
			if !ok || ino.Ino() != info.Sys().(*Attr).Ino {
				t.Errorf("%s: entry Ino does not match its attributes", de.Name())
			}
		}
	})
}

// TestFlushVisible checks that File.Flush makes writes visible to
// another client without closing.
func TestFlushVisible(t *testing.T) {
	e := backends[1].fresh(t)
	c1, err := e.client(t)
	must(t, err)
	c2, err := e.client(t)
	must(t, err)
	f, err := c1.Create("f")
	must(t, err)
	defer f.Close()
	_, err = f.Write([]byte("flushed"))
	must(t, err)
	must(t, f.Flush())
	got, err := c2.ReadFile("f")
	if err != nil || string(got) != "flushed" {
		t.Fatalf("other client after Flush: %q %v", got, err)
	}
}
