// Package bench owns Shoal's performance workloads: the figures behind every
// performance claim (DESIGN.md principle 5). Each workload runs twice with
// the same code, once against Shoal through the public SDK (shoal.OpenLocal
// on Dir/shoal) and once against the host filesystem through the os package
// in Dir/host on the same disk. The host figure is the physical limit and is
// printed beside every Shoal figure with their ratio.
//
// Over loopback (issue 3): with Options.Addr the Shoal target is a
// shoal.Dial client of a running server, working in a directory of its
// own in the remote filesystem; with Options.Server, Run starts a server
// itself (internal/server on Dir/server, loopback ports picked by the
// kernel) and dials it, so one command measures the whole path. Remote
// runs add the "clients" workload (metadata from 4 and from 16 separate
// clients, each its own Dial and session) and measure the loopback TCP
// limit (one stream between two goroutines over 127.0.0.1), printed
// beside every throughput figure.
//
// Invariants: a workload body never knows which target it drives (both go
// through the same unexported target interface); both targets see the same
// cache state when measured (page-cache-warm for the plain read figures, and
// "cold-ish", after posix_fadvise DONTNEED, for the cold ones); Run never
// touches anything outside Dir/shoal and Dir/host, refuses to start if
// either exists, and removes both when done unless Options.Keep.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
)

// Workload names accepted in Options.Workloads.
const (
	WorkloadBig   = "big"
	WorkloadSmall = "small"
	WorkloadMeta  = "meta"
	// WorkloadClients is metadata from several clients at once; it runs
	// against a server only (a data directory has one client at a time).
	WorkloadClients = "clients"
)

// AllWorkloads lists every workload in the order Run runs them.
var AllWorkloads = []string{WorkloadBig, WorkloadSmall, WorkloadMeta, WorkloadClients}

// Options configures Run. The zero value with Dir set runs the full suite
// at the sizes of the targets in issue 2.
type Options struct {
	Dir       string   // parent of the shoal and host directories; must be on the disk under test
	Workloads []string // subset of AllWorkloads; empty runs all
	Repeat    int      // runs of each workload per target; default 3
	Threads   int      // goroutines for the small-file and metadata workloads; default 4

	BigSize        int64 // big-file bytes; default 1 GiB
	IOSize         int   // bytes per read or write call in the big-file workload; default 1 MiB
	SmallFiles     int   // default 1,000
	SmallSize      int   // bytes per small file; default 128 KiB
	MetaDirs       int   // default 111
	MetaFiles      int   // empty files over all MetaDirs; default 44,400
	ReadDirEntries int   // entries of the readdir directory; default 10,000
	// Scale multiplies BigSize, SmallFiles, MetaFiles and ReadDirEntries
	// after defaults are applied; 0 means 1.
	Scale float64

	// Addr, when set, benchmarks the Shoal server(s) at Addr through
	// shoal.Dial instead of a local directory. Dir is then optional: the
	// host figures are measured only when it is given.
	Addr string
	// Server starts a server in this process on Dir/server (loopback,
	// ports picked by the kernel) and benchmarks it as with Addr.
	Server bool
	// ClientCounts are the numbers of separate clients the clients
	// workload runs with; default 4 and 16.
	ClientCounts []int

	// Mount, when set, measures the mounted Shoal filesystem at this
	// mount point through the kernel with RunMount (Addr is then the
	// server the SDK column reads from, and Dir holds the FUSE ceiling).
	Mount string
	// FioSize is the bytes of each fio job's file on a mount run (0 with
	// FioRuntime 0: no fio); FioRuntime caps each fio job's time.
	FioSize    int64
	FioRuntime time.Duration

	Keep         bool           // leave Dir/shoal, Dir/host and Dir/server in place
	Log          io.Writer      // progress lines; nil discards
	ShoalOptions []shoal.Option // passed to shoal.OpenLocal or shoal.Dial
}

// remote reports whether Shoal is reached through a server.
func (o *Options) remote() bool { return o.Addr != "" || o.Server }

