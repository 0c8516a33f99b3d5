package fserr

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

func TestIsMatchesFSAndErrno(t *testing.T) {
	cases := []struct {
		kind   Kind
		target error
	}{
		{NotExist, fs.ErrNotExist},
		{NotExist, syscall.ENOENT},
		{NotFound, fs.ErrNotExist},
		{Exist, fs.ErrExist},
		{Exist, syscall.EEXIST},
		{Permission, fs.ErrPermission},
		{Permission, syscall.EACCES},
		{NotPermitted, fs.ErrPermission},
		{NotPermitted, syscall.EPERM},
		{Invalid, fs.ErrInvalid},
		{Closed, fs.ErrClosed},
		{NotEmpty, syscall.ENOTEMPTY},
		{Corrupt, syscall.EIO},
		{NoData, syscall.ENODATA},
	}
	for _, c := range cases {
		err := fmt.Errorf("wrapped: %w", E("op", "a/b", c.kind))
		if !errors.Is(err, c.target) {
			t.Errorf("%v: errors.Is(%v) = false", c.kind, c.target)
		}
	}
	if errors.Is(E("op", NotExist), fs.ErrExist) {
		t.Error("NotExist must not match fs.ErrExist")
	}
}

func TestKindInheritedAndMessage(t *testing.T) {
	inner := E("meta.Lookup", "x", NotExist)
	outer := E("stat", "/dir/x", inner)
	if outer.Kind != NotExist {
		t.Fatalf("kind not inherited: %v", outer.Kind)
	}
	if got, want := outer.Error(), "stat /dir/x: meta.Lookup x: no such file or directory"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if !Is(NotExist, outer) || Is(Exist, outer) {
		t.Error("Is by kind")
	}
	if got := E("objstore.Get", "k", syscall.ENOSPC).Kind; got != NoSpace {
		t.Errorf("errno cause gives kind %v", got)
	}
}

func TestErrno(t *testing.T) {
	if Errno(nil) != 0 {
		t.Error("nil")
	}
	if Errno(E("x", IsDir)) != syscall.EISDIR {
		t.Error("IsDir")
	}
	if Errno(fmt.Errorf("x: %w", context.Canceled)) != syscall.EINTR {
		t.Error("canceled")
	}
	if Errno(errors.New("plain")) != syscall.EIO {
		t.Error("plain")
	}
	for k := Kind(0); k < kindEnd; k++ {
		if k.String() == "" || k.Errno() == 0 {
			t.Errorf("kind %d has no name or errno", k)
		}
	}
	if KindOfErrno(syscall.ENOENT) != NotExist || KindOfErrno(syscall.EIO) != IO {
		t.Error("KindOfErrno")
	}
}

func TestCancellationPassesThrough(t *testing.T) {
	err := E("meta.Mkdir", "d", context.Canceled)
	if !errors.Is(err, context.Canceled) {
		t.Error("context.Canceled must stay visible")
	}
	if err.Kind != Other {
		t.Errorf("cancellation classified as %v", err.Kind)
	}
}

// A remote error's request id is found through wrapping and shown once,
// at the end of the message.
func TestRequestID(t *testing.T) {
	remote := &Error{Op: "meta.Mkdir", Path: "a", Kind: Exist, RequestID: "7.3"}
	err := fmt.Errorf("ctx: %w", E("mkdir", "a", remote))
	if got := RequestIDOf(err); got != "7.3" {
		t.Errorf("RequestIDOf = %q", got)
	}
	if got, want := err.Error(), "ctx: mkdir a: meta.Mkdir a: file exists (request 7.3)"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if got := RequestIDOf(E("x", Exist)); got != "" {
		t.Errorf("RequestIDOf without an id = %q", got)
	}
}
