package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Sizes for `go test -bench`: small enough that `-benchtime 1x` over every
// benchmark stays well under a minute on a shared 2-core machine. `shoal
// bench` is the full-size suite.
const (
	benchBigSize   = 64 << 20
	benchIOSize    = 1 << 20
	benchSmallN    = 200
	benchSmallSize = 128 << 10
	benchMetaDirs  = 8
	benchMetaFiles = 4000
	benchReadDirN  = 2000
	benchThreads   = 4
)

// forTargets runs fn as a sub-benchmark on Shoal and on the host, each in
// its own directory, so `go test -bench` prints the limit under the figure.
func forTargets(b *testing.B, fn func(b *testing.B, t target)) {
	ctx := context.Background()
	for _, name := range []string{"shoal", "host"} {
		b.Run(name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), name)
			var t target
			var err error
			if name == "shoal" {
				t, err = newShoalTarget(ctx, dir, nil)
			} else {
				t, err = newHostTarget(dir)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer t.Close()
			fn(b, t)
		})
	}
}

// reportRate reports units/second over the measured time only (setup and
// cleanup between iterations excluded) under the given unit name.
func reportRate(b *testing.B, units float64, measured time.Duration, unit string) {
	if measured > 0 {
		b.ReportMetric(units/measured.Seconds(), unit)
	}
}

func BenchmarkBigWrite(b *testing.B) {
	forTargets(b, func(b *testing.B, t target) {
		ctx := context.Background()
		var total time.Duration
		for i := 0; i < b.N; i++ {
			d, err := writeBig(ctx, t, "big.dat", benchBigSize, benchIOSize)
			if err != nil {
				b.Fatal(err)
			}
			total += d
			if err := t.RemoveAll("big.dat"); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, float64(b.N)*benchBigSize/(1<<20), total, "MiB/s")
	})
}

func BenchmarkBigRead(b *testing.B) {
	forTargets(b, func(b *testing.B, t target) {
		ctx := context.Background()
		if _, err := writeBig(ctx, t, "big.dat", benchBigSize, benchIOSize); err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for i := 0; i < b.N; i++ {
			d, err := readBig(ctx, t, "big.dat", benchBigSize, benchIOSize)
			if err != nil {
				b.Fatal(err)
			}
			total += d
		}
		reportRate(b, float64(b.N)*benchBigSize/(1<<20), total, "MiB/s")
	})
}

func BenchmarkSmallWrite(b *testing.B) {
	forTargets(b, func(b *testing.B, t target) {
		ctx := context.Background()
		var total time.Duration
		for i := 0; i < b.N; i++ {
			if err := t.MkdirAll("small"); err != nil {
				b.Fatal(err)
			}
			d, err := writeSmall(ctx, t, "small", benchSmallN, benchSmallSize, benchThreads)
			if err != nil {
				b.Fatal(err)
			}
			total += d
			if err := t.RemoveAll("small"); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, float64(b.N*benchSmallN), total, "files/s")
	})
}

func BenchmarkSmallRead(b *testing.B) {
	forTargets(b, func(b *testing.B, t target) {
		ctx := context.Background()
		if err := t.MkdirAll("small"); err != nil {
			b.Fatal(err)
		}
		if _, err := writeSmall(ctx, t, "small", benchSmallN, benchSmallSize, benchThreads); err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for i := 0; i < b.N; i++ {
			d, err := readSmall(ctx, t, "small", benchSmallN, benchSmallSize, benchThreads)
			if err != nil {
				b.Fatal(err)
			}
			total += d
		}
		reportRate(b, float64(b.N*benchSmallN), total, "files/s")
	})
}

func benchLayout() metaLayout {
	return metaLayout{root: "meta", dirs: benchMetaDirs, files: benchMetaFiles, threads: benchThreads}
}

func BenchmarkCreate(b *testing.B) {
	forTargets(b, func(b *testing.B, t target) {
		ctx := context.Background()
		l := benchLayout()
		var total time.Duration
		for i := 0; i < b.N; i++ {
			if err := l.mkdirs(t); err != nil {
				b.Fatal(err)
			}
			d, err := l.each(ctx, touch(t))
			if err != nil {
				b.Fatal(err)
			}
			total += d
			if err := t.RemoveAll(l.root); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, float64(b.N*l.files), total, "files/s")
	})
}

func BenchmarkStat(b *testing.B) {
	forTargets(b, func(b *testing.B, t target) {
		ctx := context.Background()
		l := benchLayout()
		if err := l.mkdirs(t); err != nil {
			b.Fatal(err)
		}
		if _, err := l.each(ctx, touch(t)); err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for i := 0; i < b.N; i++ {
			d, err := l.each(ctx, stat(t))
			if err != nil {
				b.Fatal(err)
			}
			total += d
		}
		reportRate(b, float64(b.N*l.files), total, "files/s")
	})
}

func BenchmarkReadDir(b *testing.B) {
	forTargets(b, func(b *testing.B, t target) {
		ctx := context.Background()
		if err := t.MkdirAll("readdir"); err != nil {
			b.Fatal(err)
		}
		if err := fillDir(ctx, t, "readdir", benchReadDirN, benchThreads); err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for i := 0; i < b.N; i++ {
			d, err := readDirTimed(t, "readdir", benchReadDirN)
			if err != nil {
				b.Fatal(err)
			}
			total += d
		}
		b.ReportMetric(float64(total)/float64(time.Millisecond)/float64(b.N), "ms/readdir")
		reportRate(b, float64(b.N*benchReadDirN), total, "entries/s")
	})
}

