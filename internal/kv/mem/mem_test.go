package mem_test

import (
	"testing"

	"github.com/shoalfs/shoal/internal/kv"
	"github.com/shoalfs/shoal/internal/kv/kvtest"
	"github.com/shoalfs/shoal/internal/kv/mem"
)

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Engine { return mem.New() })
}