// EnsureDefaults fills every zero field with its default and applies Scale.
func (o *Options) EnsureDefaults() {
	if len(o.Workloads) == 0 {
		o.Workloads = slices.Clone(AllWorkloads)
	}
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.Repeat, 3)
	def(&o.Threads, 4)
	def(&o.IOSize, 1<<20)
	def(&o.SmallFiles, 1000)
	def(&o.SmallSize, 128<<10)
	def(&o.MetaDirs, 111)
	def(&o.MetaFiles, 44400)
	def(&o.ReadDirEntries, 10000)
	if o.BigSize == 0 {
		o.BigSize = 1 << 30
	}
	if len(o.ClientCounts) == 0 {
		o.ClientCounts = []int{4, 16}
	}
	if o.Scale != 0 && o.Scale != 1 {
		scale := func(n int) int { return max(1, int(float64(n)*o.Scale)) }
		o.BigSize = max(1, int64(float64(o.BigSize)*o.Scale))
		o.SmallFiles = scale(o.SmallFiles)
		o.MetaFiles = scale(o.MetaFiles)
		o.ReadDirEntries = scale(o.ReadDirEntries)
	}
	o.Scale = 1
}

// Validate reports the first option that cannot work.
func (o *Options) Validate() error {
	switch {
	case o.Dir == "" && o.Addr == "" && o.Mount == "":
		return fserr.Errorf("bench", fserr.Invalid, "no directory given (--data DIR, or --addr ADDR for a running server)")
	case o.Server && o.Dir == "":
		return fserr.Errorf("bench", fserr.Invalid, "starting a server needs a directory for it (--data DIR)")
	case o.Addr != "" && o.Server:
		return fserr.Errorf("bench", fserr.Invalid, "give either a server address or start one, not both")
	case slices.ContainsFunc(o.ClientCounts, func(n int) bool { return n < 1 }):
		return fserr.Errorf("bench", fserr.Invalid, "client counts must be positive")
	case o.Repeat < 1, o.Threads < 1, o.SmallFiles < 1, o.MetaDirs < 1, o.MetaFiles < o.MetaDirs, o.ReadDirEntries < 1:
		return fserr.Errorf("bench", fserr.Invalid, "counts must be positive, with at least one file per metadata directory")
	case o.IOSize < 8, o.BigSize < 1, o.SmallSize < 0:
		return fserr.Errorf("bench", fserr.Invalid, "sizes must be positive (I/O size at least 8 bytes)")
	}
	for _, w := range o.Workloads {
		if !slices.Contains(AllWorkloads, w) {
			return fserr.Errorf("bench", fserr.Invalid, "unknown workload %q (have %s)", w, strings.Join(AllWorkloads, ", "))
		}
	}
	return nil
}

// metric is one figure of the report.
type metric struct {
	name, workload, unit string
	target               float64 // 0: no target
	higherIsBetter       bool
	note                 string
}

// Metric names, in report order, with unit and target (issue 2: the
// embedded SDK against local storage).
var metrics = []metric{
	{"big.write", WorkloadBig, "MiB/s", 1000, true, "create+write+fsync+close"},
	{"big.read", WorkloadBig, "MiB/s", 1000, true, "page-cache-warm on both"},
	{"big.read.cold", WorkloadBig, "MiB/s", 0, true, "after fadvise DONTNEED (+ client reopen for Shoal)"},
	{"small.write", WorkloadSmall, "files/s", 2000, true, "create+write+close, no fsync"},
	{"small.read", WorkloadSmall, "files/s", 5000, true, "open+read+close, warm"},
	{"meta.create", WorkloadMeta, "files/s", 100000, true, "empty files"},
	{"meta.stat", WorkloadMeta, "files/s", 300000, true, ""},
	{"meta.readdir", WorkloadMeta, "ms", 20, false, "one directory, full listing"},
}

// remoteTargets are issue 3's targets through a server over loopback:
// the best JuiceFS engine measured on the reference machine with
// `juicefs bench -p 4` (FUSE, local storage), and empty-file creates
// from 4 clients of JuiceFS on a local Redis. Metrics not listed have no
// target over loopback.
var remoteTargets = map[string]float64{
	"big.write":        701,
	"big.read":         808,
	"small.write":      723,
	"small.read":       4981,
	"clients.4.create": 12648,
	"clients.4.stat":   46629,
}

// clientMetrics are the clients workload's figures for n clients.
func clientMetrics(n int) []metric {
	note := fmt.Sprintf("%d separate clients (each its own Dial and session), empty files in their own directories", n)
	return []metric{
		{fmt.Sprintf("clients.%d.create", n), WorkloadClients, "files/s", 0, true, note},
		{fmt.Sprintf("clients.%d.stat", n), WorkloadClients, "files/s", 0, true, ""},
	}
}

