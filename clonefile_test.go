package shoal

import (
	"errors"
	"io/fs"
	"testing"
)

// CloneFile onto src itself (the same path or a hard link of it) is
// refused and leaves src's bytes as they were.
func TestCloneFileOntoItself(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c, _ := b.open(t)
		must(t, c.WriteFile("src", []byte("precious"), 0o644))
		must(t, c.Link("src", "alias"))
		for _, dst := range []string{"src", "alias"} {
			err := c.CloneFile("src", dst)
			if err == nil || !errors.Is(err, fs.ErrInvalid) {
				t.Fatalf("CloneFile(src, %s) = %v, want invalid", dst, err)
			}
			if got, err := c.ReadFile("src"); err != nil || string(got) != "precious" {
				t.Fatalf("after CloneFile(src, %s): %q %v", dst, got, err)
			}
		}
		must(t, c.WriteFile("other", []byte("old and longer"), 0o644))
		must(t, c.CloneFile("src", "other"))
		if got, err := c.ReadFile("other"); err != nil || string(got) != "precious" {
			t.Fatalf("clone over a longer file: %q %v", got, err)
		}
	})
}
