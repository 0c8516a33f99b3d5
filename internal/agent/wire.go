package agent

import (
	"encoding/binary"
	"math"
	"syscall"
)

// The wire format. Every message is a frame: a little-endian uint32
// length of the body, then the body. A request body is
//
//	u32 request id | u16 opcode | u16 reserved (0) | arguments
//
// and a response body is
//
//	u32 request id | i32 errno (0: success) | results
//
// where a failed response's results are two strings: a message and the
// path the error concerns. Arguments and results are positional, in the
// order each opcode documents (docs/python.md): integers are i64
// little-endian, strings and byte strings are a u32 length then the
// bytes. The encoding is deliberately trivial so a Python struct.pack
// call builds a request.
const (
	// ProtocolVersion is sent in Build; an agent refuses other versions
	// so an old agent left running is replaced, not misunderstood.
	ProtocolVersion = 1

	// MaxFrame bounds a frame so a corrupt length cannot make the agent
	// allocate gigabytes; bulk data travels through shared memory.
	MaxFrame = 64 << 20

	reqHeader  = 8
	respHeader = 8
)

// Opcodes. Append only. testdata/opcodes.txt lists them for the tests of
// both sides (the Python package carries the same constants); each has
// one handler in opTable (optable.go).
const (
	OpPing        = 1
	OpBuild       = 2  // version, addrs, fs, token, super, data dir, pid -> session, secret
	OpAttach      = 3  // session, secret
	OpStop        = 4  // end the session
	OpSetOpt      = 5  // name, value
	OpStatFS      = 10 // -> total, used, avail, inodes, used inodes, bsize
	OpStat        = 11 // path, follow -> attr
	OpSetAttr     = 12 // path, follow, mask, mode, uid, gid, size, atime, mtime, flags -> attr
	OpMkdir       = 13 // path, mode, recursive
	OpRmdir       = 14 // path
	OpUnlink      = 15 // path
	OpRemove      = 16 // path, recursive
	OpRename      = 17 // src, dst, flags
	OpLink        = 18 // src, dst -> attr
	OpSymlink     = 19 // target, link -> attr
	OpReadlink    = 20 // path -> target
	OpRealpath    = 21 // path -> resolved
	OpMknod       = 22 // path, st_mode, dev -> attr
	OpSetXattr    = 23 // path, name, value, flags
	OpGetXattr    = 24 // path, name -> value
	OpListXattr   = 25 // path -> n, names
	OpRemoveXattr = 26 // path, name
	OpListDir     = 30 // path -> n, entries
	OpOpenDir     = 31 // path -> dir handle
	OpReadDir     = 32 // dir handle, max -> n, entries (0: end)
	OpCloseDir    = 33 // dir handle
	OpOpen        = 40 // path, flags, mode -> handle, attr
	OpClose       = 41 // handle
	OpPread       = 42 // handle, offset, length -> data
	OpPwrite      = 43 // handle, offset (-1: at the handle's offset, for O_APPEND), data -> n, end offset
	OpPreadIov    = 44 // handle, offset, length, iov, iov offset -> n
	OpPwriteIov   = 45 // handle, offset, length, iov, iov offset -> n, end offset
	OpFstat       = 46 // handle -> attr
	OpFtruncate   = 47 // handle, size
	OpFsync       = 48 // handle
	OpIovReg      = 50 // size (+ the shm fd by SCM_RIGHTS) -> iov
	OpIovUnreg    = 51 // iov
	OpPreadv      = 52 // n, n x (iov, iov offset, length, handle, offset) -> n x result
	OpPwritev     = 53 // same
	OpShareFH     = 54 // n, handles -> n tokens
	OpOpenFH      = 55 // n, tokens -> n x (handle, flags, path)
	OpCopy        = 56 // src, dst, exclusive -> bytes copied
	OpWriteFile   = 57 // path, flags, perm, data -> n, attr
	OpReadFile    = 58 // path, start, end, end given -> data
	OpStats       = 59 // -> requests, in flight, most in flight since the last OpStats
	OpSDKBench    = 60 // kind ("create", "read"), dir, n, size -> elapsed ns

	// KV tables (kv.go). A table info is name, id, default TTL, created
	// (ns); kvs are more, n, n x (sort key, value); filters are type,
	// pattern; flags are kvStartInclusive|kvStopInclusive|kvNoValue|
	// kvReverse; scan options are batch size, flags, sort-key filter,
	// hash-key filter; an item result is errno then, if not 0, a message.
	OpKVCreateTable       = 70 // name, default ttl -> table info
	OpKVDropTable         = 71 // name
	OpKVListTables        = 72 // -> n, n x table info
	OpKVDescribeTable     = 73 // name -> table info
	OpKVSet               = 74 // table, hash, sort, value, ttl
	OpKVGet               = 75 // table, hash, sort -> found, value
	OpKVExist             = 76 // table, hash, sort -> exists
	OpKVTTL               = 77 // table, hash, sort -> found, ttl
	OpKVRemove            = 78 // table, hash, sort
	OpKVIncr              = 79 // table, hash, sort, increment, ttl -> new value
	OpKVMultiSet          = 80 // table, hash, n, n x (sort, value), ttl
	OpKVMultiGet          = 81 // table, hash, n, n x sort, max count, max size, no value -> kvs
	OpKVMultiGetOpt       = 82 // table, hash, start, stop, flags, filter, max count, max size -> kvs
	OpKVMultiDel          = 83 // table, hash, n, n x sort -> deleted
	OpKVDelRange          = 84 // table, hash, start, stop, flags, filter -> deleted
	OpKVSortKeyCount      = 85 // table, hash -> count
	OpKVGetSortKeys       = 86 // table, hash, max count, max size -> more, n, n x sort
	OpKVCheckAndSet       = 87 // table, hash, check sort, check type, operand, set sort, value, ttl, return check -> ok, returned, exist, value
	OpKVCheckAndMutate    = 88 // table, hash, check sort, check type, operand, n, n x (op, sort, value, ttl), return check -> same
	OpKVCompareExchange   = 89 // table, hash, sort, expected, desired, ttl -> ok, actual exist, actual value
	OpKVBatchGet          = 90 // table, n, n x (hash, sort) -> n, n x (item result[, found, value])
	OpKVBatchSet          = 91 // table, n, n x (hash, sort, value, ttl) -> n, n x item result
	OpKVBatchDel          = 92 // table, n, n x (hash, sort) -> n, n x item result
	OpKVGetScanner        = 93 // table, hash, start, stop, scan options -> scanner
	OpKVUnorderedScanners = 94 // table, max split count, scan options -> n, n x scanner
	OpKVNext              = 95 // scanner, max records -> n, n x (hash, sort, value) (0: end)
	OpKVCloseScanner      = 96 // scanner
	OpLoadSubmit          = 97 // path, bandwidth, verify, skip cached -> job JSON
	OpLoadProgress        = 98 // job id or path -> job JSON
	OpLoadStop            = 99 // job id or path -> job JSON
)