// reportMetrics lists the figures of a run with opts, targets set for
// where Shoal runs.
func reportMetrics(opts Options) []metric {
	if !opts.remote() {
		return slices.Clone(metrics)
	}
	var out []metric
	for _, m := range metrics {
		m.target = remoteTargets[m.name]
		out = append(out, m)
	}
	for _, n := range opts.ClientCounts {
		for _, m := range clientMetrics(n) {
			m.target = remoteTargets[m.name]
			out = append(out, m)
		}
	}
	return out
}

// Stats summarises one metric's samples on one target.
type Stats struct {
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples []float64 `json:"samples"`
}

func newStats(samples []float64) Stats {
	if len(samples) == 0 {
		return Stats{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stats{Median: med, Min: s[0], Max: s[len(s)-1], Samples: samples}
}

// Result is one metric measured on both targets.
type Result struct {
	Metric         string  `json:"metric"`
	Unit           string  `json:"unit"`
	Shoal          Stats   `json:"shoal"`
	Host           Stats   `json:"host"`
	Ratio          float64 `json:"ratio"` // Shoal's speed as a fraction of the host's: 1 is the physical limit
	Target         float64 `json:"target,omitempty"`
	HigherIsBetter bool    `json:"higher_is_better"`
	Pass           bool    `json:"pass"`
	Note           string  `json:"note,omitempty"`
}

// Verdict is "PASS" or "MISS" against the target, "-" when there is none.
func (r Result) Verdict() string {
	switch {
	case r.Target == 0:
		return "-"
	case r.Pass:
		return "PASS"
	}
	return "MISS"
}

// Report is the outcome of Run.
type Report struct {
	Machine Machine `json:"machine"`
	Options Params  `json:"options"`
	// Server is the address benchmarked ("" for a local directory).
	Server string `json:"server,omitempty"`
	// Loopback is the loopback TCP limit in MiB/s (one stream between two
	// goroutines over 127.0.0.1), measured on remote runs.
	Loopback Stats     `json:"loopback_tcp_mibps"`
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	Results  []Result  `json:"results"`
}

// Params is the part of Options a report records.
type Params struct {
	Workloads      []string `json:"workloads"`
	Repeat         int      `json:"repeat"`
	Threads        int      `json:"threads"`
	BigSize        int64    `json:"big_size"`
	IOSize         int      `json:"io_size"`
	SmallFiles     int      `json:"small_files"`
	SmallSize      int      `json:"small_size"`
	MetaDirs       int      `json:"meta_dirs"`
	MetaFiles      int      `json:"meta_files"`
	ReadDirEntries int      `json:"readdir_entries"`
	ClientCounts   []int    `json:"client_counts,omitempty"`
}

// Run runs the selected workloads Repeat times on each target and returns
// the report. It creates Dir/shoal and Dir/host and refuses to run if
// either already exists, so it can never overwrite or delete data it did
// not create.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{
		Machine: DescribeMachine(opts.Dir),
		Options: Params{
			Workloads: opts.Workloads, Repeat: opts.Repeat, Threads: opts.Threads,
			BigSize: opts.BigSize, IOSize: opts.IOSize, SmallFiles: opts.SmallFiles, SmallSize: opts.SmallSize,
			MetaDirs: opts.MetaDirs, MetaFiles: opts.MetaFiles, ReadDirEntries: opts.ReadDirEntries,
		},
		Started: time.Now(),
	}
	if opts.Dir == "" {
		rep.Machine.Disk = Disk{}
	}
	if opts.remote() {
		rep.Options.ClientCounts = opts.ClientCounts
	}
	r := &runner{opts: opts, rep: rep, samples: map[string]map[string][]float64{}}
	err := r.run(ctx)
	rep.Duration = time.Since(rep.Started).Round(time.Millisecond).String()
	for _, m := range reportMetrics(opts) {
		if len(r.samples["shoal"][m.name])+len(r.samples["host"][m.name]) == 0 {
			continue // not selected, or the run failed before measuring it
		}
		res := Result{
			Metric: m.name, Unit: m.unit, Target: m.target, HigherIsBetter: m.higherIsBetter, Note: m.note,
			Shoal: newStats(r.samples["shoal"][m.name]),
			Host:  newStats(r.samples["host"][m.name]),
		}
		if res.Shoal.Median > 0 && res.Host.Median > 0 {
			if m.higherIsBetter {
				res.Ratio = res.Shoal.Median / res.Host.Median
			} else {
				res.Ratio = res.Host.Median / res.Shoal.Median
			}
		}
		if len(res.Shoal.Samples) > 0 && m.target > 0 {
			if m.higherIsBetter {
				res.Pass = res.Shoal.Median >= m.target
			} else {
				res.Pass = res.Shoal.Median < m.target
			}
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, err
}

type runner struct {
	opts    Options
	rep     *Report
	samples map[string]map[string][]float64 // target → metric → samples
}

func (r *runner) logf(format string, args ...any) {
	if r.opts.Log != nil {
		fmt.Fprintf(r.opts.Log, "bench: "+format+"\n", args...)
	}
}

func (r *runner) add(t target, metric string, v float64) {
	m := r.samples[t.Name()]
	if m == nil {
		m = map[string][]float64{}
		r.samples[t.Name()] = m
	}
	m[metric] = append(m[metric], v)
}

func (r *runner) run(ctx context.Context) (err error) {
	var dirs []string // created here, removed at the end unless Keep
	if r.opts.Dir != "" {
		dirs = append(dirs, filepath.Join(r.opts.Dir, "host"))
		switch {
		case r.opts.Server:
			dirs = append(dirs, filepath.Join(r.opts.Dir, "server"))
		case r.opts.Addr == "":
			dirs = append(dirs, filepath.Join(r.opts.Dir, "shoal"))
		}
	}
	for _, d := range dirs {
		if _, err := os.Lstat(d); err == nil {
			return fserr.E("bench", d, fserr.Exist, errors.New("give a directory without shoal/, host/ and server/ in it"))
		}
	}
	if r.opts.Dir != "" {
		if err := os.MkdirAll(r.opts.Dir, 0o755); err != nil {
			return fserr.E("bench", r.opts.Dir, err)
		}
	}
	if !r.opts.Keep {
		defer func() {
			for _, d := range dirs {
				err = errors.Join(err, os.RemoveAll(d))
			}
		}()
	}
	var targets []target
	if r.opts.Dir != "" {
		hostDir := filepath.Join(r.opts.Dir, "host")
		host, err := newHostTarget(hostDir)
		if err != nil {
			return fserr.E("bench", hostDir, err)
		}
		targets = append(targets, host)
	}
	var sh *shoalTarget
	switch {
	case r.opts.Server:
		srv, err := startServer(ctx, filepath.Join(r.opts.Dir, "server"), r.opts.Log)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, srv.stop()) }()
		r.rep.Server = srv.addr + " (in-process, " + filepath.Join(r.opts.Dir, "server") + ")"
		sh, err = newRemoteTarget(ctx, srv.addr, srv.dataDir, r.opts.ShoalOptions)
		if err != nil {
			return fserr.E("bench", srv.addr, err)
		}
	case r.opts.Addr != "":
		r.rep.Server = r.opts.Addr
		sh, err = newRemoteTarget(ctx, r.opts.Addr, "", r.opts.ShoalOptions)
		if err != nil {
			return fserr.E("bench", r.opts.Addr, err)
		}
	default:
		shoalDir := filepath.Join(r.opts.Dir, "shoal")
		sh, err = newShoalTarget(ctx, shoalDir, r.opts.ShoalOptions)
		if err != nil {
			return fserr.E("bench", shoalDir, err)
		}
	}
	defer func() { err = errors.Join(err, sh.Close()) }()
	targets = append([]target{sh}, targets...)

	if r.opts.remote() {
		var samples []float64
		for i := 0; i < r.opts.Repeat; i++ {
			v, err := LoopbackTCP(ctx, 500*time.Millisecond)
			if err != nil {
				return err
			}
			samples = append(samples, v)
		}
		r.rep.Loopback = newStats(samples)
		r.logf("loopback TCP: %.0f MiB/s", r.rep.Loopback.Median)
	}

	for _, w := range AllWorkloads {
		if !slices.Contains(r.opts.Workloads, w) {
			continue
		}
		if w == WorkloadClients && !r.opts.remote() {
			r.logf("clients: skipped (needs a server: --addr or --server)")
			continue
		}
		for i := 0; i < r.opts.Repeat; i++ {
			// Alternate which target goes first so neither always inherits
			// the other's dirty pages and disk queue.
			order := slices.Clone(targets)
			if i%2 == 1 {
				slices.Reverse(order)
			}
			for _, t := range order {
				r.logf("%s: %s run %d/%d", w, t.Name(), i+1, r.opts.Repeat)
				if err := r.workload(ctx, w, t); err != nil {
					return fserr.E("bench."+w, t.Name(), err)
				}
			}
		}
	}
	return nil
}

