package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/server"
)

// The S3 workload (issue 6) measures the gateway as S3 clients see it:
// aws-sdk-go-v2 with path-style addressing, checksums only where the API
// requires them and UNSIGNED-PAYLOAD (so the client's own hashing does not
// cap the figure; SigV4 still signs every request's headers), many
// concurrent clients on loopback. Each figure is the median of Runs runs;
// every PUT run writes fresh keys and every GET run reads random keys of
// the objects the PUT runs left.

// S3Options configure RunS3. The zero value (with Handler set) measures an
// in-process server on a temporary directory with the parameters.
type S3Options struct {
	// Endpoint is the S3 URL to measure ("http://127.0.0.1:9000"); empty
	// starts a server in this process on Dir, serving S3 with Handler.
	Endpoint             string
	AccessKey, SecretKey string
	Dir                  string
	Handler              server.S3Handler
	Clients              int   // concurrent requests (default 16)
	SmallOps             int   // 4 KiB objects per PUT run (default 20,000)
	LargeOps             int   // 1 MiB objects per PUT run (default 400)
	BigSize              int64 // the multipart object (default 1 GiB)
	PartSize             int64 // its parts (default 16 MiB)
	ListKeys             int   // keys in the listed bucket (default 100,000)
	PageSize             int   // keys per listing page (default 1,000)
	Runs                 int   // runs per figure, the median reported (default 3)
	// Workloads restricts the run to some of "small", "large",
	// "multipart", "list" (default all).
	Workloads []string
	Log       io.Writer // progress lines; nil discards
}

