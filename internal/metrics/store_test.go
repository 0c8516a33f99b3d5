package metrics

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/file"
	"github.com/shoalfs/shoal/internal/objstore/mem"
	"github.com/shoalfs/shoal/internal/objstore/storetest"
)

// The wrapper changes no behaviour: wrapped stores pass the conformance
// suite, and what it counted is in the registry.
func TestStoreConformance(t *testing.T) {
	s := New(Options{})
	t.Run("file", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) objstore.Store {
			st, err := file.Open(t.TempDir(), file.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s.Store(StoreLocal, st)
		})
	})
	t.Run("mem", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) objstore.Store { return s.Store(StoreRemote, mem.New()) })
	})
	for _, kind := range []string{StoreLocal, StoreRemote} {
		for _, c := range []struct{ op, outcome string }{{StorePut, outcomeOK}, {StoreGet, outcomeOK}, {StoreGet, outcomeNotFound}, {StoreList, outcomeOK}, {StoreSync, outcomeOK}} {
			if n := count(t, s, "shoal_store_request_duration_seconds", map[string]string{"store": kind, "op": c.op, "outcome": c.outcome}); n == 0 {
				t.Errorf("store %s op %s outcome %s: not counted", kind, c.op, c.outcome)
			}
		}
		if v := count(t, s, "shoal_store_bytes_total", map[string]string{"store": kind, "op": StorePut}); v == 0 {
			t.Errorf("store %s: no bytes put counted", kind)
		}
	}
}

// bare is a store with none of the optional interfaces.
type bare struct{ objstore.Store }

// The wrapper has exactly the optional interfaces of the store it wraps,
// and an unlisted kind becomes "other".
func TestStoreInterfaces(t *testing.T) {
	s := New(Options{})
	fst, err := file.Open(t.TempDir(), file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		st             objstore.Store
		syncer, opener bool
	}{
		{fst, true, true},
		{mem.New(), true, false},
		{bare{mem.New()}, false, false},
		{struct {
			objstore.Store
			fileOpener
		}{mem.New(), fst}, false, true},
	} {
		w := s.Store("zq-user-input", c.st)
		_, sy := w.(objstore.Syncer)
		fo, op := w.(fileOpener)
		if sy != c.syncer || op != c.opener {
			t.Errorf("%T: Syncer %v, FileOpener %v; want %v, %v", c.st, sy, op, c.syncer, c.opener)
		}
		if op {
			if _, err := fo.OpenFile(ctx, "missing"); !errors.Is(err, os.ErrNotExist) && !errors.Is(err, objstore.ErrNotFound) {
				t.Errorf("%T: OpenFile of a missing key: %v", c.st, err)
			}
		}
	}
	if n := count(t, s, "shoal_store_request_duration_seconds", map[string]string{"store": "other", "op": StoreOpen, "outcome": outcomeNotFound}); n != 2 {
		t.Errorf("an unlisted kind: %v OpenFile calls under store=other, want 2", n)
	}
	fst.Close()
}

// count is the value of the series of name with labels (a histogram's
// sample count), 0 when absent.
func count(t *testing.T, s *Set, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
