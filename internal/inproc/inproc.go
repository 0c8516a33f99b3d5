// Package inproc is the door through which this module's own packages
// build a shoal.Client over a metadata service and a block store they
// already hold: a server embedding the S3 gateway (internal/cli) and the
// tests of such servers. The constructor's parameters (meta.Service,
// objstore.Store) are internal types no program outside the module can
// name, so it is not part of the public SDK. Package shoal cannot be
// imported from below it, so it registers the constructor here as it
// initializes (the pattern of grpc-go's internal package), and a caller
// names the client type it expects:
//
//	c, err := inproc.NewClient[*shoal.Client](m, store, inproc.Options{Logger: log})
//
// What it owns and its invariants:
//   - One constructor, registered once, by package shoal's init. A
//     caller naming *shoal.Client imports package shoal, so its init has
//     run before any NewClient.
//   - The Client owns m (its Close closes m: pass a wrapper whose Close
//     does nothing to keep it) but not store.
package inproc

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/objstore"
)

// Options configure a client built here.
type Options struct {
	// Logger receives the client's background work (nil discards, as
	// shoal.WithLogger(nil)).
	Logger *slog.Logger
	// GCInterval > 0 runs the client's background reclaim and block GC
	// that often. The default, 0, runs none: the server holding m
	// collects garbage itself.
	GCInterval time.Duration
}

// Constructor builds a client; package shoal's returns a *shoal.Client.
type Constructor func(m meta.Service, store objstore.Store, o Options) (any, error)

var newClient Constructor

// Register installs package shoal's constructor. It is called once, from
// that package's init.
func Register(f Constructor) {
	if newClient != nil {
		panic("inproc: Register called twice")
	}
	newClient = f
}

// NewClient returns a client over m and store; C is the client type
// (*shoal.Client).
func NewClient[C any](m meta.Service, store objstore.Store, o Options) (C, error) {
	var zero C
	if newClient == nil {
		panic("inproc: no constructor registered (package shoal is not linked)")
	}
	c, err := newClient(m, store, o)
	if err != nil {
		return zero, err
	}
	cc, ok := c.(C)
	if !ok {
		panic(fmt.Sprintf("inproc: the constructor returns %T, not %T", c, zero))
	}
	return cc, nil
}

// StatsFunc returns the data-layer counters of a client built by the
// registered constructor.
type StatsFunc func(c any) data.Stats

var dataStats StatsFunc

// RegisterStats is called once by package shoal's init, beside Register.
func RegisterStats(f StatsFunc) { dataStats = f }

// DataStats returns the counters of c's data layer (reads, writes, its
// block cache), so a server embedding c (the S3 gateway) can export them.
func DataStats(c any) data.Stats {
	if dataStats == nil {
		panic("inproc: no stats function registered (package shoal is not linked)")
	}
	return dataStats(c)
}