// EnsureDefaults fills zero fields.
func (o *S3Options) EnsureDefaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.Clients, 16)
	def(&o.SmallOps, 20000)
	def(&o.LargeOps, 400)
	def(&o.ListKeys, 100000)
	def(&o.PageSize, 1000)
	def(&o.Runs, 3)
	if o.BigSize == 0 {
		o.BigSize = 1 << 30
	}
	if o.PartSize == 0 {
		o.PartSize = 16 << 20
	}
	if len(o.Workloads) == 0 {
		o.Workloads = []string{"small", "large", "multipart", "list"}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Validate reports options that cannot work.
func (o *S3Options) Validate() error {
	const op = "bench.s3"
	if o.Clients < 1 || o.SmallOps < 1 || o.LargeOps < 1 || o.ListKeys < 1 || o.PageSize < 1 || o.Runs < 1 ||
		o.BigSize < 1 || o.PartSize < 5<<20 {
		return fserr.Errorf(op, fserr.Invalid, "bench: s3: counts must be positive and parts at least 5 MiB")
	}
	if o.Endpoint == "" && o.Handler == nil {
		return fserr.Errorf(op, fserr.Invalid, "bench: s3: neither an endpoint nor an in-process gateway")
	}
	if o.Endpoint != "" && (o.AccessKey == "" || o.SecretKey == "") {
		return fserr.Errorf(op, fserr.Invalid, "bench: s3: an endpoint needs an access key and a secret key")
	}
	for _, w := range o.Workloads {
		if !slices.Contains([]string{"small", "large", "multipart", "list"}, w) {
			return fserr.Errorf(op, fserr.Invalid, "bench: s3: unknown workload %q", w)
		}
	}
	return nil
}

// S3 metrics and their targets (issue 6), with the best S3 server the
// issue measured on the dev machine with such a client.
var s3Metrics = []struct {
	name, unit, workload string
	target, best         float64
}{
	{"s3.put_4k", "ops/s", "small", 3500, 3427},
	{"s3.get_4k", "ops/s", "small", 7000, 6703},
	{"s3.put_1m", "MiB/s", "large", 400, 344},
	{"s3.get_1m", "MiB/s", "large", 2800, 2727},
	{"s3.multipart_1g", "MiB/s", "multipart", 0, 0},
	{"s3.list", "keys/s", "list", 50000, 28456},
}

// S3Result is one S3 metric.
type S3Result struct {
	Metric string    `json:"metric"`
	Unit   string    `json:"unit"`
	Median float64   `json:"median"`
	Runs   []float64 `json:"runs"`
	Target float64   `json:"target,omitempty"`
	Best   float64   `json:"best_other,omitempty"` // the best other S3 server in the issue
	Pass   bool      `json:"pass"`
	// Latency is the median over runs of each run's percentiles of one
	// request (for listing: one page).
	Latency Latency `json:"latency"`
}

// S3Report is the outcome of RunS3.
type S3Report struct {
	Machine     Machine    `json:"machine"`
	Server      string     `json:"server"` // "in-process" or the endpoint
	Clients     int        `json:"clients"`
	LoopbackTCP float64    `json:"loopback_tcp_mibps"` // one stream's ceiling
	Started     time.Time  `json:"started"`
	Duration    string     `json:"duration"`
	Results     []S3Result `json:"results"`
}

// WriteJSON writes the report as indented JSON.
func (r *S3Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report as a table.
func (r *S3Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "S3 gateway (%s), %d clients, aws-sdk-go-v2 path-style UNSIGNED-PAYLOAD; %s\n",
		r.Server, r.Clients, r.Machine.CPU)
	fmt.Fprintf(w, "loopback TCP (one stream): %s MiB/s\n", num(r.LoopbackTCP))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tunit\tmedian\truns\tp50 ms\tp99 ms\tp999 ms\ttarget\tbest other\tpass\t")
	for _, x := range r.Results {
		runs := ""
		for i, v := range x.Runs {
			if i > 0 {
				runs += " "
			}
			runs += num(v)
		}
		target, best := "-", "-"
		if x.Target > 0 {
			target = num(x.Target)
		}
		if x.Best > 0 {
			best = num(x.Best)
		}
		pass := "yes"
		if !x.Pass {
			pass = "MISS"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", x.Metric, x.Unit, num(x.Median), runs,
			ms(x.Latency.P50), ms(x.Latency.P99), ms(x.Latency.P999), target, best, pass)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "duration %s\n", r.Duration)
	return err
}

// RunS3 runs the S3 workload and returns its report.
func RunS3(ctx context.Context, o S3Options) (rep *S3Report, err error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	rep = &S3Report{Server: o.Endpoint, Clients: o.Clients, Started: time.Now()}
	defer func() { rep.Duration = time.Since(rep.Started).Round(time.Millisecond).String() }()
	if o.Endpoint == "" {
		rep.Server = "in-process"
		stop, err := startS3Server(&o)
		if err != nil {
			return rep, err
		}
		defer stop()
		rep.Machine = DescribeMachine(o.Dir)
	} else {
		rep.Machine = DescribeMachine(os.TempDir())
	}
	fmt.Fprintf(o.Log, "bench: loopback TCP...\n")
	if rep.LoopbackTCP, err = LoopbackTCP(ctx, time.Second); err != nil {
		return rep, err
	}
	r := &s3Runner{o: o, c: newS3Client(o), bucket: fmt.Sprintf("bench-s3-%d", time.Now().UnixNano())}
	if _, err := r.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &r.bucket}); err != nil {
		return rep, err
	}
	figures := map[string][]float64{}
	lats := map[string][]Latency{}
	measure := func(metric string, fn func(ctx context.Context, run int) (float64, error)) error {
		for run := range o.Runs {
			fmt.Fprintf(o.Log, "bench: %s run %d...\n", metric, run+1)
			r.lat = nil
			v, err := fn(ctx, run)
			if err != nil {
				return fmt.Errorf("bench: %s: %w", metric, err)
			}
			fmt.Fprintf(o.Log, "bench: %s %s\n", metric, num(v))
			figures[metric] = append(figures[metric], v)
			if r.lat != nil {
				lats[metric] = append(lats[metric], r.lat.percentiles())
			}
		}
		return nil
	}
	for _, w := range o.Workloads {
		var err error
		switch w {
		case "small":
			if err = measure("s3.put_4k", r.put(4<<10, o.SmallOps, "s")); err == nil {
				err = measure("s3.get_4k", r.get(4<<10, o.SmallOps, "s"))
			}
		case "large":
			if err = measure("s3.put_1m", r.put(1<<20, o.LargeOps, "l")); err == nil {
				err = measure("s3.get_1m", r.get(1<<20, o.LargeOps, "l"))
			}
		case "multipart":
			err = measure("s3.multipart_1g", r.multipart)
		case "list":
			if err = r.fillList(ctx); err == nil {
				err = measure("s3.list", r.list)
			}
		}
		if err != nil {
			return rep, err
		}
	}
	for _, m := range s3Metrics {
		runs, ok := figures[m.name]
		if !ok {
			continue
		}
		med := median(runs)
		rep.Results = append(rep.Results, S3Result{Metric: m.name, Unit: m.unit, Median: med, Runs: runs,
			Target: m.target, Best: m.best, Pass: m.target == 0 || med >= m.target, Latency: medianLatency(lats[m.name])})
	}
	return rep, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// startS3Server runs a server with S3 on loopback ports over o.Dir (a
