package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/shoalfs/shoal/internal/fserr"
)

// Mount runs (issue 12): with Options.Mount, RunMount drives a mounted
// Shoal filesystem through the kernel with the same workload bodies, and
// beside it the FUSE ceiling: a passthrough mount of a host directory
// (go-fuse's loopback node) made by the run, on Dir's disk, with the same
// timeouts as `shoal mount`'s defaults, measured in the same run with
// the targets interleaved. With Addr as well, the Go SDK reads the big
// file in-process from that server, for the "mount at >= 50% of the
// SDK" ratio. fio jobs (when fio is installed) run on both mounts.

// Target names of a mount run.
const (
	targetMount   = "mount"
	targetCeiling = "ceiling"
	targetSDK     = "shoal"
)

// juiceFS are the figures of JuiceFS (FUSE, local Redis, local block
// files) measured on the reference machine (issue 12), with how they are
// shown: the mount is to be ahead of each.
var juiceFS = map[string]struct {
	target float64
	shown  string
}{
	"big.write":    {822, "822"},
	"big.read":     {773, "773"},
	"small.write":  {566, "566"},
	"small.read":   {1778, "1778"},
	"meta.stat":    {12768, "12768"},
	"meta.create":  {2757, "2757"},
	"meta.readdir": {24, "24-31"},
}

// mountMetrics are the figures of a mount run (the local run's, without
// its SDK targets), with notes for what differs through the kernel.
func mountMetrics() []metric {
	var out []metric
	for _, m := range metrics {
		m.target = juiceFS[m.name].target
		switch m.name {
		case "big.read.cold":
			m.note = "after fadvise DONTNEED on the file (the kernel's page cache; the mount's own block cache stays)"
		case "big.read":
			m.note = "page-cache-warm on both mounts; the SDK column is the Go SDK reading the same size in-process from --addr"
		case "meta.readdir":
			m.note = "JuiceFS measured 24-31 ms; the target is its best"
		}
		out = append(out, m)
	}
	return out
}

// MountReport is the outcome of RunMount.
type MountReport struct {
	Machine Machine `json:"machine"`
	Options Params  `json:"options"`
	// Mount is the mount point measured; Ceiling the passthrough mount
	// and its host directory; SDK the server the SDK column read from.
	Mount   string `json:"mount"`
	Ceiling string `json:"ceiling"`
	SDK     string `json:"sdk,omitempty"`
	// LoadAvg is /proc/loadavg's first three fields at the start and at
	// the end: the numbers are only as good as the machine was idle.
	LoadAvgStart string        `json:"loadavg_start"`
	LoadAvgEnd   string        `json:"loadavg_end"`
	Started      time.Time     `json:"started"`
	Duration     string        `json:"duration"`
	Results      []MountResult `json:"results"`
	Fio          []FioResult   `json:"fio,omitempty"`
	// FioSkipped says why there are no fio figures.
	FioSkipped string `json:"fio_skipped,omitempty"`
}

// MountResult is one metric on the mount, the ceiling and, for the big
// file, the SDK.
type MountResult struct {
	Metric  string `json:"metric"`
	Unit    string `json:"unit"`
	Mount   Stats  `json:"mount"`
	Ceiling Stats  `json:"ceiling"`
	// Ratio is the mount's speed as a fraction of the ceiling's.
	Ratio          float64 `json:"ratio"`
	JuiceFS        string  `json:"juicefs,omitempty"`
	Target         float64 `json:"target,omitempty"`
	HigherIsBetter bool    `json:"higher_is_better"`
	Pass           bool    `json:"pass"`
	// SDK is the Go SDK in-process on the same figure (big file only,
	// with Addr); SDKRatio the mount's speed as a fraction of it (the
	// issue asks >= 0.5 for big.read).
	SDK      *Stats  `json:"sdk,omitempty"`
	SDKRatio float64 `json:"sdk_ratio,omitempty"`
	Note     string  `json:"note,omitempty"`
}

// Verdict is PASS or MISS against JuiceFS, "-" without a figure.
func (r MountResult) Verdict() string {
	switch {
	case r.Target == 0:
		return "-"
	case r.Pass:
		return "PASS"
	}
	return "MISS"
}

