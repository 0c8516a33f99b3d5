package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	shoal "github.com/shoalfs/shoal"
)

// testClient speaks the protocol as the Python package does.
type testClient struct {
	t  *testing.T
	c  *net.UnixConn
	id uint32
}

// arg builders: ints are i64, strings and []byte are length-prefixed.
func encodeArgs(args ...any) []byte {
	var b []byte
	for _, a := range args {
		switch v := a.(type) {
		case int:
			b = binary.LittleEndian.AppendUint64(b, uint64(int64(v)))
		case int64:
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		case string:
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		case []byte:
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		default:
			panic("bad arg")
		}
	}
	return b
}

type reply struct {
	errno int32
	msg   string
	d     *dec
}

func (tc *testClient) callFD(op uint16, fd int, args ...any) reply {
	tc.t.Helper()
	tc.id++
	body := encodeArgs(args...)
	frame := binary.LittleEndian.AppendUint32(nil, uint32(8+len(body)))
	frame = binary.LittleEndian.AppendUint32(frame, tc.id)
	frame = binary.LittleEndian.AppendUint16(frame, op)
	frame = append(frame, 0, 0)
	frame = append(frame, body...)
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	if _, _, err := tc.c.WriteMsgUnix(frame, oob, nil); err != nil {
		tc.t.Fatalf("send: %v", err)
	}
	var hdr [4]byte
	if _, err := ioReadFull(tc.c, hdr[:]); err != nil {
		tc.t.Fatalf("recv: %v", err)
	}
	resp := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
	if _, err := ioReadFull(tc.c, resp); err != nil {
		tc.t.Fatalf("recv: %v", err)
	}
	if got := binary.LittleEndian.Uint32(resp); got != tc.id {
		tc.t.Fatalf("response id %d, want %d", got, tc.id)
	}
	r := reply{errno: int32(binary.LittleEndian.Uint32(resp[4:])), d: &dec{b: resp[8:]}}
	if r.errno != 0 {
		r.msg = r.d.str()
	}
	return r
}

func (tc *testClient) call(op uint16, args ...any) reply {
	tc.t.Helper()
	return tc.callFD(op, -1, args...)
}

