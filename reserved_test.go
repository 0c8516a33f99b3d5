package shoal

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Reserved root entries (the S3 gateway's /.shoal-s3) are invisible to
// every listing and lookup and cannot be created, renamed or removed,
// except through WithInternalNames; locally and over Dial.
func TestReservedNamesHidden(t *testing.T) { eachBackend(t, testReservedNamesHidden) }

func testReservedNamesHidden(t *testing.T, b backend) {
	c, _ := b.open(t)
	in := c.WithInternalNames()
	must(t, in.MkdirAll(".shoal-s3/tmp", 0o777))
	must(t, in.WriteFile(".shoal-s3/tmp/staged", []byte("x"), 0o644))
	must(t, c.Mkdir("visible", 0o755))
	must(t, c.WriteFile("visible/f", []byte("y"), 0o644))

	names := func(es []fs.DirEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	for _, v := range []*Client{c, c.AsIdentity(1000, 1000), c.WithContext(t.Context())} {
		es, err := v.ReadDir(".")
		must(t, err)
		if got := names(es); !slices.Equal(got, []string{"visible"}) {
			t.Errorf("ReadDir(/) = %q", got)
		}
		it, err := v.OpenDir("/")
		must(t, err)
		var iter []string
		for {
			e, err := it.Next()
			if err != nil {
				break
			}
			iter = append(iter, e.Name())
		}
		if !slices.Equal(iter, []string{"visible"}) {
			t.Errorf("OpenDir(/) = %q", iter)
		}
		ln, err := v.ListNames("/", "", 1, "")
		must(t, err)
		if len(ln) != 1 || ln[0].Name != "visible" {
			t.Errorf("ListNames(/, limit 1) = %+v", ln)
		}
		var walked []string
		must(t, v.Walk("/", func(dir string, dirs, files []fs.DirEntry, err error) error {
			walked = append(walked, dir+":"+strings.Join(append(names(dirs), names(files)...), ","))
			return err
		}))
		if !slices.Equal(walked, []string{".:visible", "visible:f"}) {
			t.Errorf("Walk(/) visited %q", walked)
		}
		var fsWalk []string
		must(t, fs.WalkDir(v, ".", func(p string, _ fs.DirEntry, err error) error {
			fsWalk = append(fsWalk, p)
			return err
		}))
		if !slices.Equal(fsWalk, []string{".", "visible", "visible/f"}) {
			t.Errorf("fs.WalkDir visited %q", fsWalk)
		}
		f, err := v.Open(".")
		must(t, err)
		rd, err := f.(fs.ReadDirFile).ReadDir(-1)
		f.Close()
		must(t, err)
		if got := names(rd); !slices.Equal(got, []string{"visible"}) {
			t.Errorf("File.ReadDir = %q", got)
		}
	}

	absent := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want ENOENT", what, err)
		}
	}
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, syscall.EPERM) {
			t.Errorf("%s: %v, want EPERM", what, err)
		}
	}
	_, err := c.Stat(".shoal-s3")
	absent("stat", err)
	_, err = c.Lstat(".shoal-s3/tmp/staged")
	absent("lstat", err)
	_, err = c.ReadFile(".shoal-s3/tmp/staged")
	absent("readfile", err)
	_, err = c.ReadDir(".shoal-s3")
	absent("readdir", err)
	_, err = c.Open(".shoal-s3/tmp/staged")
	absent("open", err)
	refused("mkdir", c.Mkdir(".shoal-s3", 0o755))
	refused("mkdir other", c.Mkdir(".shoal-other", 0o755))
	refused("mkdirall", c.MkdirAll(".shoal-s3/x/y", 0o755))
	refused("create", c.WriteFile(".shoal-s3/tmp/new", nil, 0o644))
	_, err = c.OpenFile(".shoal-s3/tmp/staged", os.O_WRONLY|os.O_TRUNC, 0)
	refused("open for writing", err)
	refused("rename from", c.Rename(".shoal-s3", "stolen"))
	refused("rename into", c.Rename("visible", ".shoal-s3/tmp/visible"))
	refused("rename onto", c.Rename("visible", ".shoal-s3"))
	refused("remove", c.Remove(".shoal-s3/tmp/staged"))
	refused("removeall", c.RemoveAll(".shoal-s3"))
	refused("chmod", c.Chmod(".shoal-s3", 0o700))
	refused("symlink", c.Symlink("visible", ".shoal-s3/l"))
	refused("link", c.Link("visible/f", ".shoal-s3/tmp/l"))
	refused("link from", c.Link(".shoal-s3/tmp/staged", "visible/l"))
	// RemoveAll of the root leaves the reserved entries alone.
	must(t, c.RemoveAll("visible"))
	if b, err := in.ReadFile(".shoal-s3/tmp/staged"); err != nil || string(b) != "x" {
		t.Fatalf("staged file after the user's changes: %q, %v", b, err)
	}
	// A name that merely contains the prefix deeper down is ordinary.
	must(t, c.Mkdir("d", 0o755))
	must(t, c.Mkdir("d/.shoal-s3", 0o755))
	es, err := c.ReadDir("d")
	must(t, err)
	if got := names(es); !slices.Equal(got, []string{".shoal-s3"}) {
		t.Errorf("ReadDir(d) = %q", got)
	}
}
