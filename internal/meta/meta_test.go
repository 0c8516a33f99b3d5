package meta_test

import (
	"testing"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta/metatest"
)

// engines lists every engine the suite runs on; add badger here.
var engines = map[string]func(t testing.TB) kv.Engine{
	"mem": func(t testing.TB) kv.Engine {
		e := mem.New()
		t.Cleanup(func() { e.Close() })
		return e
	},
}

func TestSuite(t *testing.T) {
	for name, newEngine := range engines {
		t.Run(name, func(t *testing.T) { metatest.RunSuite(t, newEngine) })
	}
}