func (r *runner) workload(ctx context.Context, w string, t target) error {
	switch w {
	case WorkloadBig:
		return r.big(ctx, t)
	case WorkloadSmall:
		return r.small(ctx, t)
	case WorkloadMeta:
		return r.meta(ctx, t)
	case WorkloadClients:
		return r.clients(ctx, t)
	}
	return fserr.Errorf("bench", fserr.Invalid, "unknown workload %q", w)
}

func mibps(bytes int64, d time.Duration) float64 { return float64(bytes) / (1 << 20) / d.Seconds() }
func perSec(n int, d time.Duration) float64      { return float64(n) / d.Seconds() }

func (r *runner) big(ctx context.Context, t target) error {
	o := r.opts
	const name = "big.dat"
	d, err := writeBig(ctx, t, name, o.BigSize, o.IOSize)
	if err != nil {
		return err
	}
	r.add(t, "big.write", mibps(o.BigSize, d))
	r.logf("big: %s write %.0f MiB/s", t.Name(), mibps(o.BigSize, d))
	if d, err = readBig(ctx, t, name, o.BigSize, o.IOSize); err != nil {
		return err
	}
	r.add(t, "big.read", mibps(o.BigSize, d))
	if err := t.DropCache(name); err != nil {
		return err
	}
	if d, err = readBig(ctx, t, name, o.BigSize, o.IOSize); err != nil {
		return err
	}
	r.add(t, "big.read.cold", mibps(o.BigSize, d))
	return t.RemoveAll(name)
}

