package rpc

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
)

// codeOf is the one table from fserr.Kind to a gRPC code. Unavailable is
// never used for a classified error: a bare Unavailable means "try another
// server", and the ErrorDetail would say otherwise anyway.
func codeOf(k fserr.Kind) codes.Code {
	switch k {
	case fserr.NotExist, fserr.NotFound, fserr.NoData:
		return codes.NotFound
	case fserr.Exist:
		return codes.AlreadyExists
	case fserr.Permission, fserr.NotPermitted:
		return codes.PermissionDenied
	case fserr.Invalid, fserr.NameTooLong, fserr.ArgTooBig, fserr.Loop:
		return codes.InvalidArgument
	case fserr.Range, fserr.TooBig:
		return codes.OutOfRange
	case fserr.NoSpace, fserr.TooManyLinks:
		return codes.ResourceExhausted
	case fserr.Conflict:
		return codes.Aborted
	case fserr.NotSupported:
		return codes.Unimplemented
	case fserr.NotDir, fserr.IsDir, fserr.NotEmpty, fserr.Busy, fserr.TextBusy, fserr.CrossDevice,
		fserr.ReadOnly, fserr.BadHandle, fserr.Closed:
		return codes.FailedPrecondition
	case fserr.Corrupt:
		return codes.DataLoss
	}
	return codes.Internal
}

// toStatus turns a service error into the status the client rebuilds it
// from. Context errors keep their own codes.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !isFS(err) {
		return err // already a status (an interceptor's)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	kind := fserr.KindOf(err)
	full := strings.ToValidUTF8(err.Error(), "\uFFFD")
	d := &pb.ErrorDetail{Kind: uint32(kind), Message: full}
	var fe *fserr.Error
	if errors.As(err, &fe) {
		d.Op, d.Path = strings.ToValidUTF8(fe.Op, "\uFFFD"), []byte(fe.Path)
		// The client re-renders "op path: ", so send only what follows.
		msg := strings.TrimPrefix(full, prefixOf(fe.Op, fe.Path))
		// and re-renders the kind too.
		if rest, ok := strings.CutPrefix(msg, kind.String()); ok && (rest == "" || strings.HasPrefix(rest, ": ")) {
			msg = strings.TrimPrefix(rest, ": ")
		}
		d.Message = msg
	}
	return withDetail(codeOf(kind), full, d)
}

func isFS(err error) bool {
	var fe *fserr.Error
	return errors.As(err, &fe)
}

func prefixOf(op, path string) string {
	p := op
	if path != "" {
		if p != "" {
			p += " "
		}
		p += strings.ToValidUTF8(path, "\uFFFD")
	}
	if p == "" {
		return ""
	}
	return p + ": "
}

func withDetail(c codes.Code, msg string, d *pb.ErrorDetail) error {
	st, err := status.New(c, msg).WithDetails(d)
	if err != nil {
		return status.Error(c, msg)
	}
	return st.Err()
}

// errUnknownSession tells the client to resume its session and retry.
func errUnknownSession(id uint64) error {
	msg := "rpc: unknown session " + uitoa(id)
	return withDetail(codes.FailedPrecondition, msg,
		&pb.ErrorDetail{Kind: uint32(fserr.IO), Op: "rpc.Session", Message: msg, UnknownSession: true})
}

// detailOf returns the ErrorDetail a status carries, or nil.
func detailOf(st *status.Status) *pb.ErrorDetail {
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok {
			return ed
		}
	}
	return nil
}

// fromStatus rebuilds the error a call returned. op names the client
// method for errors the server did not classify.
func fromStatus(op string, st *status.Status) error {
	if d := detailOf(st); d != nil {
		e := &fserr.Error{Op: d.Op, Path: string(d.Path), Kind: fserr.Kind(d.Kind)}
		if d.Message != "" {
			e.Err = errors.New(d.Message)
		}
		return e
	}
	switch st.Code() {
	case codes.OK:
		return nil
	case codes.Canceled:
		return context.Canceled
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Unauthenticated, codes.PermissionDenied:
		return fserr.Errorf(op, fserr.Permission, "rpc: %s", st.Message())
	case codes.Unimplemented:
		return fserr.Errorf(op, fserr.NotSupported, "rpc: %s", st.Message())
	case codes.ResourceExhausted:
		return fserr.Errorf(op, fserr.ArgTooBig, "rpc: %s", st.Message())
	}
	return fserr.Errorf(op, fserr.IO, "rpc: %s: %s", st.Code(), st.Message())
}
