package shoal

import (
	"io/fs"
	"os"
	"testing"
)

// A write through the SDK keeps a file's setuid/setgid bits when the
// client acts as root (CAP_FSETID on Linux) and clears them when it acts
// as anyone else, locally and over Dial.
func TestWriteKeepsSetuidForRoot(t *testing.T) { eachBackend(t, testWriteKeepsSetuidForRoot) }

func testWriteKeepsSetuidForRoot(t *testing.T, b backend) {
	c, _ := b.open(t)
	const suid = fs.ModeSetuid | fs.ModeSetgid | 0o777
	write := func(c *Client, name string) {
		t.Helper()
		f, err := c.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("more")); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	mode := func(name string) fs.FileMode {
		t.Helper()
		fi, err := c.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode()
	}
	for _, name := range []string{"root", "user"} {
		if err := c.WriteFile(name, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := c.Chmod(name, suid); err != nil {
			t.Fatal(err)
		}
	}
	write(c, "root")
	if m := mode("root"); m != suid {
		t.Errorf("after a write by root: %v, want %v", m, fs.FileMode(suid))
	}
	user := c.AsIdentity(1000, 1000)
	write(user, "user")
	if m := mode("user"); m != 0o777 {
		t.Errorf("after a write by uid 1000: %v, want -rwxrwxrwx", m)
	}
}