func (o *Options) validateMount() error {
	switch {
	case o.Server:
		return fserr.Errorf("bench", fserr.Invalid, "--mount measures a mount; start its server separately (--server does not apply)")
	case o.FioSize < 0 || o.FioRuntime < 0:
		return fserr.Errorf("bench", fserr.Invalid, "fio size and runtime must not be negative")
	case o.FioSize != 0 && o.FioSize < 1<<20:
		return fserr.Errorf("bench", fserr.Invalid, "fio size must be at least 1MiB (the sequential jobs' block size)")
	case o.FioSize == 0 && o.FioRuntime != 0:
		return fserr.Errorf("bench", fserr.Invalid, "fio needs a file size (--fio-size) to lay out")
	}
	fi, err := os.Stat(o.Mount)
	if err != nil {
		return fserr.E("bench", o.Mount, err)
	}
	if !fi.IsDir() {
		return fserr.Errorf("bench", fserr.Invalid, "%s: not a directory", o.Mount)
	}
	return nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// RunMount runs the selected workloads (big, small, meta; clients does
// not apply) Repeat times on the mount at opts.Mount and on the FUSE
// ceiling, interleaved, and the fio jobs on both. It works in
// Mount/shoal-bench and Dir/ceiling-src (mounted at Dir/ceiling), refusing
// to start if any exists; with Dir empty it uses a temporary directory.
// Everything it made is removed at the end unless Keep.
func RunMount(ctx context.Context, opts Options) (rep *MountReport, err error) {
	opts.EnsureDefaults()
	opts.Workloads = slices.DeleteFunc(slices.Clone(opts.Workloads), func(w string) bool { return w == WorkloadClients })
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := opts.validateMount(); err != nil {
		return nil, err
	}
	rep = &MountReport{
		Options: Params{
			Workloads: opts.Workloads, Repeat: opts.Repeat, Threads: opts.Threads,
			BigSize: opts.BigSize, IOSize: opts.IOSize, SmallFiles: opts.SmallFiles, SmallSize: opts.SmallSize,
			MetaDirs: opts.MetaDirs, MetaFiles: opts.MetaFiles, ReadDirEntries: opts.ReadDirEntries,
		},
		Mount:        opts.Mount,
		LoadAvgStart: loadAvg(),
		Started:      time.Now(),
	}
	r := &runner{opts: opts, samples: map[string]map[string][]float64{}}
	fio := map[string]map[string][]float64{} // target → job → samples
	err = r.runMount(ctx, rep, fio)
	rep.Duration = time.Since(rep.Started).Round(time.Millisecond).String()
	rep.LoadAvgEnd = loadAvg()
	for _, m := range mountMetrics() {
		mo, ce := r.samples[targetMount][m.name], r.samples[targetCeiling][m.name]
		if len(mo)+len(ce) == 0 {
			continue
		}
		res := MountResult{
			Metric: m.name, Unit: m.unit, Mount: newStats(mo), Ceiling: newStats(ce),
			JuiceFS: juiceFS[m.name].shown, Target: m.target, HigherIsBetter: m.higherIsBetter, Note: m.note,
		}
		res.Ratio = ratio(res.Mount.Median, res.Ceiling.Median, m.higherIsBetter)
		if len(mo) > 0 && m.target > 0 {
			if m.higherIsBetter {
				res.Pass = res.Mount.Median >= m.target
			} else {
				res.Pass = res.Mount.Median < m.target
			}
		}
		if sdk := r.samples[targetSDK][m.name]; len(sdk) > 0 {
			st := newStats(sdk)
			res.SDK = &st
			res.SDKRatio = ratio(res.Mount.Median, st.Median, m.higherIsBetter)
		}
		rep.Results = append(rep.Results, res)
	}
	for _, j := range fioJobs {
		mo, ce := fio[targetMount][j.name], fio[targetCeiling][j.name]
		if len(mo)+len(ce) == 0 {
			continue
		}
		res := FioResult{Job: j.name, Unit: j.unit, Args: j.describe(opts), Mount: newStats(mo), Ceiling: newStats(ce)}
		res.Ratio = ratio(res.Mount.Median, res.Ceiling.Median, true)
		rep.Fio = append(rep.Fio, res)
	}
	return rep, err
}

// ratio is a's speed as a fraction of b's (0 when either is missing).
func ratio(a, b float64, higherIsBetter bool) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	if higherIsBetter {
		return a / b
	}
	return b / a
}