// temporary directory when empty) and points o at it.
func startS3Server(o *S3Options) (stop func(), err error) {
	cleanup := func() {}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "shoal-bench-s3"); err != nil {
			return nil, err
		}
		dir := o.Dir
		cleanup = func() { os.RemoveAll(dir) }
	}
	if o.AccessKey == "" {
		o.AccessKey, o.SecretKey = "benchaccess", "benchsecret-not-for-production"
	}
	srv, err := server.New(server.Config{DataDir: o.Dir, Listen: "127.0.0.1:0", WorkerListen: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler),
		S3:     server.S3Config{Listen: "127.0.0.1:0", AccessKey: o.AccessKey, SecretKey: o.SecretKey, Handler: o.Handler}})
	if err != nil {
		cleanup()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	if srv.S3Addr() == "" {
		cancel()
		<-done
		cleanup()
		return nil, errors.New("bench: s3: the in-process server serves no S3")
	}
	o.Endpoint = "http://" + srv.S3Addr()
	return func() { cancel(); <-done; cleanup() }, nil
}

// newS3Client is the client: path-style, checksums only when an
// API requires them, UNSIGNED-PAYLOAD, one connection per concurrent
// request.
func newS3Client(o S3Options) *s3.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 4 * o.Clients
	tr.MaxIdleConnsPerHost = 4 * o.Clients
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(o.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, ""),
		HTTPClient:                 &http.Client{Transport: tr},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           1,
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
}

type s3Runner struct {
	o      S3Options
	c      *s3.Client
	bucket string
	puts   map[string]int // objects written per prefix, for the GET runs
	mu     sync.Mutex
	lat    *latencies // of the run in progress, set by parallel
}

// parallel runs fn(i) for i in [0, n) on o.Clients goroutines and returns
// the wall time.
func (r *s3Runner) parallel(ctx context.Context, n int, fn func(i int) error) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	lat := &latencies{}
	r.lat = lat
	start := time.Now()
	for range r.o.Clients {
		wg.Go(func() {
			var mine []time.Duration
			defer func() { lat.add(mine) }()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				err := fn(i)
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
	return time.Since(start), cmpOr(first, ctx.Err())
}

func s3Key(prefix string, i int) string { return fmt.Sprintf("%s/%08x", prefix, uint32(i)*2654435761) }

// rate is ops/s for objects under 1 MiB and MiB/s for the rest.
func rate(size, n int, d time.Duration) float64 {
	if size >= 1<<20 {
		return mibps(int64(size)*int64(n), d)
	}
	return perSec(n, d)
}

func (r *s3Runner) put(size, n int, prefix string) func(ctx context.Context, run int) (float64, error) {
	body := pattern(size, uint64(size))
	return func(ctx context.Context, run int) (float64, error) {
		base := run * n
		d, err := r.parallel(ctx, n, func(i int) error {
			_, err := r.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &r.bucket, Key: aws.String(s3Key(prefix, base+i)),
				Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(size))})
			return err
		})
		if err != nil {
			return 0, err
		}
		r.mu.Lock()
		if r.puts == nil {
			r.puts = map[string]int{}
		}
		r.puts[prefix] = base + n
		r.mu.Unlock()
		return rate(size, n, d), nil
	}
}

