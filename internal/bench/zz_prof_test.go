package bench

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestZZProf(t *testing.T) {
	w := os.Getenv("ZZ_WORKLOAD")
	if w == "" {
		t.Skip()
	}
	o := Options{Dir: t.TempDir() + "/x", Workloads: strings.Split(w, ","), Repeat: 1}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	_ = rep
	if err := rep.WriteText(os.Stdout); err != nil {
		t.Log(err)
	}
}
