package shoal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const lockChildEnv = "SHOAL_LOCK_TEST_CHILD"

// TestMain lets the lock test re-execute the test binary as a second
// process that tries to open the parent's directory.
func TestMain(m *testing.M) {
	if dir := os.Getenv(lockChildEnv); dir != "" {
		c, err := OpenLocal(context.Background(), dir)
		if err == nil {
			c.Close()
			fmt.Println("opened")
			os.Exit(0)
		}
		var e *Error
		if errors.As(err, &e) && e.Kind == KindBusy {
			fmt.Println("busy:", err)
			os.Exit(0)
		}
		fmt.Println("error:", err)
		os.Exit(1)
	}
	code := m.Run()
	if stopShared != nil {
		stopShared()
	}
	os.Exit(code)
}

// TestLock is local-only: the directory lock is what the embedded mode
// has and a server holds for its whole life.
func TestLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := OpenLocal(ctx, dir, WithGCInterval(0))
	must(t, err)
	defer c.Close()

	_, err = OpenLocal(ctx, dir)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindBusy {
		t.Fatalf("second open in process: %v", err)
	}
	if want := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := string(out)
	if !strings.HasPrefix(got, "busy:") || !strings.Contains(got, fmt.Sprintf("pid %d", os.Getpid())) ||
		!strings.Contains(got, os.Args[0]) {
		t.Fatalf("child saw %q; want busy naming pid %d and %s", got, os.Getpid(), os.Args[0])
	}

	// Released on Close: the child can now open it.
	must(t, c.Close())
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "opened") {
		t.Fatalf("child after close: %v %s", err, out)
	}
	c2, err := OpenLocal(ctx, dir, WithGCInterval(0))
	must(t, err)
	must(t, c2.Close())
}