func (r *runner) runMount(ctx context.Context, rep *MountReport, fio map[string]map[string][]float64) (err error) {
	o := r.opts
	base := o.Dir
	if base == "" {
		if base, err = os.MkdirTemp("", "shoal-bench-mount-"); err != nil {
			return fserr.E("bench", "", err)
		}
		if !o.Keep {
			defer func() { err = errors.Join(err, os.RemoveAll(base)) }()
		}
	}
	rep.Machine = DescribeMachine(base)
	work := filepath.Join(o.Mount, "shoal-bench")
	src, mnt := filepath.Join(base, "ceiling-src"), filepath.Join(base, "ceiling")
	for _, d := range []string{work, src, mnt} {
		if _, err := os.Lstat(d); err == nil {
			return fserr.E("bench", d, fserr.Exist, errors.New("it exists: remove it or give another --data directory"))
		}
	}
	for _, d := range []string{work, src, mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fserr.E("bench", d, err)
		}
		switch {
		case d == mnt:
			// rmdir only: should the unmount have failed, this must not
			// reach through the mount into src.
			defer func() { err = errors.Join(err, os.Remove(d)) }()
		case !o.Keep:
			defer func() { err = errors.Join(err, os.RemoveAll(d)) }()
		}
	}
	ceiling, err := mountLoopback(src, mnt)
	if err != nil {
		return fserr.E("bench", mnt, err)
	}
	defer func() { err = errors.Join(err, unmountLoopback(ceiling, mnt)) }()
	rep.Ceiling = fmt.Sprintf("go-fuse loopback of %s at %s", src, mnt)
	targets := []target{&hostTarget{root: work, name: targetMount}, &hostTarget{root: mnt, name: targetCeiling}}

	var sdk target
	if o.Addr != "" {
		sh, err := newRemoteTarget(ctx, o.Addr, "", o.ShoalOptions)
		if err != nil {
			return fserr.E("bench", o.Addr, err)
		}
		defer func() { err = errors.Join(err, sh.Close()) }()
		rep.SDK = o.Addr
		sdk = sh
	}

	for _, w := range AllWorkloads {
		if !slices.Contains(o.Workloads, w) {
			continue
		}
		ts := targets
		if w == WorkloadBig && sdk != nil {
			ts = append(slices.Clone(ts), sdk)
		}
		for i := 0; i < o.Repeat; i++ {
			order := slices.Clone(ts)
			if i%2 == 1 {
				slices.Reverse(order)
			}
			for _, t := range order {
				r.logf("%s: %s run %d/%d", w, t.Name(), i+1, o.Repeat)
				if err := r.workload(ctx, w, t); err != nil {
					return fserr.E("bench."+w, t.Name(), err)
				}
			}
		}
	}
	if o.FioSize == 0 {
		rep.FioSkipped = "not asked for"
		return nil
	}
	bin, lerr := fioPath()
	if lerr != nil {
		rep.FioSkipped = lerr.Error()
		r.logf("fio: skipped: %v", lerr)
		return nil
	}
	for _, j := range fioJobs {
		for i := 0; i < o.Repeat; i++ {
			order := slices.Clone(targets)
			if i%2 == 1 {
				slices.Reverse(order)
			}
			for _, t := range order {
				dir := filepath.Join(t.(*hostTarget).root, "fio")
				v, err := runFio(ctx, bin, j, dir, o)
				if err != nil {
					return fserr.E("bench."+j.name, t.Name(), err)
				}
				r.logf("fio %s: %s %s %s", j.name, t.Name(), num(v), j.unit)
				if fio[t.Name()] == nil {
					fio[t.Name()] = map[string][]float64{}
				}
				fio[t.Name()][j.name] = append(fio[t.Name()][j.name], v)
			}
		}
	}
	for _, t := range targets {
		if err := os.RemoveAll(filepath.Join(t.(*hostTarget).root, "fio")); err != nil {
			return err
		}
	}
	return nil
}

// mountLoopback mounts a passthrough of src at mnt with go-fuse's
// loopback node and the kernel-facing settings of `shoal mount`'s
// defaults (1 s attribute and entry timeouts, no negative caching, 1 MiB
// requests, 128 KiB readahead), so the two mounts differ only in what
// answers the requests.
func mountLoopback(src, mnt string) (*fuse.Server, error) {
	root, err := fs.NewLoopbackRoot(src)
	if err != nil {
		return nil, err
	}
	sec, zero := time.Second, time.Duration(0)
	return fs.Mount(mnt, root, &fs.Options{
		MountOptions: fuse.MountOptions{
			FsName:       "shoal-bench-ceiling",
			Name:         "loopback",
			MaxWrite:     1 << 20,
			MaxReadAhead: 128 << 10,
			DirectMount:  true,
		},
		AttrTimeout:     &sec,
		EntryTimeout:    &sec,
		NegativeTimeout: &zero,
	})
}