func (r *s3Runner) get(size, n int, prefix string) func(ctx context.Context, run int) (float64, error) {
	return func(ctx context.Context, run int) (float64, error) {
		r.mu.Lock()
		have := r.puts[prefix]
		r.mu.Unlock()
		var bufs sync.Pool
		bufs.New = func() any { b := make([]byte, 256<<10); return &b }
		d, err := r.parallel(ctx, n, func(i int) error {
			out, err := r.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &r.bucket, Key: aws.String(s3Key(prefix, rand.IntN(have)))})
			if err != nil {
				return err
			}
			b := bufs.Get().(*[]byte)
			got, err := io.CopyBuffer(io.Discard, out.Body, *b)
			bufs.Put(b)
			out.Body.Close()
			if err == nil && got != int64(size) {
				err = fmt.Errorf("read %d bytes of %d", got, size)
			}
			return err
		})
		return rate(size, n, d), err
	}
}

func (r *s3Runner) multipart(ctx context.Context, run int) (float64, error) {
	key := aws.String(fmt.Sprintf("big/%d", run))
	part := pattern(int(r.o.PartSize), 7)
	parts := int((r.o.BigSize + r.o.PartSize - 1) / r.o.PartSize)
	start := time.Now()
	up, err := r.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &r.bucket, Key: key})
	if err != nil {
		return 0, err
	}
	done := make([]types.CompletedPart, parts)
	_, err = r.parallel(ctx, parts, func(i int) error {
		n := min(r.o.PartSize, r.o.BigSize-int64(i)*r.o.PartSize)
		out, err := r.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &r.bucket, Key: key, UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(part[:n]), ContentLength: aws.Int64(n)})
		if err == nil {
			done[i] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))}
		}
		return err
	})
	if err == nil {
		_, err = r.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &r.bucket, Key: key,
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	}
	if err != nil {
		_, _ = r.c.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &r.bucket, Key: key, UploadId: up.UploadId})
		return 0, err
	}
	d := time.Since(start)
	// the next run's bytes should not compete with this one's
	_, _ = r.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &r.bucket, Key: key})
	return mibps(r.o.BigSize, d), nil
}

// fillList writes ListKeys empty objects under list/.
func (r *s3Runner) fillList(ctx context.Context) error {
	fmt.Fprintf(r.o.Log, "bench: writing %d keys to list...\n", r.o.ListKeys)
	_, err := r.parallel(ctx, r.o.ListKeys, func(i int) error {
		_, err := r.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &r.bucket, Key: aws.String(fmt.Sprintf("list/k%07d", i)),
			Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)})
		return err
	})
	return err
}

// list reads the list/ keys page by page, as one client does.
func (r *s3Runner) list(ctx context.Context, _ int) (float64, error) {
	start := time.Now()
	n := 0
	p := s3.NewListObjectsV2Paginator(r.c, &s3.ListObjectsV2Input{Bucket: &r.bucket, Prefix: aws.String("list/"),
		MaxKeys: aws.Int32(int32(r.o.PageSize))})
	lat := &latencies{}
	var pages []time.Duration
	for p.HasMorePages() {
		t0 := time.Now()
		out, err := p.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		pages = append(pages, time.Since(t0))
		n += len(out.Contents)
	}
	lat.add(pages)
	r.lat = lat
	if n != r.o.ListKeys {
		return 0, fmt.Errorf("listed %d keys of %d", n, r.o.ListKeys)
	}
	return perSec(n, time.Since(start)), nil
}

// ms renders milliseconds for the latency columns ("-" when not measured).
func ms(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
