package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	shoal "github.com/shoalfs/shoal"
)

// Whole-file operations: each is one round trip for what would otherwise
// be open, read or write, and close. They serve small files (where round
// trips, not bytes, are the cost) and the fsspec layer (cat_file,
// pipe_file, cp_file).

// readInline appends the result of reading up to n bytes of f at off to
// the response: 0 and the data, or -errno and nothing.
func (c *conn) readInline(f *shoal.File, off, n int64) {
	e := &c.out
	status := len(e.b)
	e.int(0)
	start := len(e.b)
	e.b = slices.Grow(e.b, 4+int(n))[:start+4+int(n)]
	got, err := f.ReadAt(e.b[start+4:], off)
	if err != nil && err != io.EOF {
		e.b = e.b[:start]
		putU64(e.b[status:], uint64(-int64(errnoOf(err))))
		return
	}
	e.b = e.b[:start+4+got]
	putU32(e.b[start:], uint32(got))
}

// readFile answers the bytes [start, end) of path with Python slice
// semantics: negative positions count from the end, an unset end is the
// end of the file. More than fits in a frame is EFBIG: the caller then
// reads through a handle and shared memory.
func (c *conn) readFile(cl *shoal.Client, path string, start, end int64, endSet bool) error {
	f, err := cl.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if start < 0 || end < 0 || !endSet {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return &shoal.Error{Op: "readfile", Path: path, Kind: shoal.KindIsDir}
		}
		size := fi.Size()
		if start < 0 {
			start = max(start+size, 0)
		}
		if !endSet {
			end = size
		} else if end < 0 {
			end = max(end+size, 0)
		}
	}
	n := max(end-start, 0)
	if n > MaxFrame-64 {
		return syscall.EFBIG
	}
	e := &c.out
	at := len(e.b)
	e.b = slices.Grow(e.b, 4+int(n))[:at+4+int(n)]
	got, err := f.ReadAt(e.b[at+4:], start)
	if err != nil && err != io.EOF {
		return err
	}
	e.b = e.b[:at+4+got]
	putU32(e.b[at:], uint32(got))
	return nil
}

// writeFile opens path with flags, writes data at offset 0 (at the end
// with O_APPEND) and closes it, answering the count; the close's error
// (the flush) is the call's.
func (c *conn) writeFile(cl *shoal.Client, path string, flags int, perm os.FileMode, data []byte) error {
	f, err := cl.OpenFile(path, flags&openFlags, perm)
	if err != nil {
		return err
	}
	var n int
	if len(data) > 0 {
		if flags&os.O_APPEND != 0 {
			n, err = f.Write(data)
		} else {
			n, err = f.WriteAt(data, 0)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	c.out.int(int64(n))
	return nil
}

// copyChunk is the unit of copyFile; two are in flight (one being read
// while the other is written).
const copyChunk = 8 << 20

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyChunk); return &b }}

