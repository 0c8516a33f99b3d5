package mem_test

import (
	"testing"

	"github.com/shoalfs/shoal/internal/objstore"
	"github.com/shoalfs/shoal/internal/objstore/mem"
	"github.com/shoalfs/shoal/internal/objstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store { return mem.New() })
}
