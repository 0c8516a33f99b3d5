package shoal

import (
	"syscall"

	"github.com/shoalfs/shoal/internal/fserr"
)

// Error is Shoal's one error type, shared by every layer (it is an alias
// of the internal type, so the same value crosses from the engine to the
// caller unchanged). Its fields:
//
//	type Error struct {
//		Op   string // the SDK method ("mkdir", "open", ...), or the layer's operation ("kvtable.Set")
//		Path string // the name as given, or a KV table's name
//		Kind Kind   // the class, one POSIX errno
//		Err  error  // the cause from the layer below (nil, or another *Error)
//	}
//
// Its methods: Error renders "op path: kind: cause"; Unwrap returns Err;
// Errno returns Kind.Errno(); Is matches the io/fs sentinels (a KindNotExist
// error Is fs.ErrNotExist), syscall.Errno values (syscall.ENOENT) and
// another *Error of the same Kind (and, when set, Op).
type Error = fserr.Error

// Kind classifies an Error. The values are fixed (they cross the wire to
// the servers and the Python agent). Kind has two methods: String, the
// description ("no such file or directory"), and Errno, the POSIX errno
// it maps to (the one table FUSE and the Python agent use too).
type Kind = fserr.Kind

// Error kinds, with the errno of each.
const (
	KindOther        Kind = 0  // EIO: unclassified
	KindNotExist     Kind = 1  // ENOENT
	KindExist        Kind = 2  // EEXIST
	KindNotDir       Kind = 3  // ENOTDIR
	KindIsDir        Kind = 4  // EISDIR
	KindNotEmpty     Kind = 5  // ENOTEMPTY
	KindPermission   Kind = 6  // EACCES: the permission bits deny the access
	KindNotPermitted Kind = 7  // EPERM: the operation needs privilege, or an inode flag forbids it
	KindInvalid      Kind = 8  // EINVAL
	KindNameTooLong  Kind = 9  // ENAMETOOLONG
	KindNoData       Kind = 10 // ENODATA: no such xattr
	KindRange        Kind = 11 // ERANGE: a value does not fit
	KindIO           Kind = 12 // EIO: a store or engine failed
	KindCorrupt      Kind = 13 // EIO: stored data failed its checksum
	KindBusy         Kind = 14 // EBUSY: held by someone else (a data directory's lock)
	KindTooBig       Kind = 15 // EFBIG
	KindNoSpace      Kind = 16 // ENOSPC
	KindLoop         Kind = 17 // ELOOP
	KindCrossDevice  Kind = 18 // EXDEV
	KindReadOnly     Kind = 19 // EROFS
	KindBadHandle    Kind = 20 // EBADF
	KindNotSupported Kind = 21 // EOPNOTSUPP: the backend or filesystem cannot do it
	KindTooManyLinks Kind = 22 // EMLINK
	KindClosed       Kind = 23 // EBADF: the Client or File was closed
	KindConflict     Kind = 24 // EAGAIN: a transaction kept conflicting past its retries
	KindTextBusy     Kind = 25 // ETXTBSY
	KindNotFound     Kind = 26 // ENOENT: a lookup other than a path's (a KV table)
)

// Errno returns the POSIX errno for an error from this package (the one
// table the FUSE mount and other POSIX edges use): EIO for unclassified
// errors, EINTR for cancellation, ETIMEDOUT for deadlines, 0 for nil.
func Errno(err error) syscall.Errno { return fserr.Errno(err) }

// wrap makes err the cause of an SDK-level error naming op and path, so
// the user sees the method they called and the name they gave; the Kind
// is inherited from the cause.
func wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return fserr.E(op, path, err)
}

// RequestID returns the id under which the server logged the remote call
// that failed with err ("" when err did not come from a server): it is the
// "id" of the server's request-log line and its shoal-request-id header.
func RequestID(err error) string { return fserr.RequestIDOf(err) }
