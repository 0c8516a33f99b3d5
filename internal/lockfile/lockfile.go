// Package lockfile owns the single-process lock on a Shoal data
// directory: an flock on DIR/LOCK, held for the life of the process's
// client. The file records the holder's pid and command line so that a
// second opener, in this process or another, can say who holds it.
//
// Invariants: at most one open Lock per file system-wide (flock locks
// belong to an open file description, so a second open in the same
// process conflicts too); the lock is released by Close and by the OS
// when the holding process dies, so a crash never leaves a stale lock
// (the file itself is left behind on purpose: removing it would let two
// openers lock two different inodes).
package lockfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalfs/shoal/internal/fserr"
)

// Lock is a held lock. The zero value is not usable; use Acquire.
type Lock struct {
	f *os.File
}

// Acquire takes the lock on path (created if missing) without waiting.
// If another holder has it, the error has kind Busy and names the
// holder's pid and command line.
func Acquire(path string) (*Lock, error) {
	const op = "lockfile: acquire"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fserr.E(op, path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid, cmd := holder(f)
			return nil, fserr.E(op, path, fserr.Busy,
				fmt.Errorf("lockfile: held by pid %d (%s)", pid, cmd))
		}
		return nil, fserr.E(op, path, err)
	}
	rec := fmt.Sprintf("%d\n%s\n", os.Getpid(), cmdline())
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fserr.E(op, path, err)
	}
	if _, err := f.WriteAt([]byte(rec), 0); err != nil {
		f.Close()
		return nil, fserr.E(op, path, err)
	}
	return &Lock{f: f}, nil
}

// Close releases the lock. Closing the descriptor drops the flock.
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fserr.E("lockfile: release", "", err)
	}
	return nil
}

// holder reads the pid and command line the holder wrote. The holder
// writes them just after taking the lock, so a reader that races it may
// see an empty file for a moment: retry briefly before giving up.
func holder(f *os.File) (int, string) {
	for i := 0; i < 20; i++ {
		b := make([]byte, 4096)
		n, _ := f.ReadAt(b, 0)
		b = b[:n]
		if line, rest, ok := bytes.Cut(b, []byte("\n")); ok {
			if pid, err := strconv.Atoi(string(line)); err == nil {
				return pid, strings.TrimSuffix(string(rest), "\n")
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, "unknown holder"
}

func cmdline() string {
	b, err := os.ReadFile("/proc/self/cmdline")
	if err != nil || len(b) == 0 {
		return strings.Join(os.Args, " ")
	}
	b = bytes.TrimRight(b, "\x00")
	return strings.ReplaceAll(string(b), "\x00", " ")
}
