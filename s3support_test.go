package shoal

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestPublish(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c, _ := b.open(t)
		must(t, c.Mkdir("stage", 0o755))
		must(t, c.Mkdir("dst", 0o755))
		write := func(name, data string) {
			t.Helper()
			f, err := c.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			must(t, err)
			_, err = f.Write([]byte(data))
			must(t, err)
			must(t, f.Close())
		}
		write("stage/a", "one")
		mt := time.Unix(1700000000, 42)
		a, err := c.Publish("stage/a", "dst/obj", PublishOptions{Mtime: mt, Xattr: "user.x", Value: []byte("v"), Check: true})
		// Both backends publish in one transaction (the remote one through
		// the Clone service's Publish).
		must(t, err)
		if a.Size != 3 || !a.Mtime.Equal(mt) {
			t.Fatalf("published attr %+v", a)
		}
		fi, err := c.Stat("dst/obj")
		must(t, err)
		if st := fi.Sys().(*Attr); st.Ino != a.Ino || !st.Mtime.Equal(mt) {
			t.Fatalf("stat after publish %+v", st)
		}
		if v, err := c.GetXattr("dst/obj", "user.x"); err != nil || string(v) != "v" {
			t.Fatalf("xattr %q %v", v, err)
		}
		write("stage/b", "two")
		if _, err := c.Publish("stage/b", "dst/obj", PublishOptions{Check: true}); !errors.Is(err, ErrTargetChanged) {
			t.Fatalf("publish over an existing file with Expect nil: %v", err)
		}
		cur := fi.Sys().(*Attr)
		if _, err := c.Publish("stage/b", "dst/obj", PublishOptions{Check: true, Expect: cur}); err != nil {
			t.Fatal(err)
		}
		if got, err := c.ReadFile("dst/obj"); err != nil || string(got) != "two" {
			t.Fatalf("read after replace: %q %v", got, err)
		}
	})
}
