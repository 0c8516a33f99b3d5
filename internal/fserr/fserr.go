// Package fserr holds Shoal's one error type. Every layer (kv, objstore,
// meta, data, the SDK) reports failures as *Error, carrying the operation,
// the path or key, a Kind and the cause.
//
// Kind is append-only: its numeric values cross the wire (gRPC status
// details, the Python agent protocol), so a value, once given, never
// changes meaning. Each Kind maps to one errno (Errno) and the edges
// (FUSE, Python, S3) translate from Kind, never from message text.
//
// errors.Is works against the io/fs sentinels (fs.ErrNotExist, ...),
// against syscall.Errno values (syscall.ENOENT) and against other *Error
// values with the same Kind. context.Canceled and DeadlineExceeded are
// never wrapped into a Kind: they pass through so the edge decides.
package fserr

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
)

// Kind classifies an error. The zero value is Other.
type Kind uint16

// Kinds. Append only; never renumber (the values cross the wire).
const (
	Other        Kind = iota // unclassified; errno EIO
	NotExist                 // ENOENT
	Exist                    // EEXIST
	NotDir                   // ENOTDIR
	IsDir                    // EISDIR
	NotEmpty                 // ENOTEMPTY
	Permission               // EACCES: permission bits deny the access
	NotPermitted             // EPERM: the operation needs privilege or an inode flag forbids it
	Invalid                  // EINVAL
	NameTooLong              // ENAMETOOLONG
	NoData                   // ENODATA: no such xattr
	Range                    // ERANGE: a value does not fit (xattr size)
	IO                       // EIO: a store or engine failed
	Corrupt                  // EIO: stored data failed its checksum
	Busy                     // EBUSY: held by someone else (the engine lock)
	TooBig                   // EFBIG
	NoSpace                  // ENOSPC
	Loop                     // ELOOP
	CrossDevice              // EXDEV
	ReadOnly                 // EROFS
	BadHandle                // EBADF
	NotSupported             // EOPNOTSUPP
	TooManyLinks             // EMLINK
	Closed                   // EBADF: the client or handle was closed
	Conflict                 // EAGAIN: a transaction kept conflicting past its retries
	TextBusy                 // ETXTBSY
	NotFound                 // ENOENT for non-path lookups (a key, a table)
	ArgTooBig                // E2BIG: an argument (an xattr value) exceeds its limit
	kindEnd
)

var kindInfo = [...]struct {
	name  string
	errno syscall.Errno
}{
	Other:        {"error", syscall.EIO},
	NotExist:     {"no such file or directory", syscall.ENOENT},
	Exist:        {"file exists", syscall.EEXIST},
	NotDir:       {"not a directory", syscall.ENOTDIR},
	IsDir:        {"is a directory", syscall.EISDIR},
	NotEmpty:     {"directory not empty", syscall.ENOTEMPTY},
	Permission:   {"permission denied", syscall.EACCES},
	NotPermitted: {"operation not permitted", syscall.EPERM},
	Invalid:      {"invalid argument", syscall.EINVAL},
	NameTooLong:  {"file name too long", syscall.ENAMETOOLONG},
	NoData:       {"no data available", syscall.ENODATA},
	Range:        {"result too large", syscall.ERANGE},
	IO:           {"input/output error", syscall.EIO},
	Corrupt:      {"data corrupted", syscall.EIO},
	Busy:         {"resource busy", syscall.EBUSY},
	TooBig:       {"file too large", syscall.EFBIG},
	NoSpace:      {"no space left on device", syscall.ENOSPC},
	Loop:         {"too many levels of symbolic links", syscall.ELOOP},
	CrossDevice:  {"invalid cross-device link", syscall.EXDEV},
	ReadOnly:     {"read-only file system", syscall.EROFS},
	BadHandle:    {"bad file descriptor", syscall.EBADF},
	NotSupported: {"operation not supported", syscall.EOPNOTSUPP},
	TooManyLinks: {"too many links", syscall.EMLINK},
	Closed:       {"file already closed", syscall.EBADF},
	Conflict:     {"transaction conflict, try again", syscall.EAGAIN},
	TextBusy:     {"text file busy", syscall.ETXTBSY},
	NotFound:     {"not found", syscall.ENOENT},
	ArgTooBig:    {"argument list too long", syscall.E2BIG},
}

// String is the user-facing description of the kind.
func (k Kind) String() string {
	if k < kindEnd {
		return kindInfo[k].name
	}
	return fmt.Sprintf("kind(%d)", uint16(k))
}

// Errno is the POSIX errno the kind maps to. This is the one table from
// Kind to errno; FUSE and the Python agent use it.
func (k Kind) Errno() syscall.Errno {
	if k < kindEnd {
		return kindInfo[k].errno
	}
	return syscall.EIO
}

// KindOfErrno is the inverse of Errno for the errnos callers pass in (for
// example a syscall.Errno returned by the host filesystem). Unknown errnos
// map to Other.
func KindOfErrno(e syscall.Errno) Kind {
	for k := Kind(1); k < kindEnd; k++ {
		if k == Corrupt || k == Closed || k == NotFound {
			continue // aliases of EIO/EBADF/ENOENT; prefer the primary kind
		}
		if kindInfo[k].errno == e {
			return k
		}
	}
	return Other
}

