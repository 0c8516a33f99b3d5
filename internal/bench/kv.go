package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/server"
)

// The KV workload (issue 5) measures the KV tables through the whole
// stack: the Go SDK, gRPC on loopback and a server over Badger, with
// many concurrent clients, as redis-benchmark measures Redis; when Redis
// is installed its figures are printed beside Shoal's. Writes are
// durable against the death of the server process (a Badger commit,
// without fsync: the server's default), not against power loss; Redis
// runs without persistence at all.

// KVOptions configure RunKV. The zero value measures an in-process
// server on a temporary directory with the parameters.
type KVOptions struct {
	// Addr is the server to measure (host:port); empty starts one in
	// this process on Dir.
	Addr  string
	Token string // bearer token for Addr (creating a table needs a super token)
	// Dir is the data directory of the in-process server (default a
	// temporary directory, removed afterwards).
	Dir string
	// Clients is how many goroutines issue requests at once (default 50).
	Clients int
	// Conns is how many client connections (shoal.Dial) they share
	// (default 2). HTTP/2 batches the frames of concurrent calls on one
	// connection into fewer writes, so on the 2-core dev VM, quiet, 1-4
	// connections measured fastest (set 41-48k/s, get 45-53k/s) and 8 or
	// 16 slower (set 31-33k/s, get 35-40k/s).
	Conns     int
	ValueSize int // bytes per value (default 100)
	// Ops is how many sets and then gets run (default 200,000); the sets
	// fill the table the scan reads.
	Ops int
	// MultiGetOps is how many multi_gets of MultiGetKeys sort keys run
	// (defaults 20,000 and 100).
	MultiGetOps  int
	MultiGetKeys int
	// ScanSplits is how many unordered scanners read the table at once
	// (default 4).
	ScanSplits int
	// Redis runs redis-benchmark against a redis-server started for it,
	// when both are installed.
	Redis bool
	Log   io.Writer // progress lines; nil discards
}

// EnsureDefaults fills zero fields.
func (o *KVOptions) EnsureDefaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.Clients, 50)
	def(&o.Conns, 2)
	def(&o.ValueSize, 100)
	def(&o.Ops, 200000)
	def(&o.MultiGetOps, 20000)
	def(&o.MultiGetKeys, 100)
	def(&o.ScanSplits, 4)
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Validate reports options that cannot work.
func (o *KVOptions) Validate() error {
	if o.Clients < 1 || o.Conns < 1 || o.ValueSize < 0 || o.Ops < 1 || o.MultiGetOps < 1 || o.MultiGetKeys < 1 || o.ScanSplits < 1 {
		return fserr.Errorf("bench.kv", fserr.Invalid, "bench: kv: counts must be positive")
	}
	return nil
}

// KV metric names and their targets (issue 5).
var kvMetrics = []struct {
	name, unit, redis string
	target            float64
	note              string
}{
	{"kv.set", "ops/s", "SET", 40000, "durable: committed in Badger before the reply (survives a server crash; no fsync, so not power loss)"},
	{"kv.get", "ops/s", "GET", 60000, ""},
	{"kv.multi_get", "ops/s", "", 0, "each reads %d sort keys of one hash key"},
	{"kv.scan", "records/s", "", 500000, "full table, %d unordered scanners"},
}

// KVResult is one KV metric.
type KVResult struct {
	Metric string  `json:"metric"`
	Unit   string  `json:"unit"`
	Shoal  float64 `json:"shoal"`
	Redis  float64 `json:"redis,omitempty"` // redis-benchmark's figure for the same operation
	// Latency is one call's percentiles; RedisLatency redis-benchmark's
	// (p50 and p99 only: its CSV has no p99.9).
	Latency      Latency `json:"latency"`
	RedisLatency Latency `json:"redis_latency"`
	Target       float64 `json:"target,omitempty"`
	Pass         bool    `json:"pass"`
	Note         string  `json:"note,omitempty"`
}

// KVReport is the outcome of RunKV.
type KVReport struct {
	Machine   Machine    `json:"machine"`
	Server    string     `json:"server"` // "in-process" or the address
	Clients   int        `json:"clients"`
	Conns     int        `json:"conns"`
	ValueSize int        `json:"value_size"`
	Started   time.Time  `json:"started"`
	Duration  string     `json:"duration"`
	Results   []KVResult `json:"results"`
	RedisNote string     `json:"redis_note,omitempty"` // how Redis was measured, or why not
}

