package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/server"
)

// The peers run (issue 13 item 6) keeps the best peers of this machine in
// view: the S3 workloads against Shoal and against versitygw, and the KV
// workload against Shoal and Redis, in interleaved rounds of one run, so
// both sides see the same load. Each figure is the median of the rounds
// with their range, beside the peer's and the ratio.

// PeersOptions configure RunPeers. The zero value (with Handler set)
// runs 3 rounds with the parameters, scaled down to fit a round
// in a few minutes.
type PeersOptions struct {
	// Handler serves S3 in the in-process Shoal server.
	Handler server.S3Handler
	// Versitygw is the versitygw binary (default .cache/bin/versitygw,
	// then $PATH); without one, the S3 peer is not measured.
	Versitygw string
	// Dir holds the servers' data (default a temporary directory).
	Dir       string
	Rounds    int // default 3
	Clients   int // S3 clients (default 16; listing runs at 1)
	SmallOps  int // 4 KiB objects per PUT round (default 10,000)
	LargeOps  int // 1 MiB objects per PUT round (default 200)
	ListKeys  int // keys in the listed bucket (default 20,000)
	KVClients int // default 50
	KVOps     int // sets, then gets, per round (default 100,000)
	Log       io.Writer
}

// EnsureDefaults fills zero fields.
func (o *PeersOptions) EnsureDefaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.Rounds, 3)
	def(&o.Clients, 16)
	def(&o.SmallOps, 10000)
	def(&o.LargeOps, 200)
	def(&o.ListKeys, 20000)
	def(&o.KVClients, 50)
	def(&o.KVOps, 100000)
	if o.Versitygw == "" {
		if _, err := os.Stat(".cache/bin/versitygw"); err == nil {
			o.Versitygw = ".cache/bin/versitygw"
		} else if p, err := exec.LookPath("versitygw"); err == nil {
			o.Versitygw = p
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Validate reports options that cannot work.
func (o *PeersOptions) Validate() error {
	if o.Rounds < 1 || o.Clients < 1 || o.SmallOps < 1 || o.LargeOps < 1 || o.ListKeys < 1 || o.KVClients < 1 || o.KVOps < 1 {
		return fserr.Errorf("bench.peers", fserr.Invalid, "bench: peers: counts must be positive")
	}
	if o.Handler == nil {
		return fserr.Errorf("bench.peers", fserr.Invalid, "bench: peers: no S3 handler")
	}
	return nil
}

// PeerFigure is one metric on one side: the median of the rounds, each
// round's figure, and the median of the rounds' latency percentiles.
type PeerFigure struct {
	Median  float64   `json:"median"`
	Runs    []float64 `json:"runs"`
	Latency Latency   `json:"latency"`
}

// PeerResult is one metric for Shoal and its peer.
type PeerResult struct {
	Metric string     `json:"metric"`
	Unit   string     `json:"unit"`
	Peer   string     `json:"peer"`
	Shoal  PeerFigure `json:"shoal"`
	Other  PeerFigure `json:"other"`
	Ratio  float64    `json:"ratio,omitempty"` // Shoal / peer, medians
	Target float64    `json:"target,omitempty"`
	Pass   bool       `json:"pass"`
}

// PeersReport is the outcome of RunPeers.
type PeersReport struct {
	Machine  Machine      `json:"machine"`
	Started  time.Time    `json:"started"`
	Duration string       `json:"duration"`
	Rounds   int          `json:"rounds"`
	Load     []string     `json:"load"` // /proc/loadavg before each round and at the end
	Notes    []string     `json:"notes"`
	Results  []PeerResult `json:"results"`
}

// Targets against the peer (issue 13): ratios, Shoal / peer.
var peerTargets = map[string]float64{"kv.set": 0.5, "kv.get": 0.8}

type peerRuns struct {
	runs []float64
	lats []Latency
}

func (p *peerRuns) add(v float64, l Latency) { p.runs = append(p.runs, v); p.lats = append(p.lats, l) }

func (p *peerRuns) figure() PeerFigure {
	if p == nil || len(p.runs) == 0 {
		return PeerFigure{}
	}
	return PeerFigure{Median: median(p.runs), Runs: p.runs, Latency: medianLatency(p.lats)}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// RunPeers runs the rounds and returns the report.
func RunPeers(ctx context.Context, o PeersOptions) (rep *PeersReport, err error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	rep = &PeersReport{Started: time.Now(), Rounds: o.Rounds}
	defer func() { rep.Duration = time.Since(rep.Started).Round(time.Second).String() }()
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "shoal-bench-peers"); err != nil {
			return rep, err
		}
		defer os.RemoveAll(dir)
	}
	rep.Machine = DescribeMachine(dir)

	vgwEndpoint := ""
	const ak, sk = "benchaccess", "benchsecret-not-for-production"
	if o.Versitygw != "" {
		stop, endpoint, err := startVersitygw(ctx, o.Versitygw, dir, ak, sk)
		if err != nil {
			rep.Notes = append(rep.Notes, "versitygw not measured: "+err.Error())
		} else {
			defer stop()
			vgwEndpoint = endpoint
			rep.Notes = append(rep.Notes, "versitygw: "+o.Versitygw+" posix backend on "+dir)
		}
	} else {
		rep.Notes = append(rep.Notes, "versitygw not measured: no binary (make .cache/bin/versitygw)")
	}

	shoal := map[string]*peerRuns{}
	other := map[string]*peerRuns{}
	units := map[string]string{}
	var order []string
	record := func(side map[string]*peerRuns, metric, unit string, v float64, l Latency) {
		if _, ok := units[metric]; !ok {
			units[metric] = unit
			order = append(order, metric)
		}
		if side[metric] == nil {
			side[metric] = &peerRuns{}
		}
		side[metric].add(v, l)
	}
	s3opts := func(endpoint, sub string) S3Options {
		so := S3Options{Endpoint: endpoint, Handler: o.Handler, Clients: o.Clients, SmallOps: o.SmallOps,
			LargeOps: o.LargeOps, ListKeys: o.ListKeys, Runs: 1, Workloads: []string{"small", "large", "list"}}
		if endpoint != "" {
			so.AccessKey, so.SecretKey = ak, sk
		} else {
			so.Dir = sub
		}
		return so
	}
	for round := range o.Rounds {
		rep.Load = append(rep.Load, loadavg())
		fmt.Fprintf(o.Log, "bench: peers round %d of %d (load %s)\n", round+1, o.Rounds, loadavg())
		// Alternate which side goes first, so neither always runs on the
		// warmer (or more loaded) half of a round.
		sides := []string{"shoal", "versitygw"}
		if round%2 == 1 {
			slices.Reverse(sides)
		}
		for _, side := range sides {
			if side == "versitygw" && vgwEndpoint == "" {
				continue
			}
			fmt.Fprintf(o.Log, "bench: peers: S3 against %s...\n", side)
			so := s3opts("", fmt.Sprintf("%s/shoal-s3-%d", dir, round))
			dst := shoal
			if side == "versitygw" {
				so, dst = s3opts(vgwEndpoint, ""), other
			}
			r, err := RunS3(ctx, so)
			if err != nil {
				return rep, fmt.Errorf("bench: peers: s3 against %s: %w", side, err)
			}
			for _, x := range r.Results {
				record(dst, x.Metric, x.Unit, x.Median, x.Latency)
			}
		}
		fmt.Fprintf(o.Log, "bench: peers: KV against shoal and redis...\n")
		kr, err := RunKV(ctx, KVOptions{Dir: fmt.Sprintf("%s/shoal-kv-%d", dir, round), Clients: o.KVClients,
			Ops: o.KVOps, MultiGetOps: 1000, Redis: true})
		if err != nil {
			return rep, fmt.Errorf("bench: peers: kv: %w", err)
		}
		if round == 0 && kr.RedisNote != "" {
			rep.Notes = append(rep.Notes, "redis: "+kr.RedisNote)
		}
		for _, x := range kr.Results {
			if x.Metric != "kv.set" && x.Metric != "kv.get" {
				continue
			}
			record(shoal, x.Metric, x.Unit, x.Shoal, x.Latency)
			if x.Redis > 0 {
				record(other, x.Metric, x.Unit, x.Redis, x.RedisLatency)
			}
		}
	}
	rep.Load = append(rep.Load, loadavg())
	for _, m := range order {
		res := PeerResult{Metric: m, Unit: units[m], Peer: "versitygw", Shoal: shoal[m].figure(), Other: other[m].figure()}
		if strings.HasPrefix(m, "kv.") {
			res.Peer = "redis"
		}
		if res.Other.Median > 0 {
			res.Ratio = res.Shoal.Median / res.Other.Median
		}
		res.Target = peerTargets[m]
		res.Pass = res.Target == 0 || res.Ratio >= res.Target
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

// startVersitygw runs versitygw's posix backend on dir/versitygw on a
// free loopback port until stop.
func startVersitygw(ctx context.Context, bin, dir, ak, sk string) (stop func(), endpoint string, err error) {
	root := dir + "/versitygw"
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	sctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(sctx, bin, "--access", ak, "--secret", sk,
		"--port", "127.0.0.1:"+strconv.Itoa(port), "posix", root)
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, "", err
	}
	stop = func() { cancel(); cmd.Wait() }
	if err := waitPort(ctx, port, 20*time.Second); err != nil {
		stop()
		return nil, "", fmt.Errorf("versitygw did not start: %w", err)
	}
	return stop, "http://127.0.0.1:" + strconv.Itoa(port), nil
}

// WriteJSON writes the report as indented JSON.
func (r *PeersReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func rangeOf(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	return "[" + num(slices.Min(v)) + "-" + num(slices.Max(v)) + "]"
}

// WriteText writes the report as a table: Shoal's median and range, its
// latencies, the peer's, and the ratio.
func (r *PeersReport) WriteText(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "machine: %s, %d cores, %s memory, %s, %s\n", orUnknown(m.CPU), m.Cores, FormatSize(int64(m.MemoryBytes)), orUnknown(m.Kernel), m.GoVersion)
	fmt.Fprintf(w, "peers:   %d interleaved rounds, took %s; load (1/5/15 min) per round: %s\n", r.Rounds, r.Duration, strings.Join(r.Load, " | "))
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tunit\tshoal\trange\tp50/p99/p999 ms\tpeer\tpeer figure\trange\tp50/p99/p999 ms\tshoal/peer\ttarget\t")
	lat := func(l Latency) string { return ms(l.P50) + "/" + ms(l.P99) + "/" + ms(l.P999) }
	for _, x := range r.Results {
		ratio, target := "-", "-"
		if x.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", x.Ratio)
		}
		if x.Target > 0 {
			target = fmt.Sprintf(">= %.2f %s", x.Target, map[bool]string{true: "PASS", false: "MISS"}[x.Pass])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", x.Metric, x.Unit,
			num(x.Shoal.Median), rangeOf(x.Shoal.Runs), lat(x.Shoal.Latency),
			x.Peer, num(x.Other.Median), rangeOf(x.Other.Runs), lat(x.Other.Latency), ratio, target)
	}
	return tw.Flush()
}
