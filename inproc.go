package shoal

import (
	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/inproc"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
)

// The module's own servers build a Client over the metadata service and
// block store they already hold (the S3 gateway embedded in `shoal
// server`). Those types are internal, so the constructor is not part of
// this package's API: it is registered with internal/inproc, which the
// servers call.
func init() {
	inproc.Register(func(m meta.Service, store objstore.Store, o inproc.Options) (any, error) {
		opts := []Option{WithLogger(o.Logger)}
		if o.GCInterval > 0 {
			opts = append(opts, WithGCInterval(o.GCInterval))
		}
		return newFromService(m, store, opts...)
	})
	inproc.RegisterStats(func(c any) data.Stats { return c.(*Client).core.data.Stats() })
}

// newFromService returns a Client over m and store. The Client owns m
// (Close closes it) but not store. It runs no background GC unless
// WithGCInterval says so.
func newFromService(m meta.Service, store objstore.Store, opts ...Option) (*Client, error) {
	o := defaultOptions()
	o.gcInterval = 0
	for _, opt := range opts {
		opt(&o)
	}
	o.ensureDefaults()
	d, err := data.New(m, store, o.dataConfig())
	if err != nil {
		return nil, fserr.E("newfromservice", "", err)
	}
	// File.Sync reaches the engine as over OpenLocal and Dial: the
	// in-process meta is a meta.Syncer.
	syncer, _ := m.(meta.Syncer)
	return newClient(m, store, d, syncer, o), nil
}