// RunKV runs the KV workload and returns its report.
func RunKV(ctx context.Context, o KVOptions) (rep *KVReport, err error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	rep = &KVReport{Server: o.Addr, Clients: o.Clients, Conns: o.Conns, ValueSize: o.ValueSize, Started: time.Now()}
	defer func() { rep.Duration = time.Since(rep.Started).Round(time.Millisecond).String() }()
	addr := o.Addr
	if addr == "" {
		rep.Server = "in-process"
		var stop func()
		addr, stop, err = startKVServer(o.Dir)
		if err != nil {
			return rep, err
		}
		defer stop()
		rep.Machine = DescribeMachine(o.Dir)
	} else {
		rep.Machine = DescribeMachine(os.TempDir())
	}
	clients := make([]*shoal.Client, o.Conns)
	for i := range clients {
		var opts []shoal.Option
		if o.Token != "" {
			opts = append(opts, shoal.WithToken(o.Token))
		}
		c, err := shoal.Dial(ctx, addr, opts...)
		if err != nil {
			return rep, err
		}
		defer c.Close()
		clients[i] = c.WithContext(ctx)
	}
	name := fmt.Sprintf("bench-kv-%d", time.Now().UnixNano())
	if _, err := clients[0].CreateTable(name, shoal.TableOptions{}); err != nil {
		return rep, err
	}
	defer clients[0].DropTable(name)
	r := &kvRunner{o: o, tables: make([]*shoal.Table, len(clients))}
	for i, c := range clients {
		r.tables[i] = c.Table(name)
	}
	figures := map[string]float64{}
	lats := map[string]Latency{}
	for _, w := range []struct {
		metric string
		fn     func(ctx context.Context) (float64, error)
	}{{"kv.set", r.set}, {"kv.get", r.get}, {"kv.multi_get", r.multiGet}, {"kv.scan", r.scan}} {
		fmt.Fprintf(o.Log, "bench: %s...\n", w.metric)
		v, err := w.fn(ctx)
		if err != nil {
			return rep, fmt.Errorf("bench: %s: %w", w.metric, err)
		}
		figures[w.metric] = v
		if r.last != nil {
			lats[w.metric] = r.last.percentiles()
			r.last = nil
		}
		fmt.Fprintf(o.Log, "bench: %s %s\n", w.metric, num(v))
	}
	var redis map[string]redisFigure
	if o.Redis {
		fmt.Fprintf(o.Log, "bench: redis-benchmark...\n")
		redis, rep.RedisNote = redisBenchmark(ctx, o)
	}
	for _, m := range kvMetrics {
		res := KVResult{Metric: m.name, Unit: m.unit, Shoal: figures[m.name], Target: m.target,
			Redis: redis[m.redis].rps, Latency: lats[m.name], RedisLatency: redis[m.redis].lat}
		res.Pass = m.target == 0 || res.Shoal >= m.target
		switch m.name {
		case "kv.multi_get":
			res.Note = fmt.Sprintf(m.note, o.MultiGetKeys)
		case "kv.scan":
			res.Note = fmt.Sprintf(m.note, o.ScanSplits)
		default:
			res.Note = m.note
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

// startKVServer runs a server on loopback ports over dir (a temporary
// directory when empty).
func startKVServer(dir string) (addr string, stop func(), err error) {
	cleanup := func() {}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "shoal-bench-kv"); err != nil {
			return "", nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
	}
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", WorkerListen: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		cleanup()
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	return srv.Addr(), func() { cancel(); <-done; cleanup() }, nil
}

type kvRunner struct {
	o      KVOptions
	tables []*shoal.Table // one per connection
	last   *latencies     // of the latest parallel run
}

// hashKey spreads record i over the key space (Knuth's multiplicative
// hash), as independent clients' keys would be.
func hashKey(i int) []byte {
	return fmt.Appendf(nil, "%08x", uint32(i)*2654435761)
}

// parallel runs fn(i) for i in [0, n) on the clients and returns the
// wall time.
func (r *kvRunner) parallel(ctx context.Context, n int, fn func(t *shoal.Table, i int) error) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	lat := &latencies{}
	r.last = lat
	start := time.Now()
	for g := range r.o.Clients {
		t := r.tables[g%len(r.tables)]
		wg.Go(func() {
			var mine []time.Duration
			defer func() { lat.add(mine) }()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				err := fn(t, i)
				mine = append(mine, time.Since(t0))
				if err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return time.Since(start), first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (r *kvRunner) set(ctx context.Context) (float64, error) {
	v := pattern(r.o.ValueSize, 1)
	d, err := r.parallel(ctx, r.o.Ops, func(t *shoal.Table, i int) error {
		return t.Set(hashKey(i), nil, v, 0)
	})
	return perSec(r.o.Ops, d), err
}

func (r *kvRunner) get(ctx context.Context) (float64, error) {
	d, err := r.parallel(ctx, r.o.Ops, func(t *shoal.Table, i int) error {
		k := hashKey(rand.IntN(r.o.Ops))
		_, ok, err := t.Get(k, nil)
		if err == nil && !ok {
			err = fmt.Errorf("record %s missing", k)
		}
		return err
	})
	return perSec(r.o.Ops, d), err
}

func (r *kvRunner) multiGet(ctx context.Context) (float64, error) {
	const hashKeys = 200
	keys := make([][]byte, r.o.MultiGetKeys)
	kvs := make([]shoal.KV, r.o.MultiGetKeys)
	v := pattern(r.o.ValueSize, 2)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "s%04d", i)
		kvs[i] = shoal.KV{SortKey: keys[i], Value: v}
	}
	if _, err := r.parallel(ctx, hashKeys, func(t *shoal.Table, i int) error {
		return t.MultiSet(fmt.Appendf(nil, "mg%04d", i), kvs, 0)
	}); err != nil {
		return 0, err
	}
	d, err := r.parallel(ctx, r.o.MultiGetOps, func(t *shoal.Table, i int) error {
		got, _, err := t.MultiGet(fmt.Appendf(nil, "mg%04d", rand.IntN(hashKeys)), keys, 0, 0, false)
		if err == nil && len(got) != len(keys) {
			err = fmt.Errorf("multi_get returned %d of %d records", len(got), len(keys))
		}
		return err
	})
	return perSec(r.o.MultiGetOps, d), err
}

func (r *kvRunner) scan(ctx context.Context) (float64, error) {
	start := time.Now()
	scs, err := r.tables[0].GetUnorderedScanners(r.o.ScanSplits, shoal.DefaultScanOptions())
	if err != nil {
		return 0, err
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(scs))
	for i, sc := range scs {
		wg.Go(func() {
			defer sc.Close()
			for {
				_, _, _, ok, err := sc.Next()
				if err != nil || !ok {
					errs[i] = err
					return
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	if want := int64(r.o.Ops + 200*r.o.MultiGetKeys); total.Load() != want {
		return 0, fmt.Errorf("scan returned %d records, want %d", total.Load(), want)
	}
	return perSec(int(total.Load()), d), nil
}

// WriteJSON writes the report as indented JSON.
func (r *KVReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report as an aligned table, Redis's figure beside
// Shoal's.
func (r *KVReport) WriteText(w io.Writer) error {
	m := r.Machine
	var b strings.Builder
	fmt.Fprintf(&b, "machine: %s, %d cores, %s memory, %s, %s\n", orUnknown(m.CPU), m.Cores, FormatSize(int64(m.MemoryBytes)), orUnknown(m.Kernel), m.GoVersion)
	fmt.Fprintf(&b, "kv:      server %s, %d clients on %d connection(s), %d-byte values; took %s\n", r.Server, r.Clients, r.Conns, r.ValueSize, r.Duration)
	if r.RedisNote != "" {
		fmt.Fprintf(&b, "redis:   %s\n", r.RedisNote)
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tunit\tshoal\tp50 ms\tp99 ms\tp999 ms\tredis\tredis p50\tredis p99\tvs redis\ttarget\tverdict\t")
	for _, res := range r.Results {
		redis, target, verdict := "-", "-", "-"
		if res.Redis > 0 {
			redis = num(res.Redis)
		}
		if res.Target > 0 {
			target = ">= " + strconv.FormatFloat(res.Target, 'f', -1, 64)
			verdict = map[bool]string{true: "PASS", false: "MISS"}[res.Pass]
		}
		ratio := "-"
		if res.Redis > 0 {
			ratio = fmt.Sprintf("%.0f%%", 100*res.Shoal/res.Redis)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", res.Metric, res.Unit, num(res.Shoal),
			ms(res.Latency.P50), ms(res.Latency.P99), ms(res.Latency.P999), redis,
			ms(res.RedisLatency.P50), ms(res.RedisLatency.P99), ratio, target, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
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
