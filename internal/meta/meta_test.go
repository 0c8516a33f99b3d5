package meta_test

import (
	"testing"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/meta/metatest"
)

// engines lists every engine the suite runs on.
var engines = map[string]func(t testing.TB) kv.Engine{
	"mem": func(t testing.TB) kv.Engine {
		e := mem.New()
		t.Cleanup(func() { e.Close() })
		return e
	},
	"badger": func(t testing.TB) kv.Engine {
		e, err := badger.Open(t.TempDir(), badger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	},
}

func TestSuite(t *testing.T) {
	for name, newEngine := range engines {
		t.Run(name, func(t *testing.T) { metatest.RunSuite(t, newEngine) })
	}
}