// unmountLoopback unmounts the ceiling, retrying while the kernel still
// holds files the run just closed.
func unmountLoopback(s *fuse.Server, mnt string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = s.Unmount(); err == nil {
			s.Wait()
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fserr.E("bench.unmount", mnt, err)
}

// WriteJSON writes the report as indented JSON.
func (r *MountReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the machine, the load, the parameters and one table
// row per figure: the mount, the FUSE ceiling, their ratio, JuiceFS's
// figure and the verdict, and the SDK in-process where measured; then
// the fio jobs on both mounts.
func (r *MountReport) WriteText(w io.Writer) error {
	m, p := r.Machine, r.Options
	var b strings.Builder
	fmt.Fprintf(&b, "machine: %s, %d cores, %s memory, %s, %s\n", orUnknown(m.CPU), m.Cores, FormatSize(int64(m.MemoryBytes)), orUnknown(m.Kernel), m.GoVersion)
	fmt.Fprintf(&b, "load:    %s at the start, %s at the end (1, 5, 15 min)\n", r.LoadAvgStart, r.LoadAvgEnd)
	fmt.Fprintf(&b, "mount:   %s (through the kernel: os calls on the mount path)\n", r.Mount)
	fmt.Fprintf(&b, "ceiling: %s (same workload, same run, interleaved)\n", r.Ceiling)
	if r.SDK != "" {
		fmt.Fprintf(&b, "sdk:     Go SDK in-process through shoal.Dial to %s (big file only)\n", r.SDK)
	}
	fmt.Fprintf(&b, "params:  repeat %d, threads %d; big %s in %s I/O; small %d x %s; meta %d files in %d dirs; readdir %d entries\n",
		p.Repeat, p.Threads, FormatSize(p.BigSize), FormatSize(int64(p.IOSize)), p.SmallFiles, FormatSize(int64(p.SmallSize)), p.MetaFiles, p.MetaDirs, p.ReadDirEntries)
	fmt.Fprintf(&b, "figures: median [min-max] of %d runs; ratio = mount speed / ceiling speed; juicefs = issue 12's JuiceFS figure, verdict against it; took %s\n\n", p.Repeat, r.Duration)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tunit\tmount\t[min-max]\tceiling\t[min-max]\tratio\tjuicefs\tverdict\tsdk\tmount/sdk\t")
	for _, res := range r.Results {
		jfs := "-"
		if res.JuiceFS != "" {
			op := ">="
			if !res.HigherIsBetter {
				op = "<"
			}
			jfs = op + " " + res.JuiceFS
		}
		sdk, sr := "", ""
		if res.SDK != nil {
			sdk, sr = num(res.SDK.Median), orDash(res.SDKRatio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", res.Metric, res.Unit,
			numOrDash(res.Mount), span(res.Mount), numOrDash(res.Ceiling), span(res.Ceiling), orDash(res.Ratio),
			jfs, res.Verdict(), sdk, sr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Fio) > 0 || r.FioSkipped != "" {
		io.WriteString(w, "\nfio\n")
	}
	if r.FioSkipped != "" {
		fmt.Fprintf(w, "  skipped: %s\n", r.FioSkipped)
	}
	if len(r.Fio) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "job\tunit\tmount\t[min-max]\tceiling\t[min-max]\tratio\t")
		for _, f := range r.Fio {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", f.Job, f.Unit, numOrDash(f.Mount), span(f.Mount), numOrDash(f.Ceiling), span(f.Ceiling), orDash(f.Ratio))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, f := range r.Fio {
			fmt.Fprintf(w, "  %s: %s\n", f.Job, f.Args)
		}
		fmt.Fprintf(w, "  libaio on buffered files: io_submit completes each I/O before returning, so the effective concurrency is the %d jobs\n", fioJobsN)
	}
	var notes strings.Builder
	for _, res := range r.Results {
		if res.Note != "" {
			fmt.Fprintf(&notes, "  %s: %s\n", res.Metric, res.Note)
		}
	}
	if notes.Len() > 0 {
		_, err := io.WriteString(w, "\nnotes:\n"+notes.String())
		return err
	}
	return nil
}

func numOrDash(s Stats) string {
	if len(s.Samples) == 0 {
		return "-"
	}
	return num(s.Median)
}

func orDash(v float64) string {
	if v <= 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