// TestWorkloadsSmoke runs the whole suite at a tiny scale: it checks the
// workload code and the report, not the figures.
func TestWorkloadsSmoke(t *testing.T) {
	dir := t.TempDir()
	var log bytes.Buffer
	opts := Options{
		Dir: dir, Repeat: 2, Threads: 3,
		BigSize: 3<<20 + 123, IOSize: 256 << 10,
		SmallFiles: 20, SmallSize: 5000,
		MetaDirs: 5, MetaFiles: 53, ReadDirEntries: 37,
		Log: &log,
	}
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	if len(rep.Results) != len(metrics) {
		t.Fatalf("got %d results, want %d", len(rep.Results), len(metrics))
	}
	for _, res := range rep.Results {
		for name, s := range map[string]Stats{"shoal": res.Shoal, "host": res.Host} {
			if len(s.Samples) != opts.Repeat {
				t.Errorf("%s on %s: %d samples, want %d", res.Metric, name, len(s.Samples), opts.Repeat)
			}
			if !(s.Min > 0 && s.Min <= s.Median && s.Median <= s.Max) {
				t.Errorf("%s on %s: bad stats %+v", res.Metric, name, s)
			}
		}
		if res.Ratio <= 0 {
			t.Errorf("%s: ratio %v", res.Metric, res.Ratio)
		}
	}
	// Run cleans up after itself.
	for _, sub := range []string{"shoal", "host"} {
		if _, err := filepath.Glob(filepath.Join(dir, sub)); err != nil {
			t.Fatal(err)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, sub)); len(m) != 0 {
			t.Errorf("%s left behind", sub)
		}
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"big.write", "meta.readdir", "host (limit)", "ratio", "PASS", "disk:"} {
		if !strings.Contains(text.String(), want) && !(want == "PASS" && strings.Contains(text.String(), "MISS")) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != len(rep.Results) || back.Options.MetaFiles != 53 {
		t.Errorf("JSON round trip lost data: %+v", back.Options)
	}
	t.Logf("\n%s", text.String())
}

// TestServerSmoke runs the suite through an in-process server at a tiny
// scale, with the clients workload and the loopback limit.
func TestServerSmoke(t *testing.T) {
	dir := t.TempDir()
	var log bytes.Buffer
	opts := Options{
		Dir: dir, Server: true, Repeat: 1, Threads: 2,
		BigSize: 5<<20 + 7, IOSize: 256 << 10,
		SmallFiles: 10, SmallSize: 3000,
		MetaDirs: 4, MetaFiles: 40, ReadDirEntries: 20,
		ClientCounts: []int{2, 3},
		Log:          &log,
	}
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	if want := len(metrics) + 4; len(rep.Results) != want {
		t.Fatalf("got %d results, want %d", len(rep.Results), want)
	}
	for _, res := range rep.Results {
		if len(res.Shoal.Samples) != 1 || res.Shoal.Median <= 0 {
			t.Errorf("%s: shoal %+v", res.Metric, res.Shoal)
		}
		if want := remoteTargets[res.Metric]; res.Target != want {
			t.Errorf("%s: target %v, want %v", res.Metric, res.Target, want)
		}
	}
	if rep.Loopback.Median <= 0 || rep.Server == "" {
		t.Errorf("loopback %+v, server %q", rep.Loopback, rep.Server)
	}
	for _, sub := range []string{"server", "host", "shoal"} {
		if m, _ := filepath.Glob(filepath.Join(dir, sub)); len(m) != 0 {
			t.Errorf("%s left behind", sub)
		}
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"clients.3.create", "clients.2.stat", "loopback TCP", "server:"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

func TestRunRefusesExistingDirs(t *testing.T) {
	dir := t.TempDir()
	if _, err := newHostTarget(filepath.Join(dir, "host")); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), Options{Dir: dir, Workloads: []string{WorkloadMeta}})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Run over an existing host dir: %v, want an Exist error", err)
	}
}

func TestOptions(t *testing.T) {
	o := Options{Dir: "x", Scale: 0.5}
	o.EnsureDefaults()
	if o.BigSize != 512<<20 || o.SmallFiles != 500 || o.MetaFiles != 22200 || o.ReadDirEntries != 5000 || o.Repeat != 3 {
		t.Errorf("scaled defaults: %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Error(err)
	}
	bad := Options{Dir: "x", Workloads: []string{"nope"}}
	bad.EnsureDefaults()
	if err := bad.Validate(); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("unknown workload: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1GiB", 1 << 30}, {"512MiB", 512 << 20}, {"64M", 64 << 20}, {"1GB", 1e9}, {"4096", 4096},
		{"1.5g", 3 << 29}, {"10k", 10 << 10}, {"7b", 7},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "GiB", "-1M", "1XB", "abc"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
	for n, want := range map[int64]string{1 << 30: "1GiB", 3 << 19: "1.5MiB", 100: "100B"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDescribeMachine(t *testing.T) {
	m := DescribeMachine(filepath.Join(t.TempDir(), "not", "yet"))
	if m.Cores < 1 || m.Disk.FSType == "" || m.Disk.TotalBytes == 0 {
		t.Errorf("machine: %+v", m)
	}
}
