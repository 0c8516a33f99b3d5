package metrics

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"
)

func TestMountOutcome(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{syscall.ENOENT, "ENOENT"},
		{fmt.Errorf("wrapped: %w", syscall.EACCES), "EACCES"},
		{syscall.Errno(4000), "other"},
		{errors.New("not an errno"), "other"},
	} {
		if got := MountOutcome(tc.err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestMountDone checks a request lands in the mount histogram under its
// op and outcome.
func TestMountDone(t *testing.T) {
	s := New(Options{Role: "mount", Surfaces: []string{}})
	s.MountDone("lookup", time.Now(), syscall.ENOENT)
	s.MountDone("read", time.Now(), nil)
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "shoal_mount_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var op, outcome string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "op":
					op = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			got[op+"/"+outcome] = m.GetHistogram().GetSampleCount()
		}
	}
	if got["lookup/ENOENT"] != 1 || got["read/ok"] != 1 || len(got) != 2 {
		t.Fatalf("mount histogram series: %v", got)
	}
}