func (r *runner) small(ctx context.Context, t target) error {
	o := r.opts
	const dir = "small"
	if err := t.MkdirAll(dir); err != nil {
		return err
	}
	d, err := writeSmall(ctx, t, dir, o.SmallFiles, o.SmallSize, o.Threads)
	if err != nil {
		return err
	}
	r.add(t, "small.write", perSec(o.SmallFiles, d))
	if d, err = readSmall(ctx, t, dir, o.SmallFiles, o.SmallSize, o.Threads); err != nil {
		return err
	}
	r.add(t, "small.read", perSec(o.SmallFiles, d))
	return t.RemoveAll(dir)
}

func (r *runner) meta(ctx context.Context, t target) error {
	o := r.opts
	l := metaLayout{root: "meta", dirs: o.MetaDirs, files: o.MetaFiles, threads: o.Threads}
	if err := l.mkdirs(t); err != nil {
		return err
	}
	d, err := l.each(ctx, touch(t))
	if err != nil {
		return err
	}
	r.add(t, "meta.create", perSec(o.MetaFiles, d))
	if d, err = l.each(ctx, stat(t)); err != nil {
		return err
	}
	r.add(t, "meta.stat", perSec(o.MetaFiles, d))
	if err := t.RemoveAll(l.root); err != nil {
		return err
	}

	const dir = "readdir"
	if err := t.MkdirAll(dir); err != nil {
		return err
	}
	if err := fillDir(ctx, t, dir, o.ReadDirEntries, o.Threads); err != nil {
		return err
	}
	if d, err = readDirTimed(t, dir, o.ReadDirEntries); err != nil {
		return err
	}
	r.add(t, "meta.readdir", float64(d)/float64(time.Millisecond))
	return t.RemoveAll(dir)
}

// clients runs the metadata workload's create and stat from n separate
// clients for each n of ClientCounts, each client over its own
// directories.
func (r *runner) clients(ctx context.Context, t target) (err error) {
	o := r.opts
	for _, n := range o.ClientCounts {
		l := metaLayout{root: "clients", dirs: max(o.MetaDirs, n), files: max(o.MetaFiles, o.MetaDirs, n), threads: n}
		if err := l.mkdirs(t); err != nil {
			return err
		}
		ts := make([]target, n)
		for i := range ts {
			if ts[i], err = t.Clone(); err != nil {
				return err
			}
		}
		d, err := l.each(ctx, func(g int, name string) error { return ts[g].Touch(name) })
		if err == nil {
			r.add(t, fmt.Sprintf("clients.%d.create", n), perSec(l.files, d))
			d, err = l.each(ctx, func(g int, name string) error { return ts[g].Stat(name) })
		}
		if err == nil {
			r.add(t, fmt.Sprintf("clients.%d.stat", n), perSec(l.files, d))
		}
		for _, c := range ts {
			if c != t {
				err = errors.Join(err, c.Close())
			}
		}
		if err != nil {
			return err
		}
		if err := t.RemoveAll(l.root); err != nil {
			return err
		}
	}
	return nil
}
