package agent

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	shoal "github.com/shoalfs/shoal"
)

// readOpcodeList reads testdata/opcodes.txt: name -> number.
func readOpcodeList(t testing.TB) map[string]int {
	t.Helper()
	f, err := os.Open("testdata/opcodes.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ops := map[string]int{}
	seen := map[int]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			t.Fatalf("opcodes.txt:%d: want \"name number\", got %q", line, text)
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil || n <= 0 || n > 0xffff {
			t.Fatalf("opcodes.txt:%d: bad number %q", line, fields[1])
		}
		if _, dup := ops[fields[0]]; dup {
			t.Fatalf("opcodes.txt:%d: %s listed twice", line, fields[0])
		}
		if other, dup := seen[n]; dup {
			t.Fatalf("opcodes.txt:%d: %d is also %s", line, n, other)
		}
		ops[fields[0]], seen[n] = n, fields[0]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ops
}

// opConstants parses wire.go's Op constants: normalized name -> value.
// Names are compared lower-cased without underscores, so OpPreadIov,
// OP_PREAD_IOV and pread_iov are one name.
func opConstants(t *testing.T) map[string]int {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "wire.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "Op") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: want a literal opcode", id.Name)
				}
				n, err := strconv.Atoi(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[normOp(strings.TrimPrefix(id.Name, "Op"))] = n
			}
		}
	}
	return out
}