func (tc *testClient) ok(op uint16, args ...any) *dec {
	tc.t.Helper()
	r := tc.call(op, args...)
	if r.errno != 0 {
		tc.t.Fatalf("op %d: errno %d: %s", op, r.errno, r.msg)
	}
	return r.d
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func startAgent(t testing.TB, cfg Config) *Agent {
	t.Helper()
	if cfg.Socket == "" {
		cfg.Socket = filepath.Join(t.TempDir(), "s", "agent.sock")
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = -1
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return a
}

func dialAgent(t *testing.T, a *Agent) *testClient {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: a.Socket(), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &testClient{t: t, c: c}
}

func build(tc *testClient, dataDir string) (int64, int64) {
	d := tc.ok(OpBuild, ProtocolVersion, "", "", "", 0, dataDir, os.Getpid())
	return d.int(), d.int()
}

func TestRoundTrips(t *testing.T) {
	a := startAgent(t, Config{})
	tc := dialAgent(t, a)
	tc.ok(OpPing)
	if r := tc.call(OpStat, ".", 1); r.errno != int32(syscall.ENOTCONN) {
		t.Fatalf("stat before build: errno %d", r.errno)
	}
	build(tc, t.TempDir())

	tc.ok(OpMkdir, "d", 0o755, 0)
	if r := tc.call(OpMkdir, "d", 0o755, 0); r.errno != int32(syscall.EEXIST) {
		t.Fatalf("mkdir twice: errno %d", r.errno)
	}
	tc.ok(OpMkdir, "d/x/y", 0o700, 1)
	d := tc.ok(OpStat, "d/x/y", 1)
	_, mode := d.int(), d.int()
	if mode != sIFDIR|0o700 {
		t.Fatalf("mode %o", mode)
	}
	r := tc.call(OpStat, "nope", 1)
	if r.errno != int32(syscall.ENOENT) {
		t.Fatalf("stat missing: errno %d", r.errno)
	}
	if p := r.d.str(); p != "nope" {
		t.Fatalf("error path %q", p)
	}

	h := tc.ok(OpOpen, "d/f", int64(os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC), 0o644).int()
	d = tc.ok(OpPwrite, h, 0, []byte("hello world"))
	if n, end := d.int(), d.int(); n != 11 || end != 11 {
		t.Fatalf("pwrite %d %d", n, end)
	}
	if got := tc.ok(OpPread, h, 6, 100).bytes(); string(got) != "world" {
		t.Fatalf("pread %q", got)
	}
	d = tc.ok(OpFstat, h)
	d.int()
	d.int()
	d.int()
	d.int()
	d.int()
	if size := d.int(); size != 11 {
		t.Fatalf("fstat size %d", size)
	}
	tc.ok(OpFtruncate, h, 5)
	tc.ok(OpFsync, h)
	tc.ok(OpClose, h)
	if r := tc.call(OpClose, h); r.errno != int32(syscall.EBADF) {
		t.Fatalf("double close errno %d", r.errno)
	}

	// O_APPEND: offset -1 writes at the end and answers the new end.
	h = tc.ok(OpOpen, "d/f", int64(os.O_WRONLY|os.O_APPEND), 0).int()
	d = tc.ok(OpPwrite, h, -1, []byte("!!"))
	if n, end := d.int(), d.int(); n != 2 || end != 7 {
		t.Fatalf("append %d %d", n, end)
	}
	tc.ok(OpClose, h)

	tc.ok(OpSetXattr, "d/f", "user.k", []byte("v"), 0)
	if v := tc.ok(OpGetXattr, "d/f", "user.k").bytes(); string(v) != "v" {
		t.Fatalf("getxattr %q", v)
	}
	d = tc.ok(OpListXattr, "d/f")
	if n := d.int(); n != 1 || d.str() != "user.k" {
		t.Fatal("listxattr")
	}
	tc.ok(OpRemoveXattr, "d/f", "user.k")
	if r := tc.call(OpGetXattr, "d/f", "user.k"); r.errno != int32(syscall.ENODATA) {
		t.Fatalf("getxattr removed: errno %d", r.errno)
	}

	tc.ok(OpSymlink, "/d/f", "ln")
	if got := tc.ok(OpReadlink, "ln").str(); got != "/d/f" {
		t.Fatalf("readlink %q", got)
	}
	if got := tc.ok(OpRealpath, "ln").str(); got != "/d/f" {
		t.Fatalf("realpath %q", got)
	}
	tc.ok(OpLink, "d/f", "d/g")
	tc.ok(OpRename, "d/g", "d/h", 0)
	if r := tc.call(OpRmdir, "d/h"); r.errno != int32(syscall.ENOTDIR) {
		t.Fatalf("rmdir file errno %d", r.errno)
	}
	if r := tc.call(OpUnlink, "d/x"); r.errno != int32(syscall.EISDIR) {
		t.Fatalf("unlink dir errno %d", r.errno)
	}
	tc.ok(OpUnlink, "d/h")
	tc.ok(OpMknod, "d/fifo", sIFIFO|0o600, 0)

	d = tc.ok(OpListDir, "d")
	var names []string
	for n := d.int(); n > 0; n-- {
		names = append(names, d.str())
		for range 12 {
			d.int()
		}
	}
	slices.Sort(names)
	if want := "f fifo x"; joinSpace(names) != want {
		t.Fatalf("listdir %q want %q", names, want)
	}
	dh := tc.ok(OpOpenDir, "d").int()
	count := 0
	for {
		d := tc.ok(OpReadDir, dh, 2)
		n := d.int()
		if n == 0 {
			break
		}
		if n > 2 {
			t.Fatalf("batch of %d", n)
		}
		count += int(n)
	}
	tc.ok(OpCloseDir, dh)
	if count != 3 {
		t.Fatalf("readdir saw %d", count)
	}

	d = tc.ok(OpSetAttr, "d/f", int64(shoal.SetAttrMode), 0o600, 0, 0, 0, 0, 0, 0)
	d.int()
	if mode := d.int(); mode != sIFREG|0o600 {
		t.Fatalf("setattr mode %o", mode)
	}
	tc.ok(OpRemove, "d", 1)
	if r := tc.call(OpRemove, "d", 1); r.errno != int32(syscall.ENOENT) {
		t.Fatalf("remove missing: errno %d", r.errno)
	}
	if d := tc.ok(OpStatFS); d.int() == 0 {
		t.Fatal("statfs total 0")
	}
	tc.ok(OpSetOpt, "timeout_ms", "5000")
	if r := tc.call(OpSetOpt, "bogus", "1"); r.errno != int32(syscall.EINVAL) {
		t.Fatal("bad option accepted")
	}
	if r := tc.call(999); r.errno != int32(syscall.ENOSYS) {
		t.Fatalf("unknown op errno %d", r.errno)
	}
	tc.ok(OpStop)
}

func joinSpace(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

// shm makes a shared-memory file the way the Python package does.
func shm(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	f, err := os.CreateTemp("/dev/shm", "shoal-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	os.Remove(f.Name())
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(int64(size)); err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	return f, mem
}

func TestSharedMemoryBatch(t *testing.T) {
	a := startAgent(t, Config{Parallel: 4})
	tc := dialAgent(t, a)
	build(tc, t.TempDir())
	const files, per = 5, 4096
	var hs []int64
	for i := range files {
		h := tc.ok(OpOpen, "f"+string(rune('0'+i)), int64(os.O_CREATE|os.O_RDWR), 0o644).int()
		hs = append(hs, h)
	}
	f, mem := shm(t, files*per)
	id := tc.callFD(OpIovReg, int(f.Fd()), int64(len(mem)))
	if id.errno != 0 {
		t.Fatalf("iovreg errno %d %s", id.errno, id.msg)
	}
	iov := id.d.int()
	for i := range mem {
		mem[i] = byte(i / per)
	}
	args := []any{int64(files)}
	for i, h := range hs {
		args = append(args, iov, int64(i*per), int64(per), h, int64(0))
	}
	d := tc.ok(OpPwritev, args...)
	if n := d.int(); n != files {
		t.Fatalf("pwritev answered %d", n)
	}
	for range files {
		if r := d.int(); r != per {
			t.Fatalf("pwritev entry %d", r)
		}
	}
	clear(mem)
	// Read back with one entry past the end (short) and one bad handle.
	args = []any{int64(files + 1)}
	for i, h := range hs {
		args = append(args, iov, int64(i*per), int64(per), h, int64(0))
	}
	args = append(args, iov, int64(0), int64(10), int64(12345), int64(0))
	d = tc.ok(OpPreadv, args...)
	d.int()
	for i := range files {
		if r := d.int(); r != per {
			t.Fatalf("preadv entry %d: %d", i, r)
		}
	}
	if r := d.int(); r != -int64(syscall.EBADF) {
		t.Fatalf("bad handle entry: %d", r)
	}
	for i := range mem {
		if mem[i] != byte(i/per) {
			t.Fatalf("byte %d = %d", i, mem[i])
		}
	}
	if n := tc.ok(OpPreadIov, hs[1], 4000, 1000, iov, 0).int(); n != 96 {
		t.Fatalf("pread into iov at the end: %d", n)
	}
	if r := tc.call(OpPreadIov, hs[1], 0, 10, iov, int64(len(mem)-5)); r.errno != int32(syscall.EFAULT) {
		t.Fatalf("out of bounds iov: errno %d", r.errno)
	}
	tc.ok(OpIovUnreg, iov)
	if r := tc.call(OpIovUnreg, iov); r.errno != int32(syscall.EBADF) {
		t.Fatalf("double unreg errno %d", r.errno)
	}
}

func TestSessionsAttachShareAndEnd(t *testing.T) {
	a := startAgent(t, Config{})
	dir := t.TempDir()
	tc1 := dialAgent(t, a)
	id, secret := build(tc1, dir)
	tc2 := dialAgent(t, a)
	if r := tc2.call(OpAttach, id, secret+1); r.errno != int32(syscall.ENOENT) {
		t.Fatalf("attach with a wrong secret: errno %d", r.errno)
	}
	tc2.ok(OpAttach, id, secret)
	h := tc1.ok(OpOpen, "f", int64(os.O_CREATE|os.O_WRONLY), 0o644).int()
	// The second connection shares the session's handles.
	tc2.ok(OpPwrite, h, 0, []byte("shared"))
	tok := tc2.ok(OpShareFH, 1, h)
	tok.int()
	token := tok.int()

	// Another session (another process) opens the shared file.
	tc3 := dialAgent(t, a)
	build(tc3, dir)
	tc1.ok(OpClose, h)
	d := tc3.ok(OpOpenFH, 1, token)
	d.int()
	h3, flags, path := d.int(), d.int(), d.str()
	if path != "f" || flags&int64(os.O_CREATE) != 0 {
		t.Fatalf("openfh %q %o", path, flags)
	}
	tc3.ok(OpClose, h3)

	// Closing both connections ends the session; its id is gone.
	tc1.c.Close()
	tc2.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tc4 := dialAgent(t, a)
		r := tc4.call(OpAttach, id, secret)
		tc4.c.Close() // an attached probe would keep the session alive
		if r.errno == int32(syscall.ENOENT) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("session outlived its connections")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParallelConnections(t *testing.T) {
	a := startAgent(t, Config{})
	dir := t.TempDir()
	tc := dialAgent(t, a)
	id, secret := build(tc, dir)
	h := tc.ok(OpOpen, "f", int64(os.O_CREATE|os.O_RDWR), 0o644).int()
	tc.ok(OpPwrite, h, 0, bytes.Repeat([]byte("x"), 1<<16))
	var wg sync.WaitGroup
	for range 4 {
		c := dialAgent(t, a)
		c.ok(OpAttach, id, secret)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				r := c.call(OpPread, h, 0, 1<<16)
				if r.errno != 0 || len(r.d.bytes()) != 1<<16 {
					t.Error("parallel pread failed")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestIdleExitAndSecondAgent(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s", "agent.sock")
	a, err := New(Config{Socket: sock, IdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Socket: sock}); !errors.Is(err, ErrRunning) {
		t.Fatalf("second agent: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit when idle")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	fi, err := os.Stat(filepath.Dir(sock))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket dir mode %v %v", fi.Mode(), err)
	}
	// The lock is free again.
	a2, err := New(Config{Socket: sock, IdleTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := a2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestMalformedFrames(t *testing.T) {
	a := startAgent(t, Config{})
	tc := dialAgent(t, a)
	build(tc, t.TempDir())
	// A truncated argument list is EPROTO, and the connection survives.
	if r := tc.call(OpStat); r.errno != int32(syscall.EPROTO) {
		t.Fatalf("truncated args: errno %d", r.errno)
	}
	if r := tc.call(OpPreadv, int64(1<<40)); r.errno != int32(syscall.EPROTO) {
		t.Fatalf("huge count: errno %d", r.errno)
	}
	tc.ok(OpPing)
}

func TestModeConversions(t *testing.T) {
	for _, st := range []uint32{sIFREG | 0o644, sIFDIR | 0o1777, sIFLNK | 0o777, sIFIFO | 0o600, sIFSOCK | 0o600, sIFCHR | 0o620, sIFBLK | 0o660, sIFREG | 0o6755} {
		if got := stMode(fsMode(st)); got != st {
			t.Errorf("%o -> %v -> %o", st, fsMode(st), got)
		}
	}
}

// TestHandlesOutliveTheirConnection: a file and a directory opened on one
// connection of a session stay usable from the others after it closes, and
// a per-request timeout shorter than the file's life bounds no later
// request on the handle (issue 9).
func TestHandlesOutliveTheirConnection(t *testing.T) {
	a := startAgent(t, Config{})
	dir := t.TempDir()
	tc := dialAgent(t, a)
	id, secret := build(tc, dir)
	tc.ok(OpSetOpt, "timeout_ms", "500")
	opener := dialAgent(t, a)
	opener.ok(OpAttach, id, secret)
	w := opener.ok(OpOpen, "f", int64(os.O_CREATE|os.O_WRONLY|os.O_TRUNC), 0o644).int()
	dh := opener.ok(OpOpenDir, ".").int()
	opener.c.Close()
	time.Sleep(700 * time.Millisecond) // past the timeout, and the opener's connection is gone

	data := bytes.Repeat([]byte("x"), 100)
	var wg sync.WaitGroup
	for i := range 8 {
		c := dialAgent(t, a)
		c.ok(OpAttach, id, secret)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := c.call(OpPwrite, w, int64(i*len(data)), data); r.errno != 0 {
				t.Errorf("pwrite from connection %d: errno %d: %s", i, r.errno, r.msg)
			}
		}()
	}
	wg.Wait()
	tc.ok(OpFsync, w)
	tc.ok(OpClose, w)
	if n := tc.ok(OpReadDir, dh, 0).int(); n != 1 {
		t.Fatalf("readdir: %d entries", n)
	}
	tc.ok(OpCloseDir, dh)

	reader := dialAgent(t, a)
	reader.ok(OpAttach, id, secret)
	r := reader.ok(OpOpen, "f", int64(os.O_RDONLY), 0).int()
	time.Sleep(100 * time.Millisecond) // the open request's deadline has passed
	got := reader.ok(OpPread, r, 0, 1000).bytes()
	if !bytes.Equal(got, bytes.Repeat(data, 8)) {
		t.Fatalf("read back %d bytes", len(got))
	}
	tc.ok(OpClose, r)
}

// TestDescriptorsFollowTheirFrame: requests sent without waiting for the
// answers (as Python's write-behind posts small writes) reach the agent
// in one read together with the next request's descriptors; those belong
// to that request, not to the one the read started in.
func TestDescriptorsFollowTheirFrame(t *testing.T) {
	a := startAgent(t, Config{})
	tc := dialAgent(t, a)
	build(tc, t.TempDir())
	f, mem := shm(t, 4096)
	frame := func(id uint32, op uint16, args ...any) []byte {
		body := encodeArgs(args...)
		b := binary.LittleEndian.AppendUint32(nil, uint32(8+len(body)))
		b = binary.LittleEndian.AppendUint32(b, id)
		b = binary.LittleEndian.AppendUint16(b, op)
		return append(append(b, 0, 0), body...)
	}
	const rounds = 200
	go func() {
		for i := range rounds {
			// A plain request, then one carrying a descriptor, each in its
			// own sendmsg as the Python package sends them.
			if _, err := tc.c.Write(frame(uint32(2*i+1), OpPing)); err != nil {
				return
			}
			if _, _, err := tc.c.WriteMsgUnix(frame(uint32(2*i+2), OpIovReg, int64(len(mem))), unix.UnixRights(int(f.Fd())), nil); err != nil {
				return
			}
		}
	}()
	for i := range 2 * rounds {
		var hdr [4]byte
		if _, err := ioReadFull(tc.c, hdr[:]); err != nil {
			t.Fatal(err)
		}
		resp := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
		if _, err := ioReadFull(tc.c, resp); err != nil {
			t.Fatal(err)
		}
		if id := binary.LittleEndian.Uint32(resp); id != uint32(i+1) {
			t.Fatalf("answer %d for request %d", id, i+1)
		}
		if errno := int32(binary.LittleEndian.Uint32(resp[4:])); errno != 0 {
			t.Fatalf("request %d: errno %d: %s", i+1, errno, (&dec{b: resp[8:]}).str())
		}
	}
}

// TestScopedBuffersGoWithTheirConnection: a buffer registered as scoped
// (a caller thread's scratch) is unmapped when its connection closes; an
// unscoped one stays with the session.
func TestScopedBuffersGoWithTheirConnection(t *testing.T) {
	a := startAgent(t, Config{})
	tc := dialAgent(t, a)
	id, secret := build(tc, t.TempDir())
	f, mem := shm(t, 4096)
	kept := tc.callFD(OpIovReg, int(f.Fd()), int64(len(mem)))
	if kept.errno != 0 {
		t.Fatalf("iovreg: %s", kept.msg)
	}
	keptID := kept.d.int()
	th := dialAgent(t, a)
	th.ok(OpAttach, id, secret)
	r := th.callFD(OpIovReg, int(f.Fd()), int64(len(mem)), 1)
	if r.errno != 0 {
		t.Fatalf("scoped iovreg: %s", r.msg)
	}
	scopedID := r.d.int()
	a.mu.Lock()
	s := a.mu.sessions[uint64(id)]
	a.mu.Unlock()
	registered := func(iov int64) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, ok := s.iovs[iov]
		return ok
	}
	if !registered(scopedID) || !registered(keptID) {
		t.Fatal("buffers not registered")
	}
	th.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for registered(scopedID) {
		if time.Now().After(deadline) {
			t.Fatal("a scoped buffer outlived its connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !registered(keptID) {
		t.Fatal("the session's buffer went with another connection")
	}
}
