package shoal

import (
	"os"
	"path/filepath"
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

// TestMountFileLazy: a file:// mount over OpenLocal and Dial shows the
// directory's objects on first listing and their sizes; reading one is
// refused (the read path is not built) rather than served as zeros.
func TestMountFileLazy(t *testing.T) { eachBackend(t, testMountFileLazy) }

func testMountFileLazy(t *testing.T, b backend) {
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "train", "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "train", "a.bin"), []byte("abcdef"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "top.txt"), []byte("x"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "train", "sub", "c"), nil, 0o644))
	c, _ := b.open(t)
	if _, err := c.Mount("file://"+src, "/ds", MountOptions{}); err != nil {
		t.Fatal(err)
	}
	ents, err := c.ReadDir("ds")
	if err != nil || len(ents) != 2 || ents[0].Name() != "top.txt" || ents[1].Name() != "train" || !ents[1].IsDir() {
		t.Fatalf("ReadDir(/ds) = %v, %v", ents, err)
	}
	fi, err := c.Stat("ds/train/a.bin")
	if err != nil || fi.Size() != 6 || fi.Mode().Perm() != 0o444 {
		t.Fatalf("Stat(a.bin) = %v, %v", fi, err)
	}
	_, err = c.ReadFile("ds/train/a.bin")
	wantErrno(t, err, syscall.EOPNOTSUPP, "ReadFile of a mounted file")
	wantErrno(t, c.Remove("/ds/train/a.bin"), syscall.EROFS, "Remove in a mount")
	wantErrno(t, c.Chmod("/ds/train/a.bin", 0o644), syscall.EROFS, "Chmod in a mount")
	if _, err := c.Unmount("/ds"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := c.ReadDir("ds"); len(ents) != 0 {
		t.Fatalf("after Unmount /ds holds %v", ents)
	}
}
