package fusefs

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// envInt reads a positive integer from the environment, or def.
func envInt(t testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// TestFSX is an fsx-style test: random writes, truncates, reads, mmap
// reads and shared mmap writes with msync (in a helper process), fsyncs and close/reopen through
// the mount, each checked against an in-memory model of the file.
// SHOAL_FSX_OPS sets the operation count (default 400; CI's nightly size
// is 100000), SHOAL_FSX_SEED replays a run (the seed is printed).
func TestFSX(t *testing.T) {
	needFUSE(t)
	ops := envInt(t, "SHOAL_FSX_OPS", 400)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SHOAL_FSX_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SHOAL_FSX_SEED=%q: %v", s, err)
		}
		seed = v
	}
	eachBackend(t, func(t *testing.T, b backend) {
		t.Logf("seed %d (replay with SHOAL_FSX_SEED=%d), %d ops", seed, seed, ops)
		fsx(t, mountFresh(t, b, Options{}), rand.New(rand.NewPCG(seed, 0x5f5)), ops)
	})
}

func fsx(t *testing.T, mnt string, rng *rand.Rand, ops int) {
	const maxSize = 9 << 20 // crosses 4 MiB block boundaries
	p := filepath.Join(mnt, "fsx")
	var model []byte
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { f.Close() }()
	fail := func(i int, format string, args ...any) {
		t.Helper()
		t.Fatalf("op %d: "+format, append([]any{i}, args...)...)
	}
	check := func(i int, what string, got []byte, off int) {
		t.Helper()
		want := model[off : off+len(got)]
		if !bytes.Equal(got, want) {
			j := 0
			for j < len(got) && got[j] == want[j] {
				j++
			}
			fail(i, "%s: data differs at file offset %d (size %d)", what, off+j, len(model))
		}
	}
	for i := 0; i < ops; i++ {
		switch op := rng.IntN(100); {
		case op < 35: // write
			off := rng.IntN(maxSize - 1)
			if rng.IntN(3) == 0 {
				off = min(len(model), maxSize-1) // extend
			}
			n := 1 + rng.IntN(min(256<<10, maxSize-off))
			buf := make([]byte, n)
			for k := range buf {
				buf[k] = byte(rng.Uint32())
			}
			if _, err := f.WriteAt(buf, int64(off)); err != nil {
				fail(i, "write %d@%d: %v", n, off, err)
			}
			if off+n > len(model) {
				model = append(model, make([]byte, off+n-len(model))...)
			}
			copy(model[off:], buf)
		case op < 45: // truncate
			size := rng.IntN(maxSize)
			if err := f.Truncate(int64(size)); err != nil {
				fail(i, "truncate %d: %v", size, err)
			}
			if size > len(model) {
				model = append(model, make([]byte, size-len(model))...)
			} else {
				model = model[:size]
			}
		case op < 75: // read
			if len(model) == 0 {
				continue
			}
			off := rng.IntN(len(model))
			n := 1 + rng.IntN(min(512<<10, len(model)-off))
			buf := make([]byte, n)
			if _, err := f.ReadAt(buf, int64(off)); err != nil {
				fail(i, "read %d@%d: %v", n, off, err)
			}
			check(i, "read", buf, off)
		case op < 82: // mmap read, or shared mmap write + msync, in another process
			if len(model) == 0 {
				continue
			}
			if rng.IntN(2) == 0 {
				off := rng.IntN(len(model))
				n := 1 + rng.IntN(min(64<<10, len(model)-off))
				buf := make([]byte, n)
				for k := range buf {
					buf[k] = byte(rng.Uint32())
				}
				if _, err := mmapHelper(p, "write", off, len(model), buf); err != nil {
					fail(i, "mmap write %d@%d: %v", n, off, err)
				}
				copy(model[off:], buf)
			} else {
				got, err := mmapHelper(p, "read", 0, len(model), nil)
				if err != nil {
					fail(i, "mmap read: %v", err)
				}
				check(i, "mmap read", got, 0)
			}
		case op < 88: // fsync
			if err := f.Sync(); err != nil {
				fail(i, "fsync: %v", err)
			}
		case op < 96: // close and reopen: close-to-open
			if err := f.Close(); err != nil {
				fail(i, "close: %v", err)
			}
			if f, err = os.OpenFile(p, os.O_RDWR, 0); err != nil {
				fail(i, "reopen: %v", err)
			}
		default: // stat
			fi, err := f.Stat()
			if err != nil {
				fail(i, "fstat: %v", err)
			}
			if fi.Size() != int64(len(model)) {
				fail(i, "fstat size %d, model %d", fi.Size(), len(model))
			}
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(model) {
		t.Fatalf("final size %d, model %d", len(got), len(model))
	}
	check(ops, "final read", got, 0)
}

// mmapEnv makes the test binary an mmap helper (see mmapHelperMain).
const mmapEnv = "SHOAL_FSX_MMAP_HELPER"

// mmapHelper maps the first size bytes of file p in a child process
// and either prints them (read) or copies data in at off and msyncs
// (write). mmap runs in another process because a page fault on a file
// this process serves cannot be preempted: a garbage collection stopping
// the world would wait for the faulting goroutine while the goroutine
// that would answer the fault is stopped.
func mmapHelper(p, op string, off, size int, data []byte) ([]byte, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d %d", mmapEnv, op, p, off, size))
	cmd.Stdin = bytes.NewReader(data)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, errb.String())
	}
	return out.Bytes(), nil
}

// mmapHelperMain is the helper's body, run from TestMain.
func mmapHelperMain(spec string) {
	var op, p string
	var off, size int
	if _, err := fmt.Sscanf(spec, "%s %s %d %d", &op, &p, &off, &size); err != nil {
		fmt.Fprintln(os.Stderr, "bad spec:", err)
		os.Exit(2)
	}
	flag, prot := os.O_RDONLY, syscall.PROT_READ
	if op == "write" {
		flag, prot = os.O_RDWR, syscall.PROT_READ|syscall.PROT_WRITE
	}
	f, err := os.OpenFile(p, flag, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, size, prot, syscall.MAP_SHARED)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mmap:", err)
		os.Exit(1)
	}
	if op == "write" {
		data, _ := io.ReadAll(os.Stdin)
		copy(m[off:], data)
		if err := unix.Msync(m, unix.MS_SYNC); err != nil {
			fmt.Fprintln(os.Stderr, "msync:", err)
			os.Exit(1)
		}
	} else {
		os.Stdout.Write(m)
	}
	if err := syscall.Munmap(m); err != nil {
		fmt.Fprintln(os.Stderr, "munmap:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
