package shoal

import (
	"syscall"
	"testing"
	"time"
)

// TestMount: Client.Mount, Mounts and Unmount over OpenLocal and Dial,
// and the mount's directory read-only to every SDK change.
func TestMount(t *testing.T) { eachBackend(t, testMount) }

func testMount(t *testing.T, b backend) {
	c, _ := b.open(t)
	must(t, c.Mkdir("/datasets", 0o755))
	must(t, c.Mkdir("/datasets/full", 0o755))
	must(t, c.WriteFile("/datasets/full/f", []byte("x"), 0o644))
	_, err := c.Mount("file:///srv/data", "/datasets/full", MountOptions{})
	wantErrno(t, err, syscall.ENOTEMPTY, "Mount on a non-empty directory")
	_, err = c.Mount("file:///srv/data", "/datasets/full/f", MountOptions{})
	wantErrno(t, err, syscall.EEXIST, "Mount on a file")
	_, err = c.Mount("ftp://x", "/datasets/y", MountOptions{})
	wantErrno(t, err, syscall.EINVAL, "Mount of a bad URL")

	m, err := c.Mount("s3://bucket/train", "/datasets/x", MountOptions{Endpoint: "http://127.0.0.1:1", SyncInterval: time.Minute, CredentialsFile: "/etc/shoal/creds"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Path != "/datasets/x" || m.URL != "s3://bucket/train" || m.Mode != 0o444 {
		t.Fatalf("Mount = %+v", m)
	}
	_, err = c.Mount("file:///srv/data", "/datasets/x/in", MountOptions{})
	wantErrno(t, err, syscall.EBUSY, "nested Mount")
	wantErrno(t, c.Mkdir("/datasets/x/d", 0o755), syscall.EROFS, "Mkdir in a mount")
	wantErrno(t, c.WriteFile("/datasets/x/f", []byte("x"), 0o644), syscall.EROFS, "WriteFile in a mount")
	wantErrno(t, c.Rename("/datasets/full/f", "/datasets/x/f"), syscall.EROFS, "Rename into a mount")
	wantErrno(t, c.Remove("/datasets/x"), syscall.EBUSY, "Remove of a mount root")

	l, err := c.Mounts()
	if err != nil || len(l) != 1 || l[0].Path != "/datasets/x" || l[0].Endpoint != "http://127.0.0.1:1" {
		t.Fatalf("Mounts = %+v, %v", l, err)
	}
	if _, err := c.Unmount("/datasets/x"); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.Mounts(); len(l) != 0 {
		t.Fatalf("Mounts after Unmount = %+v", l)
	}
	must(t, c.Mkdir("/datasets/x/d", 0o755))
}
