package shoal

import (
	"syscall"

	"github.com/shoalfs/shoal/internal/fserr"
)

// Error is Shoal's one error type: Op is the SDK method ("mkdir",
// "open", ...), Path the name given, Kind the class (one POSIX errno) and
// Err the cause from the layer below.
type Error = fserr.Error

// Kind classifies an Error; Kind.Errno gives its POSIX errno.
type Kind = fserr.Kind

// Error kinds. See Kind.Errno for the errno of each.
const (
	KindOther        = fserr.Other
	KindNotExist     = fserr.NotExist
	KindExist        = fserr.Exist
	KindNotDir       = fserr.NotDir
	KindIsDir        = fserr.IsDir
	KindNotEmpty     = fserr.NotEmpty
	KindPermission   = fserr.Permission
	KindNotPermitted = fserr.NotPermitted
	KindInvalid      = fserr.Invalid
	KindNameTooLong  = fserr.NameTooLong
	KindNoData       = fserr.NoData
	KindRange        = fserr.Range
	KindIO           = fserr.IO
	KindCorrupt      = fserr.Corrupt
	KindBusy         = fserr.Busy
	KindTooBig       = fserr.TooBig
	KindNoSpace      = fserr.NoSpace
	KindLoop         = fserr.Loop
	KindCrossDevice  = fserr.CrossDevice
	KindReadOnly     = fserr.ReadOnly
	KindBadHandle    = fserr.BadHandle
	KindNotSupported = fserr.NotSupported
	KindTooManyLinks = fserr.TooManyLinks
	KindClosed       = fserr.Closed
	KindConflict     = fserr.Conflict
	KindTextBusy     = fserr.TextBusy
	KindNotFound     = fserr.NotFound
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