// Error is Shoal's error. Op names the operation ("meta.Rename",
// "open"), Path the file path or key it concerns, Kind the class and Err
// the cause (which may be nil, or another *Error one layer down).
//
// RequestID, set on an error a remote server answered with, is the id the
// server logged the request under (its shoal-request-id), so a user can
// find the server's log line of a failed call; RequestIDOf finds it in a
// chain. It is shown at the end of the message.
type Error struct {
	Op        string
	Path      string
	Kind      Kind
	Err       error
	RequestID string
}

// E builds an *Error from its arguments, matched by type: a string is the
// Op (the first) then the Path (the second), a Kind sets Kind, an error is
// the cause. When Kind is not given it is inherited from a cause that is
// an *Error (or derived from a cause that is a syscall.Errno).
//
//	fserr.E("meta.Mkdir", path, fserr.Exist)
//	fserr.E("objstore.Get", key, err)
func E(args ...any) *Error {
	e := &Error{}
	kindSet := false
	strs := 0
	for _, a := range args {
		switch v := a.(type) {
		case string:
			if strs == 0 {
				e.Op = v
			} else {
				e.Path = v
			}
			strs++
		case Kind:
			e.Kind = v
			kindSet = true
		case *Error:
			e.Err = v
		case error:
			e.Err = v
		case nil:
		default:
			panic(fmt.Sprintf("fserr.E: bad argument %T", a))
		}
	}
	if !kindSet && e.Err != nil {
		e.Kind = KindOf(e.Err)
	}
	return e
}

// Errorf builds an error of kind k whose cause is a formatted message.
func Errorf(op string, k Kind, format string, args ...any) *Error {
	return &Error{Op: op, Kind: k, Err: fmt.Errorf(format, args...)}
}

// Error renders "op path: kind: cause", skipping empty parts and repeated
// kinds so a chain of wrapped errors reads as one line.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
	}
	if e.Path != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.Path)
	}
	kindShown := false
	if e.Kind != Other || e.Err == nil {
		var inner *Error
		if !(errors.As(e.Err, &inner) && inner.Kind == e.Kind) {
			if b.Len() > 0 {
				b.WriteString(": ")
			}
			b.WriteString(e.Kind.String())
			kindShown = true
		}
	}
	if e.Err != nil {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		msg := e.Err.Error()
		if kindShown {
			msg = strings.TrimPrefix(msg, e.Kind.String()+": ")
		}
		b.WriteString(msg)
	}
	if e.RequestID != "" {
		b.WriteString(" (request ")
		b.WriteString(e.RequestID)
		b.WriteByte(')')
	}
	return b.String()
}

// RequestIDOf returns the request id of the first *Error in err's chain
// that carries one, or "".
func RequestIDOf(err error) string {
	for err != nil {
		if e, ok := err.(*Error); ok && e.RequestID != "" {
			return e.RequestID
		}
		err = errors.Unwrap(err)
	}
	return ""
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errno is the errno of the error's kind.
func (e *Error) Errno() syscall.Errno { return e.Kind.Errno() }

// Is reports whether target names this error's class: an io/fs sentinel,
// a syscall.Errno, or an *Error with the same Kind (and, when set, Op).
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *Error:
		return t.Kind == e.Kind && (t.Op == "" || t.Op == e.Op)
	case syscall.Errno:
		return e.Kind.Errno() == t
	}
	switch target {
	case fs.ErrNotExist:
		return e.Kind == NotExist || e.Kind == NotFound
	case fs.ErrExist:
		return e.Kind == Exist || e.Kind == NotEmpty
	case fs.ErrPermission:
		return e.Kind == Permission || e.Kind == NotPermitted
	case fs.ErrInvalid:
		return e.Kind == Invalid
	case fs.ErrClosed:
		return e.Kind == Closed
	}
	return false
}

// KindOf returns the Kind of err: the outermost *Error's Kind that is not
// Other, a syscall.Errno's kind, or Other.
func KindOf(err error) Kind {
	for err != nil {
		switch v := err.(type) {
		case *Error:
			if v.Kind != Other {
				return v.Kind
			}
		case syscall.Errno:
			return KindOfErrno(v)
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return Other
		}
		err = errors.Unwrap(err)
	}
	return Other
}

// Is reports whether err has kind k anywhere in its chain.
func Is(k Kind, err error) bool {
	var e *Error
	for errors.As(err, &e) {
		if e.Kind == k {
			return true
		}
		err = e.Err
	}
	return false
}

// Errno returns the errno for err: EIO for unclassified errors, EINTR for
// cancellation, ETIMEDOUT for deadlines, 0 for nil.
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if errors.Is(err, context.Canceled) {
		return syscall.EINTR
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return syscall.ETIMEDOUT
	}
	var en syscall.Errno
	if k := KindOf(err); k != Other {
		return k.Errno()
	}
	if errors.As(err, &en) {
		return en
	}
	return syscall.EIO
}
