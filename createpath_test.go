package shoal

import (
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
)

// TestCreatePaths checks open(O_CREAT) semantics that the remote one-call
// create (Inline.CreatePath) must keep: symlinks in the middle and at the
// end, a non-directory parent, O_EXCL, O_NOFOLLOW, the umask, and the Op
// and Path of errors.
func TestCreatePaths(t *testing.T) { eachBackend(t, testCreatePaths) }

func testCreatePaths(t *testing.T, b backend) {
	c, _ := b.open(t)
	must(t, c.Mkdir("d", 0o755))
	must(t, c.Symlink("d", "ld"))
	must(t, c.WriteFile("file", []byte("x"), 0o644))

	f, err := c.OpenFile("ld/a", os.O_RDWR|os.O_CREATE, 0o666)
	must(t, err)
	must(t, f.Close())
	fi, err := c.Stat("d/a")
	must(t, err)
	if want := fs.FileMode(0o666) &^ fs.FileMode(c.core.umask); fi.Mode().Perm() != want {
		t.Fatalf("created mode %v, want %v", fi.Mode().Perm(), want)
	}
	f, err = c.OpenFile("ld/b", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	must(t, err)
	must(t, f.Close())
	_, err = c.OpenFile("d/b", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	wantErr(t, err, fserr.Exist, "open", "d/b")

	// A final symlink is followed, dangling or not, unless O_NOFOLLOW.
	must(t, c.Symlink("a", "d/la"))
	must(t, c.Symlink("new", "d/dangling"))
	for _, name := range []string{"d/la", "d/dangling"} {
		f, err := c.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		must(t, err)
		_, err = f.WriteString(name)
		must(t, err)
		must(t, f.Close())
	}
	if got, err := c.ReadFile("d/a"); err != nil || string(got) != "d/la" {
		t.Fatalf("through d/la: %q, %v", got, err)
	}
	if got, err := c.ReadFile("d/new"); err != nil || string(got) != "d/dangling" {
		t.Fatalf("through d/dangling: %q, %v", got, err)
	}
	_, err = c.OpenFile("d/la", os.O_WRONLY|os.O_CREATE|O_NOFOLLOW, 0o644)
	wantErr(t, err, fserr.Loop, "open", "d/la")
	_, err = c.OpenFile("d/la", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	wantErr(t, err, fserr.Exist, "open", "d/la")
	_, err = c.OpenFile("d", os.O_WRONLY|os.O_CREATE, 0o644)
	wantErr(t, err, fserr.IsDir, "open", "d")

	_, err = c.OpenFile("file/x", os.O_RDWR|os.O_CREATE, 0o644)
	wantErr(t, err, fserr.NotDir, "open", "file/x")
	_, err = c.OpenFile("file/x", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	wantErr(t, err, fserr.NotDir, "open", "file/x")
	_, err = c.OpenFile("nope/x", os.O_RDWR|os.O_CREATE, 0o644)
	wantErr(t, err, fserr.NotExist, "open", "nope/x")
	_, err = c.OpenFile("nope/x", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	wantErr(t, err, fserr.NotExist, "open", "nope/x")
}

func wantErr(t *testing.T, err error, kind fserr.Kind, op, path string) {
	t.Helper()
	var e *fserr.Error
	if !errors.As(err, &e) || e.Kind != kind || e.Op != op || e.Path != path {
		t.Fatalf("got %v, want %s %s: kind %v", err, op, path, kind)
	}
}