// errBadFrame reports a request that does not decode; its errno is
// EPROTO.
var errBadFrame error = badFrame{}

type badFrame struct{}

func (badFrame) Error() string { return "malformed request" }
func (badFrame) Unwrap() error { return syscall.EPROTO }

// dec reads positional arguments; the first failure sticks, so handlers
// decode everything and check err once.
type dec struct {
	b   []byte
	err error
}

func (d *dec) int() int64 {
	if d.err != nil || len(d.b) < 8 {
		d.err = errBadFrame
		return 0
	}
	v := int64(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// bytes returns a slice of the request buffer (valid until the next
// request on the connection).
func (d *dec) bytes() []byte {
	if d.err != nil || len(d.b) < 4 {
		d.err = errBadFrame
		return nil
	}
	n := binary.LittleEndian.Uint32(d.b)
	if uint64(len(d.b)-4) < uint64(n) {
		d.err = errBadFrame
		return nil
	}
	v := d.b[4 : 4+n]
	d.b = d.b[4+n:]
	return v
}

func (d *dec) str() string { return string(d.bytes()) }

// opt decodes an integer a newer caller may append to an opcode's
// arguments; an older caller's request ends before it and gets def.
func (d *dec) opt(def int64) int64 {
	if d.err == nil && len(d.b) == 0 {
		return def
	}
	return d.int()
}

// count decodes a list length, bounded by what the rest of the frame
// could hold at per bytes an element.
func (d *dec) count(per int) int {
	n := d.int()
	if n < 0 || n > int64(len(d.b)/per) {
		d.err = errBadFrame
		return 0
	}
	return int(n)
}

// enc builds a response body after its 8-byte header.
type enc struct{ b []byte }

func (e *enc) reset(id uint32) {
	e.b = append(e.b[:0], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(e.b[4:], id)
}

func (e *enc) int(v int64) { e.b = binary.LittleEndian.AppendUint64(e.b, uint64(v)) }

func (e *enc) bytes(v []byte) {
	e.b = binary.LittleEndian.AppendUint32(e.b, uint32(len(v)))
	e.b = append(e.b, v...)
}

func (e *enc) str(v string) {
	e.b = binary.LittleEndian.AppendUint32(e.b, uint32(len(v)))
	e.b = append(e.b, v...)
}

// fail turns the response into an error response.
func (e *enc) fail(errno int32, msg, path string) {
	e.b = e.b[:4+respHeader]
	binary.LittleEndian.PutUint32(e.b[8:], uint32(errno))
	e.str(msg)
	e.str(path)
}

// frame finishes the response: the length prefix.
func (e *enc) frame() []byte {
	n := len(e.b) - 4
	if n > math.MaxUint32 {
		panic("agent: response too large")
	}
	binary.LittleEndian.PutUint32(e.b, uint32(n))
	return e.b
}
