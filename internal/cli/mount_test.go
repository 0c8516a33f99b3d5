package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func needFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("mount tests need /dev/fuse: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("mount tests need root")
	}
}

// mounted reports whether dir is a mount point in /proc/mounts.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

func waitMounted(t *testing.T, dir string, want bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if mounted(t, dir) == want {
			return
		}
	}
	t.Fatalf("%s: mounted=%v after 10s, want %v", dir, !want, want)
}

// TestMountForeground mounts in-process, writes through the mount, and
// stops the way SIGTERM does (the command's context is cancelled), with
// a file still open: the unmount is then lazy and the file stays usable.
func TestMountForeground(t *testing.T) {
	needFUSE(t)
	data, mnt := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var code int
	var errb bytes.Buffer
	wg.Add(1)
	go func() {
		defer wg.Done()
		code = Run(ctx, []string{"mount", "--data", data, mnt}, strings.NewReader(""), &bytes.Buffer{}, &errb)
	}()
	waitMounted(t, mnt, true)
	if err := os.WriteFile(filepath.Join(mnt, "hello"), []byte("world"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(mnt, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitMounted(t, mnt, false)
	b := make([]byte, 5)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "world" {
		t.Errorf("read after lazy unmount: %q, %v", b, err)
	}
	f.Close()
	wg.Wait()
	if code != 0 {
		t.Fatalf("mount exited %d: %s", code, errb.String())
	}
	if got := fsh(t, data, "cat", "hello"); got != "world" {
		t.Errorf("after unmount: cat hello = %q", got)
	}
}

func TestMountUsage(t *testing.T) {
	if r := run(t, nil, "mount", "--data", t.TempDir(), filepath.Join(t.TempDir(), "missing")); r.code != 1 || !strings.Contains(r.stderr, "no such file or directory") {
		t.Errorf("mount on a missing directory: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run(t, nil, "mount", "--readahead", "x", t.TempDir()); r.code != 2 {
		t.Errorf("bad --readahead: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run(t, nil, "umount", t.TempDir()); r.code != 1 || !strings.Contains(r.stderr, "not a mount point") {
		t.Errorf("umount of a plain directory: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestMountDaemon runs the real binary: -d returns once mounted (exit
// 0), a second mount of the same data directory reports why it failed
// (exit 1), and shoal umount ends the daemon, releasing the directory.
func TestMountDaemon(t *testing.T) {
	needFUSE(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool to build the shoal binary")
	}
	bin := filepath.Join(t.TempDir(), "shoal")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/shoalfs/shoal/cmd/shoal").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data, mnt, mnt2 := t.TempDir(), t.TempDir(), t.TempDir()
	shoalCmd := func(args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), errb.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, errb.String()
	}
	if code, msg := shoalCmd("mount", "-d", "--data", data, mnt); code != 0 {
		t.Fatalf("mount -d: exit %d: %s", code, msg)
	}
	if !mounted(t, mnt) {
		t.Fatal("mount -d returned before the mount was there")
	}
	defer exec.Command(bin, "umount", "-l", mnt).Run()
	if err := os.WriteFile(filepath.Join(mnt, "f"), []byte("daemon"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, msg := shoalCmd("mount", "-d", "--data", data, mnt2); code != 1 || !strings.Contains(msg, "busy") {
		t.Errorf("second mount of a held data directory: exit %d, stderr %q", code, msg)
	}
	if code, msg := shoalCmd("umount", mnt); code != 0 {
		t.Fatalf("umount: exit %d: %s", code, msg)
	}
	// The daemon closes its client after the kernel lets go; wait for
	// the directory lock.
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := run(t, nil, "fs", "--data", data, "cat", "f")
		if r.code == 0 {
			if r.stdout != "daemon" {
				t.Errorf("cat f = %q", r.stdout)
			}
			break
		}
		if time.Now().After(end) {
			t.Fatalf("data directory still held 10s after umount: %s", r.stderr)
		}
	}
}
