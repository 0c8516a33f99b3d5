package metrics

import (
	"errors"
	"syscall"
	"time"
)

// MountDone records one FUSE request `shoal mount` answered: op is one of
// internal/fusefs's fixed request names (the caller's guarantee, which
// keeps the "op" label bounded), err nil or the syscall.Errno answered.
// Mount requests are not logged one by one: a kernel sends thousands a
// second, and the histogram is what a dashboard needs.
func (s *Set) MountDone(op string, start time.Time, err error) {
	s.mountDur.WithLabelValues(op, MountOutcome(err)).Observe(time.Since(start).Seconds())
}

// MountOutcome is the "outcome" label of a mount request's error: "ok"
// for nil, the errno's name as AgentOutcome gives it, or "other" for an
// error that is no errno.
func MountOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return AgentOutcome(e)
	}
	return "other"
}
