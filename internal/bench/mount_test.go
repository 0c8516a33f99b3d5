package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fusefs"
)

// TestMountSmoke mounts Shoal (through an in-process server) and runs the
// mount suite on it at tiny sizes: every figure is measured on the mount
// and on the FUSE ceiling, the SDK reads the big file, fio (when
// installed) runs its three jobs, and nothing is left behind. No timing
// is asserted.
func TestMountSmoke(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("the mount benchmark needs /dev/fuse: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("the mount benchmark needs root (both mounts use mount(2))")
	}
	ctx := context.Background()
	srv, err := startServer(ctx, filepath.Join(t.TempDir(), "server"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	c, err := shoal.Dial(ctx, srv.addr, shoal.WithUmask(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mnt := t.TempDir()
	m, err := fusefs.New(mnt, c, fusefs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		m.Wait()
	}()

	dir := t.TempDir()
	var log bytes.Buffer
	opts := Options{
		Mount: mnt, Addr: srv.addr, Dir: dir, Repeat: 2, Threads: 2,
		BigSize: 3<<20 + 5, IOSize: 256 << 10,
		SmallFiles: 10, SmallSize: 3000,
		MetaDirs: 4, MetaFiles: 40, ReadDirEntries: 20,
		FioSize: 1 << 20,
		Log:     &log,
	}
	rep, err := RunMount(ctx, opts)
	if err != nil {
		t.Fatalf("RunMount: %v\nlog:\n%s", err, log.String())
	}
	if len(rep.Results) != len(metrics) {
		t.Fatalf("got %d results, want %d", len(rep.Results), len(metrics))
	}
	for _, res := range rep.Results {
		if len(res.Mount.Samples) != 2 || res.Mount.Median <= 0 || len(res.Ceiling.Samples) != 2 || res.Ceiling.Median <= 0 {
			t.Errorf("%s: mount %+v, ceiling %+v", res.Metric, res.Mount, res.Ceiling)
		}
		if want := juiceFS[res.Metric].target; res.Target != want {
			t.Errorf("%s: target %v, want %v", res.Metric, res.Target, want)
		}
		if strings.HasPrefix(res.Metric, "big.") != (res.SDK != nil) {
			t.Errorf("%s: sdk %+v", res.Metric, res.SDK)
		}
	}
	if _, err := fioPath(); err != nil {
		t.Logf("fio figures not checked: %v", err)
		if rep.FioSkipped == "" {
			t.Errorf("fio absent but not reported as skipped")
		}
	} else if len(rep.Fio) != len(fioJobs) {
		t.Errorf("fio: %d results, want %d (skipped: %q)", len(rep.Fio), len(fioJobs), rep.FioSkipped)
	} else {
		for _, f := range rep.Fio {
			if f.Mount.Median <= 0 || f.Ceiling.Median <= 0 {
				t.Errorf("%s: mount %+v, ceiling %+v", f.Job, f.Mount, f.Ceiling)
			}
		}
	}
	for _, p := range []string{filepath.Join(mnt, "shoal-bench"), filepath.Join(dir, "ceiling"), filepath.Join(dir, "ceiling-src")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ceiling:", "load:", "juicefs", ">= 822", "< 24-31", "mount/sdk"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil || !json.Valid(js.Bytes()) {
		t.Errorf("JSON report: %v", err)
	}
	t.Logf("\n%s", text.String())
}

func TestParseFio(t *testing.T) {
	out := []byte(`note: both iodepth >= 1 and synchronous I/O engine are selected
{"jobs":[{"error":0,"read":{"bw_bytes":2097152,"iops":512.5},"write":{"bw_bytes":1048576,"iops":1}}]}`)
	if v, err := parseFio(out, fioJobs[1]); err != nil || v != 2 {
		t.Errorf("seqread: %v, %v; want 2 MiB/s", v, err)
	}
	if v, err := parseFio(out, fioJobs[0]); err != nil || v != 1 {
		t.Errorf("seqwrite: %v, %v; want 1 MiB/s", v, err)
	}
	if v, err := parseFio(out, fioJobs[2]); err != nil || v != 512.5 {
		t.Errorf("randread: %v, %v; want 512.5 IOPS", v, err)
	}
	if _, err := parseFio([]byte("fio: no"), fioJobs[0]); err == nil {
		t.Error("non-JSON output accepted")
	}
	if _, err := parseFio([]byte(`{"jobs":[{"error":5}]}`), fioJobs[0]); err == nil {
		t.Error("job error accepted")
	}
}