// copyFile copies src to dst inside the agent, so no byte crosses into
// the caller. dst is created with src's permissions, or truncated (with
// exclusive, it must not exist). The copy shares src's blocks
// (Client.CloneFile: only slice records are written) when the backend can;
// otherwise it streams, reading the next chunk while writing the previous.
func copyFile(cl *shoal.Client, src, dst string, exclusive bool) (int64, error) {
	if n, err, ok := cloneFile(cl, src, dst, exclusive); ok {
		return n, err
	}
	in, err := cl.OpenFile(src, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if fi.IsDir() {
		return 0, &shoal.Error{Op: "copy", Path: src, Kind: shoal.KindIsDir}
	}
	// dst is truncated only once it is known not to be src itself (the
	// same path or a hard link of it), which O_TRUNC would have emptied.
	flags := os.O_WRONLY | os.O_CREATE
	if exclusive {
		flags |= os.O_EXCL
	}
	out, err := cl.OpenFile(dst, flags, fi.Mode().Perm())
	if err != nil {
		return 0, err
	}
	ofi, err := out.Stat()
	if err == nil && ofi.Sys().(*shoal.Attr).Ino == fi.Sys().(*shoal.Attr).Ino {
		err = &shoal.Error{Op: "copy", Path: dst, Kind: shoal.KindInvalid}
	}
	if err == nil {
		err = out.Truncate(0)
	}
	if err != nil {
		out.Close()
		return 0, err
	}
	type chunk struct {
		buf *[]byte
		n   int
		off int64
	}
	chunks := make(chan chunk, 1)
	var werr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ch := range chunks {
			if werr == nil {
				_, werr = out.WriteAt((*ch.buf)[:ch.n], ch.off)
			}
			copyBufs.Put(ch.buf)
		}
	}()
	var off int64
	var rerr error
	for {
		buf := copyBufs.Get().(*[]byte)
		n, err := in.ReadAt(*buf, off)
		if n > 0 {
			chunks <- chunk{buf, n, off}
			off += int64(n)
		} else {
			copyBufs.Put(buf)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	close(chunks)
	wg.Wait()
	cerr := out.Close()
	for _, err := range []error{rerr, werr, cerr} {
		if err != nil {
			return 0, err
		}
	}
	return off, nil
}

// stats counts requests agent-wide; callers (tests, benchmarks) read them
// with OpStats to see how many requests the agent ran at once.
type stats struct {
	requests    atomic.Int64
	inflight    atomic.Int64
	maxInflight atomic.Int64
}

type statsSnapshot struct{ requests, inflight, maxInflight int64 }

func (s *stats) begin() {
	s.requests.Add(1)
	n := s.inflight.Add(1)
	for {
		m := s.maxInflight.Load()
		if n <= m || s.maxInflight.CompareAndSwap(m, n) {
			return
		}
	}
}

func (s *stats) end() { s.inflight.Add(-1) }

// snapshot returns the counters and restarts the maximum from now.
func (s *stats) snapshot() statsSnapshot {
	cur := s.inflight.Load()
	return statsSnapshot{s.requests.Load(), cur, s.maxInflight.Swap(cur)}
}

func putU64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

// sdkBench times n small-file operations made straight on the Go SDK, in
// the agent: the ceiling the Python SDK's per-file figures are measured
// against (bench/python_bench.py prints both). "create" writes
// dir/000000... with size bytes each; "read" opens, reads and closes them.
func sdkBench(cl *shoal.Client, kind, dir string, n, size int64) (int64, error) {
	if n <= 0 || n > 1<<20 || size < 0 || size > 64<<20 {
		return 0, syscall.EINVAL
	}
	buf := make([]byte, size)
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("%s/%06d", dir, i)
		switch kind {
		case "create":
			f, err := cl.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return 0, err
			}
			_, err = f.Write(buf)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return 0, err
			}
		case "read":
			f, err := cl.OpenFile(name, os.O_RDONLY, 0)
			if err != nil {
				return 0, err
			}
			_, err = f.ReadAt(buf, 0)
			f.Close()
			if err != nil && err != io.EOF {
				return 0, err
			}
		default:
			return 0, syscall.EINVAL
		}
	}
	return time.Since(start).Nanoseconds(), nil
}

// cloneFile is copyFile by block sharing; ok is false when the backend
// cannot share blocks and the caller should stream instead.
func cloneFile(cl *shoal.Client, src, dst string, exclusive bool) (n int64, err error, ok bool) {
	fi, err := cl.Stat(src)
	if err != nil {
		return 0, err, true
	}
	if fi.IsDir() {
		return 0, &shoal.Error{Op: "copy", Path: src, Kind: shoal.KindIsDir}, true
	}
	// Create dst first with src's permissions (and the exclusive check):
	// CloneFile then truncates it and links src's slices into it.
	flags := os.O_WRONLY | os.O_CREATE
	if exclusive {
		flags |= os.O_EXCL
	}
	out, err := cl.OpenFile(dst, flags, fi.Mode().Perm())
	if err != nil {
		return 0, err, true
	}
	if err := out.Close(); err != nil {
		return 0, err, true
	}
	if err := cl.CloneFile(src, dst); err != nil {
		if errors.Is(err, syscall.EOPNOTSUPP) {
			return 0, nil, false
		}
		return 0, err, true
	}
	return fi.Size(), nil, true
}