func normOp(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

// TestOpcodeList: testdata/opcodes.txt, wire.go's constants and the
// dispatcher's table name the same opcodes with the same numbers.
func TestOpcodeList(t *testing.T) {
	list := readOpcodeList(t)
	consts := opConstants(t)
	if len(list) != len(consts) {
		t.Errorf("opcodes.txt lists %d opcodes, wire.go declares %d", len(list), len(consts))
	}
	for name, n := range list {
		if c, ok := consts[normOp(name)]; !ok || c != n {
			t.Errorf("opcodes.txt: %s = %d; wire.go: %d (declared: %v)", name, n, c, ok)
		}
		spec := lookupOp(uint16(n))
		if spec == nil {
			t.Errorf("opcode %s (%d) has no handler", name, n)
			continue
		}
		if spec.name != name {
			t.Errorf("opcode %d is %q in the table, %q in opcodes.txt", n, spec.name, name)
		}
	}
	for n := range opTable {
		if spec := lookupOp(uint16(n)); spec != nil && list[spec.name] != n {
			t.Errorf("the table's opcode %d (%s) is not in opcodes.txt", n, spec.name)
		}
	}
}

// TestErrno: the agent answers fserr's errno for every error, so the
// same failure is the same errno through FUSE and through Python.
func TestErrno(t *testing.T) {
	for _, c := range []struct {
		err  error
		want syscall.Errno
	}{
		{context.Canceled, syscall.EINTR},
		{context.DeadlineExceeded, syscall.ETIMEDOUT},
		{opError("pread", "", syscall.EBADF), syscall.EBADF},
		{opError("stat", "x", errBadFrame), syscall.EPROTO},
		{opError("stat", "x", context.Canceled), syscall.EINTR},
		{&shoal.Error{Op: "open", Path: "p", Kind: shoal.KindNotExist}, syscall.ENOENT},
		{&shoal.Error{Op: "read", Err: syscall.ENOSPC}, syscall.ENOSPC},
		{errors.New("who knows"), syscall.EIO},
	} {
		if got := errnoOf(c.err); got != int32(c.want) {
			t.Errorf("errnoOf(%v) = %d, want %d (%v)", c.err, got, c.want, c.want)
		}
	}
}

// TestErrorsNameOpAndPath: an error the agent makes itself (not the
// SDK's) names the opcode and what the request named.
func TestErrorsNameOpAndPath(t *testing.T) {
	a := startAgent(t, Config{})
	tc := dialAgent(t, a)
	build(tc, t.TempDir())
	h := tc.ok(OpOpen, "f", int64(os.O_CREATE|os.O_RDWR), 0o644).int()
	tc.ok(OpClose, h)
	if r := tc.call(OpOpen, "f", int64(os.O_RDONLY), 0, -1); r.errno != int32(syscall.EINVAL) || r.msg != "open f: invalid argument" || r.d.str() != "f" {
		t.Fatalf("bad prefetch length: errno %d, message %q", r.errno, r.msg)
	}
	if r := tc.call(OpPread, h, 0, 1); r.errno != int32(syscall.EBADF) || r.msg != "pread: bad file descriptor" {
		t.Fatalf("closed handle: errno %d, message %q", r.errno, r.msg)
	}
	if r := tc.call(OpStat); r.errno != int32(syscall.EPROTO) || !strings.HasPrefix(r.msg, "stat: malformed request") {
		t.Fatalf("truncated stat: errno %d, message %q", r.errno, r.msg)
	}
	if r := tc.call(OpKVSet, "nosuchtable", []byte("h")); r.errno != int32(syscall.EPROTO) || r.msg != "kv_set nosuchtable: malformed request" || r.d.str() != "nosuchtable" {
		t.Fatalf("truncated kv set: errno %d, message %q", r.errno, r.msg)
	}
	// An SDK error is answered as the SDK made it.
	if r := tc.call(OpStat, "missing", 1); r.errno != int32(syscall.ENOENT) || !strings.HasPrefix(r.msg, "stat missing") {
		t.Fatalf("stat missing: errno %d, message %q", r.errno, r.msg)
	}
	if r := tc.call(999); r.errno != int32(syscall.ENOSYS) || r.msg != "op 999: function not implemented" {
		t.Fatalf("unknown op: errno %d, message %q", r.errno, r.msg)
	}
}

// fuzzSkip are opcodes a fuzzed stream must not run: they end or replace
// the session the harness set up, or run for as long as they are told.
var fuzzSkip = map[uint16]bool{OpBuild: true, OpAttach: true, OpStop: true, OpSDKBench: true}

// FuzzFrames feeds a byte stream to a connection of a real agent (the Go
// SDK on a local data directory), as a caller would send it: the frame
// reader, each opcode's argument decoder and its handler see arbitrary
// lengths, counts and arguments. The agent must answer every whole frame
// in order with a well-formed response (or close a connection whose
// frame length is over MaxFrame), and keep serving other connections.
func FuzzFrames(f *testing.F) {
	frame := func(op uint16, args ...any) []byte {
		body := encodeArgs(args...)
		b := binary.LittleEndian.AppendUint32(nil, uint32(8+len(body)))
		b = binary.LittleEndian.AppendUint32(b, 7)
		b = binary.LittleEndian.AppendUint16(b, op)
		b = append(b, 0, 0)
		return append(b, body...)
	}
	f.Add(frame(OpPing))
	f.Add(frame(OpStat, ".", 1))
	f.Add(append(frame(OpMkdir, "d", 0o755, 1), frame(OpListDir, "d")...))
	f.Add(frame(OpOpen, "f", int64(os.O_CREATE|os.O_RDWR), 0o644, 100))
	f.Add(frame(OpPreadv, 2, 1, 0, 10, 1, 0))
	f.Add(frame(OpKVMultiSet, "t", []byte("h"), 1<<40))
	f.Add(frame(OpKVBatchSet, "t", 1, []byte("h"), []byte("s")))
	f.Add(frame(OpStat, "x", 1)[:9])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{3, 0, 0, 0, 1, 2, 3})

	a := startAgent(f, Config{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, stream []byte) {
		// Frames whose opcode the harness must not run are skipped.
		want := 0
		for b := stream; len(b) >= 4; {
			n := int(binary.LittleEndian.Uint32(b))
			if n > MaxFrame {
				break
			}
			if len(b) < 4+n {
				break
			}
			if n >= reqHeader && fuzzSkip[binary.LittleEndian.Uint16(b[8:])] {
				return
			}
			if n < reqHeader {
				break // the agent drops a connection sending a short frame
			}
			want++
			b = b[4+n:]
		}
		c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: a.Socket(), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tc := &testClient{t: t, c: c}
		build(tc, dir)
		if _, err := c.Write(stream); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		for got := 0; got < want; got++ {
			var hdr [4]byte
			if _, err := ioReadFull(c, hdr[:]); err != nil {
				t.Fatalf("answer %d of %d: %v", got+1, want, err)
			}
			body := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
			if _, err := ioReadFull(c, body); err != nil {
				t.Fatalf("answer %d of %d: %v", got+1, want, err)
			}
			if len(body) < respHeader {
				t.Fatalf("answer of %d bytes", len(body))
			}
			if errno := int32(binary.LittleEndian.Uint32(body[4:])); errno != 0 {
				d := &dec{b: body[respHeader:]}
				msg, _ := d.str(), d.str()
				if d.err != nil || msg == "" {
					t.Fatalf("errno %d answered without a message and path", errno)
				}
			}
		}
		other := dialAgent(t, a)
		other.ok(OpPing)
	})
}
