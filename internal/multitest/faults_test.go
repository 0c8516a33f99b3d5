package multitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/server"
	"github.com/shoalfs/shoal/internal/testserver/etcd"
	"github.com/shoalfs/shoal/internal/testserver/versitygw"
)

// envFaultKills sets how many processes TestClusterFaults kills (default
// 6, 4 under -race or -short).
const envFaultKills = "SHOAL_FAULT_KILLS"

// envConfig carries a cluster role's configuration (clusterConfig as
// JSON) to a child process.
const envConfig = "SHOAL_MT_CONFIG"

const (
	faultClients  = 4
	faultMaxFiles = 5
	faultMaxSize  = 256 << 10
	faultMaxWrite = 64 << 10 // one slice: a write is all or nothing
	// faultHung is how long a client may go without completing an
	// operation after a restart before the test calls it hung; it is
	// not a performance bound (the measured one is printed).
	faultHung = 60 * time.Second
)

// clusterConfig is what a meta or worker child runs: the server.Config
// fields a cluster role uses.
type clusterConfig struct {
	Meta         bool
	DataDir      string // the lock (and the S3 root key); the data is in etcd and S3
	MetaURL      string
	StoreURL     string
	Listen       string
	WorkerListen string
	WorkerURLs   []string
	MetaAddrs    []string
	WorkerID     string
	LeaseTTL     time.Duration
	GCInterval   time.Duration
}

// clusterMain is the "cluster" role: one meta or one worker of a
// cluster, as `shoal meta` or `shoal worker` runs it, until SIGTERM or
// SIGKILL. It prints "ready" once it listens.
func clusterMain() int {
	var cc clusterConfig
	if err := json.Unmarshal([]byte(os.Getenv(envConfig)), &cc); err != nil {
		fmt.Fprintf(os.Stderr, "multitest cluster: %s: %v\n", envConfig, err)
		return 2
	}
	cfg := server.Config{
		DataDir:         cc.DataDir,
		MetaURL:         cc.MetaURL,
		StoreURL:        cc.StoreURL,
		Listen:          cc.Listen,
		WorkerListen:    cc.WorkerListen,
		WorkerURLs:      cc.WorkerURLs,
		MetaAddrs:       cc.MetaAddrs,
		WorkerID:        cc.WorkerID,
		LeaseTTL:        cc.LeaseTTL,
		GCInterval:      cc.GCInterval,
		ShutdownTimeout: 2 * time.Second,
		Roles:           server.RoleWorker,
	}
	if cc.Meta {
		cfg.Roles = server.RoleMeta
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var srv *server.Server
	var err error
	// A restart on the same port may race the kernel releasing it, and
	// a meta may start while etcd has no leader yet.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if srv, err = server.New(cfg); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "multitest cluster: %v\n", err)
		return 1
	}
	fmt.Println("ready")
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "multitest cluster: run: %v\n", err)
		return 1
	}
	return 0
}

// clusterProc is a meta or worker child process; restarts reuse its
// configuration (addresses, worker id).
type clusterProc struct {
	t      *testing.T
	name   string
	cfg    clusterConfig
	env    []string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan error
}

func (p *clusterProc) start() {
	p.t.Helper()
	b, err := json.Marshal(p.cfg)
	must(p.t, err)
	cmd, stdin, stdout, stderr := child(p.t, "cluster", append([]string{envConfig + "=" + string(b)}, p.env...)...)
	stdin.Close()
	p.cmd, p.stderr = cmd, stderr
	ready := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- struct{}{}
			}
		}
	}()
	p.exited = make(chan error, 1)
	go func() { p.exited <- cmd.Wait() }()
	select {
	case <-ready:
	case err := <-p.exited:
		p.cmd = nil
		p.t.Fatalf("%s exited before it was ready: %v\n%s", p.name, err, stderr)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		p.t.Fatalf("%s not ready after 60s\n%s", p.name, stderr)
	}
}

func (p *clusterProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	<-p.exited
	p.cmd = nil
}

func (p *clusterProc) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// loopbackAddr returns a free port on the loopback address ip (Linux
// routes all of 127/8 to lo).
func loopbackAddr(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestClusterFaults (issue 10, item 4): 3 etcd members, 2 meta and 3
// worker processes and versitygw; 4 clients (goroutines of the test, each
// its own shoal.Dial given both meta addresses) create, write, fsync,
// read back and rename their own files, and an observer client lists and
// reads them all, while one process at a time is killed and restarted:
// an etcd member (Stop of an embedded member: etcd runs in the test
// process), a meta or a worker (SIGKILL of the child), or the S3 server
// (SIGKILL, down for 2-3 s). Then:
//   - every client completes an operation after each restart within
//     faultHung (the time it took is measured and printed);
//   - an operation in flight at a kill either succeeds or fails with
//     kind IO and leaves its file(s) in the old or the new state;
//   - every fsync-acknowledged byte, create and rename is there, once;
//   - fsck, blocks and CRCs included, is clean;
//   - the history of namespace operations (creates, writes, renames,
//     reads and listings) is linearizable (porcupine).
func TestClusterFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, versitygw and 5 server processes")
	}
	kills := 6
	if quick() {
		kills = 4
	}
	if v := os.Getenv(envFaultKills); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", envFaultKills, v)
		}
		kills = n
	}
	rng := newRand(t)

	gw := versitygw.Start(t, versitygw.Options{})
	gw.Bucket(t, "blocks")
	ec := etcd.StartCluster(t, 3)
	var hosts []string
	for _, e := range ec.Endpoints {
		hosts = append(hosts, strings.TrimPrefix(e, "http://"))
	}
	metaURL := "etcd://" + strings.Join(hosts, ",") + "/faults"
	storeURL := "s3://blocks/faults?endpoint=" + gw.Endpoint
	awsEnv := []string{"AWS_ACCESS_KEY_ID=" + versitygw.AccessKey, "AWS_SECRET_ACCESS_KEY=" + versitygw.SecretKey}

	metaAddrs := []string{loopbackAddr(t, "127.0.0.2"), loopbackAddr(t, "127.0.0.3")}
	var workerAddrs, workerURLs []string
	for i := range 3 {
		a := loopbackAddr(t, fmt.Sprintf("127.0.0.%d", 4+i))
		workerAddrs, workerURLs = append(workerAddrs, a), append(workerURLs, "http://"+a)
	}
	var procs []*clusterProc
	t.Cleanup(func() {
		for _, p := range slices.Backward(procs) {
			p.stop()
		}
	})
	var metas, workers []*clusterProc
	for i, a := range metaAddrs {
		// The GC loop is off: fsck races a concurrent pass, so the
		// verifier runs GC itself before fsck.
		p := &clusterProc{t: t, name: fmt.Sprintf("meta%d", i), cfg: clusterConfig{Meta: true, DataDir: t.TempDir(), MetaURL: metaURL, Listen: a, WorkerURLs: workerURLs, GCInterval: -1}}
		p.start()
		procs, metas = append(procs, p), append(metas, p)
	}
	for i, a := range workerAddrs {
		p := &clusterProc{t: t, name: fmt.Sprintf("worker%d", i), env: awsEnv,
			cfg: clusterConfig{DataDir: t.TempDir(), StoreURL: storeURL, WorkerListen: a, MetaAddrs: metaAddrs, WorkerID: fmt.Sprintf("w%d", i), LeaseTTL: 3 * time.Second}}
		p.start()
		procs, workers = append(procs, p), append(workers, p)
	}
	stderrs := func() string {
		var b strings.Builder
		for _, p := range procs {
			fmt.Fprintf(&b, "--- %s stderr (last 2000 bytes):\n%s\n", p.name, tail(p.stderr.String(), 2000))
		}
		return b.String()
	}

	ctx := context.Background()
	dial := func(addrs []string) *shoal.Client {
		c, err := shoal.Dial(ctx, strings.Join(addrs, ","))
		if err != nil {
			t.Fatalf("dial %v: %v\n%s", addrs, err, stderrs())
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	hist := &history{base: time.Now()}
	clients := make([]*faultClient, faultClients)
	for i := range clients {
		addrs := slices.Clone(metaAddrs)
		if i%2 == 1 { // half the clients start on each meta
			slices.Reverse(addrs)
		}
		cl := &faultClient{id: i, dir: "c" + strconv.Itoa(i), c: dial(addrs), hist: hist,
			rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(i))), files: map[string][]byte{}}
		must(t, cl.c.Mkdir(cl.dir, 0o755))
		clients[i] = cl
	}
	observer := dial([]string{metaAddrs[1], metaAddrs[0]})
	verifier := dial(metaAddrs)

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() { cl.run(runCtx) })
	}
	obsRng := rand.New(rand.NewPCG(rng.Uint64(), 99))
	wg.Go(func() { observe(runCtx, observer, hist, obsRng) })
	stopLoad := func() {
		cancel()
		wg.Wait()
	}
	defer stopLoad()

	// Every kind of process is killed before any is killed twice.
	kinds := []string{"etcd", "meta", "worker", "s3"}
	var order []string
	for len(order) < kills {
		rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
		order = append(order, kinds...)
	}
	order = order[:kills]
	var worst time.Duration
	var worstWhat string
	for round, kind := range order {
		time.Sleep(time.Duration(500+rng.IntN(1000)) * time.Millisecond)
		for _, cl := range clients {
			if err := cl.fatal.Load(); err != nil {
				t.Fatalf("before kill %d: client %d: %v\n%s", round+1, cl.id, *err, stderrs())
			}
		}
		down := time.Duration(100+rng.IntN(400)) * time.Millisecond
		var what string
		killed := time.Now()
		switch kind {
		case "etcd":
			i := rng.IntN(3)
			what = fmt.Sprintf("etcd member %d (in-process Stop)", i)
			ec.Stop(i)
			time.Sleep(down)
			ec.Restart(t, i)
		case "meta":
			p := metas[rng.IntN(len(metas))]
			what = p.name + " (SIGKILL)"
			p.kill()
			time.Sleep(down)
			p.start()
		case "worker":
			p := workers[rng.IntN(len(workers))]
			what = p.name + " (SIGKILL)"
			p.kill()
			time.Sleep(down)
			p.start()
		case "s3":
			down = time.Duration(2000+rng.IntN(1000)) * time.Millisecond
			what = "versitygw (SIGKILL)"
			gw.Stop()
			time.Sleep(down)
			gw.Restart(t)
		}
		restarted := time.Now()
		// Every client completes an operation it started after the kill.
		var resumed time.Duration
		for _, cl := range clients {
			for {
				if at, ok := cl.okSince(killed); ok {
					resumed = max(resumed, at.Sub(killed))
					break
				}
				if err := cl.fatal.Load(); err != nil {
					t.Fatalf("kill %d (%s): client %d: %v\n%s", round+1, what, cl.id, *err, stderrs())
				}
				if time.Since(restarted) > faultHung {
					t.Fatalf("kill %d (%s): client %d hung: no operation completed %v after the restart\nrecent:\n%s\n%s",
						round+1, what, cl.id, faultHung, strings.Join(cl.report(), "\n"), stderrs())
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		if resumed > worst {
			worst, worstWhat = resumed, what
		}
		t.Logf("kill %d: %s, down %v, restarted in %v; all clients resumed %v after the kill",
			round+1, what, down.Round(time.Millisecond), restarted.Sub(killed).Round(time.Millisecond), resumed.Round(time.Millisecond))
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()

	var acked, failed int64
	for _, cl := range clients {
		if err := cl.fatal.Load(); err != nil {
			t.Fatalf("client %d: %v\n%s", cl.id, *err, stderrs())
		}
		verifyFaultClient(t, verifier, cl)
		acked += cl.ops.Load()
		failed += cl.failed.Load()
	}
	t.Logf("%d kills; %d operations acknowledged, %d failed cleanly and were resolved; longest resume after a kill: %v (%s)",
		kills, acked, failed, worst.Round(time.Millisecond), worstWhat)
	if err := verifier.GC(); err != nil {
		t.Errorf("gc: %v", err)
	}
	checkClean(t, verifier, true)

	ops := hist.operations()
	res := porcupine.CheckOperationsTimeout(nsModel, ops, 60*time.Second)
	t.Logf("porcupine: %d namespace operations, %s", len(ops), res)
	if res == porcupine.Illegal {
		t.Errorf("the namespace history is not linearizable")
		explainIllegal(t, ops)
	}
	if t.Failed() {
		t.Logf("%s", stderrs())
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// verifyFaultClient reads cl's directory through another client and
// compares it with cl's model (cl has stopped).
func verifyFaultClient(t *testing.T, v *shoal.Client, cl *faultClient) {
	t.Helper()
	ents, err := v.ReadDir(cl.dir)
	if err != nil {
		t.Errorf("readdir %s: %v", cl.dir, err)
		return
	}
	var got []string
	for _, e := range ents {
		got = append(got, cl.dir+"/"+e.Name())
	}
	want := slices.Sorted(maps.Keys(cl.files))
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, the client acknowledged %v", cl.dir, got, want)
	}
	for _, name := range want {
		data, err := v.ReadFile(name)
		if err != nil {
			t.Errorf("read %s: %v", name, err)
			continue
		}
		if w := cl.files[name]; !bytes.Equal(data, w) {
			t.Errorf("%s: read %s, acknowledged %s", name, describeData(data), describeData(w))
		}
	}
}

// version names a file's content in the history.
func version(b []byte) string { return stateSum(b)[:16] }

// nsInput is one namespace operation on the files of one directory
// (Dir, the partition key).
type nsInput struct {
	Kind     string // create, write, rename, read, list
	Dir      string
	Name, To string
	Ver      string // write: the content it leaves
}

// nsOutput is its outcome: Applied for mutations (a failed mutation is
// resolved by reading back); Exists and Ver for read; Names for list.
type nsOutput struct {
	Applied bool
	Exists  bool
	Ver     string
	Names   []string
}

// nsModel is a directory as a map from file name to content version.
var nsModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range h {
			d := op.Input.(nsInput).Dir
			by[d] = append(by[d], op)
		}
		var out [][]porcupine.Operation
		for _, d := range slices.Sorted(maps.Keys(by)) {
			out = append(out, by[d])
		}
		return out
	},
	Init: func() any { return map[string]string{} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(map[string]string), input.(nsInput), output.(nsOutput)
		cur, exists := s[in.Name]
		switch in.Kind {
		case "read":
			return out.Exists == exists && (!exists || out.Ver == cur), s
		case "list":
			// ReadDir is one request per batch and ends with an empty
			// one, each its own snapshot: a name renamed between the two
			// (its new directory cookie is past the first batch) is
			// listed under both names, as POSIX readdir allows for an
			// entry added after opendir. So a listing holds every name
			// of the state it is linearized at, and perhaps more.
			for name := range s {
				if !slices.Contains(out.Names, name) {
					return false, s
				}
			}
			return true, s
		}
		if !out.Applied {
			return true, s
		}
		n := maps.Clone(s)
		switch in.Kind {
		case "create":
			if exists {
				return false, s
			}
			n[in.Name] = version(nil)
		case "write":
			if !exists {
				return false, s
			}
			n[in.Name] = in.Ver
		case "rename":
			if _, taken := s[in.To]; !exists || taken {
				return false, s
			}
			delete(n, in.Name)
			n[in.To] = cur
		}
		return true, n
	},
	Equal: func(a, b any) bool { return maps.Equal(a.(map[string]string), b.(map[string]string)) },
	DescribeOperation: func(input, output any) string {
		return fmt.Sprintf("%+v -> %+v", input, output)
	},
}

// history records operations with their call and return times.
type history struct {
	base time.Time
	mu   sync.Mutex
	ops  []porcupine.Operation
}

func (h *history) add(client int, call time.Time, in nsInput, out nsOutput) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out,
		Call: int64(call.Sub(h.base)), Return: int64(time.Since(h.base))})
}

func (h *history) operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// observe lists a random client's directory and reads one of its files,
// through its own client, until ctx ends. A read that fails (the
// cluster is away) changes nothing and is left out of the history.
func observe(ctx context.Context, c *shoal.Client, h *history, rng *rand.Rand) {
	for ctx.Err() == nil {
		dir := "c" + strconv.Itoa(rng.IntN(faultClients))
		call := time.Now()
		ents, err := c.ReadDir(dir)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var names []string
		for _, e := range ents {
			names = append(names, dir+"/"+e.Name())
		}
		h.add(faultClients, call, nsInput{Kind: "list", Dir: dir}, nsOutput{Names: names})
		if len(names) == 0 {
			continue
		}
		name := names[rng.IntN(len(names))]
		call = time.Now()
		data, err := c.ReadFile(name)
		switch {
		case errors.Is(err, os.ErrNotExist):
			h.add(faultClients, call, nsInput{Kind: "read", Dir: dir, Name: name}, nsOutput{})
		case err == nil:
			h.add(faultClients, call, nsInput{Kind: "read", Dir: dir, Name: name}, nsOutput{Exists: true, Ver: version(data)})
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// faultClient creates, writes and fsyncs, reads back and renames files
// in its own directory, keeping a model of what it was acknowledged.
type faultClient struct {
	id    int
	dir   string
	c     *shoal.Client
	hist  *history
	rng   *rand.Rand
	next  int
	files map[string][]byte // only the client's goroutine, then the test once it stopped

	ops    atomic.Int64
	failed atomic.Int64
	fatal  atomic.Pointer[error]

	mu   sync.Mutex
	oks  []okOp // successful operations, for the resume time
	logs []string
}

type okOp struct{ call, ret time.Time }

func (cl *faultClient) okSince(t time.Time) (time.Time, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var first time.Time
	for _, o := range cl.oks {
		if !o.call.Before(t) && (first.IsZero() || o.ret.Before(first)) {
			first = o.ret
		}
	}
	return first, !first.IsZero()
}

func (cl *faultClient) logf(format string, args ...any) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.logs = append(cl.logs, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	if len(cl.logs) > 20 {
		cl.logs = cl.logs[1:]
	}
}

func (cl *faultClient) report() []string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return slices.Clone(cl.logs)
}

func (cl *faultClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := cl.step(); err != nil {
			cl.fatal.Store(&err)
			return
		}
	}
}

func (cl *faultClient) data(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := cl.rng.Uint64()
		for k := 0; k < 8 && i+k < n; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

// done records a finished operation: in the history and, when it
// succeeded at once, as progress.
func (cl *faultClient) done(call time.Time, in nsInput, out nsOutput, ok bool) {
	in.Dir = cl.dir
	cl.hist.add(cl.id, call, in, out)
	if ok {
		cl.ops.Add(1)
		cl.mu.Lock()
		cl.oks = append(cl.oks, okOp{call, time.Now()})
		cl.mu.Unlock()
	}
}

// step performs one operation. A failure of kind IO (the cluster is
// away) is resolved by reading the files back; any other error is
// returned and fails the test.
func (cl *faultClient) step() error {
	names := slices.Sorted(maps.Keys(cl.files))
	op := "new"
	if len(names) > 0 {
		switch r := cl.rng.IntN(100); {
		case r < 15 && len(names) < faultMaxFiles:
			op = "new"
		case r < 45:
			op = "append"
		case r < 65:
			op = "overwrite"
		case r < 80:
			op = "rename"
		default:
			op = "read"
		}
	}
	var name string
	if op != "new" {
		name = names[cl.rng.IntN(len(names))]
	}
	old := cl.files[name]
	if op == "append" && len(old)+faultMaxWrite > faultMaxSize {
		op = "overwrite"
	}
	call := time.Now()
	switch op {
	case "new":
		name = fmt.Sprintf("%s/f%04d", cl.dir, cl.next)
		cl.next++
		f, err := cl.c.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			if err := cl.acceptable("create "+name, err, call); err != nil {
				return err
			}
			return cl.resolve(call, nsInput{Kind: "create", Name: name}, []map[string][]byte{{name: nil}, {name: {}}})
		}
		cl.files[name] = []byte{}
		cl.done(call, nsInput{Kind: "create", Name: name}, nsOutput{Applied: true}, true)
		data := cl.data(1 + cl.rng.IntN(faultMaxWrite))
		call = time.Now()
		return cl.finishWrite(call, name, f, []byte{}, data, func() error { _, err := f.Write(data); return err })
	case "append", "overwrite":
		chunk := cl.data(1 + cl.rng.IntN(faultMaxWrite))
		flag, off := os.O_WRONLY|os.O_APPEND, -1
		data := slices.Concat(old, chunk)
		if op == "overwrite" {
			flag, off = os.O_RDWR, cl.rng.IntN(len(old)+1)
			if off+len(chunk) > faultMaxSize {
				chunk = chunk[:faultMaxSize-off]
			}
			data = slices.Clone(old)
			if end := off + len(chunk); end > len(data) {
				data = append(data, make([]byte, end-len(data))...)
			}
			copy(data[off:], chunk)
		}
		f, err := cl.c.OpenFile(name, flag, 0)
		if err != nil {
			if err := cl.acceptable(op+" "+name, err, call); err != nil {
				return err
			}
			// Nothing was written: the file must be as it was.
			return cl.resolve(call, nsInput{Kind: "write", Name: name, Ver: version(data)}, []map[string][]byte{{name: old}})
		}
		return cl.finishWrite(call, name, f, old, data, func() error {
			var err error
			if off < 0 {
				_, err = f.Write(chunk)
			} else {
				_, err = f.WriteAt(chunk, int64(off))
			}
			return err
		})
	case "rename":
		to := fmt.Sprintf("%s/f%04d", cl.dir, cl.next)
		cl.next++
		in := nsInput{Kind: "rename", Name: name, To: to}
		if err := cl.c.Rename(name, to, shoal.RenameNoReplace); err != nil {
			if err := cl.acceptable("rename "+name, err, call); err != nil {
				return err
			}
			return cl.resolve(call, in, []map[string][]byte{{name: old, to: nil}, {name: nil, to: old}})
		}
		delete(cl.files, name)
		cl.files[to] = old
		cl.done(call, in, nsOutput{Applied: true}, true)
	case "read":
		data, err := cl.c.ReadFile(name)
		if err != nil {
			return cl.acceptable("read "+name, err, call)
		}
		if !bytes.Equal(data, old) {
			return fmt.Errorf("read back %s: %s, acknowledged %s", name, describeData(data), describeData(old))
		}
		cl.done(call, nsInput{Kind: "read", Name: name}, nsOutput{Exists: true, Ver: version(data)}, true)
	}
	return nil
}

// finishWrite writes to f with write, syncs and closes it. A failure
// after the sync is acknowledged; one before is resolved.
func (cl *faultClient) finishWrite(call time.Time, name string, f *shoal.File, old, data []byte, write func() error) error {
	in := nsInput{Kind: "write", Name: name, Ver: version(data)}
	err := write()
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		if err := cl.acceptable("write "+name, err, call); err != nil {
			return err
		}
		return cl.resolve(call, in, []map[string][]byte{{name: old}, {name: data}})
	}
	if err := f.Close(); err != nil {
		cl.logf("write %s: synced, then close: %v", name, err)
	}
	cl.files[name] = data
	cl.done(call, in, nsOutput{Applied: true}, true)
	return nil
}

// acceptable returns nil for a failure the cluster's faults may cause
// (kind IO), an error for any other.
func (cl *faultClient) acceptable(what string, err error, call time.Time) error {
	if k := fserr.KindOf(err); k != fserr.IO {
		return fmt.Errorf("%s: %v (kind %v, after %v): only a transport failure (kind IO) is acceptable\nrecent:\n%s",
			what, err, k, time.Since(call), strings.Join(cl.report(), "\n"))
	}
	cl.failed.Add(1)
	cl.logf("%s: failed after %v: %v", what, time.Since(call), err)
	return nil
}

// resolve reads back the files a failed operation touched, retrying
// while the cluster is away, and adopts what it finds if it is one of
// alts: the first is the old state, the second (if any) the new one.
// The operation enters the history as applied or not, returning when
// the read-back did.
func (cl *faultClient) resolve(call time.Time, in nsInput, alts []map[string][]byte) error {
	deadline := time.Now().Add(faultHung)
	for {
		found := map[string][]byte{}
		var err error
		for name := range alts[0] {
			var data []byte
			data, err = cl.c.ReadFile(name)
			if errors.Is(err, os.ErrNotExist) {
				data, err = nil, nil
			} else if err == nil && data == nil {
				data = []byte{}
			}
			if err != nil {
				break
			}
			found[name] = data
		}
		if err != nil {
			if fserr.KindOf(err) != fserr.IO || time.Now().After(deadline) {
				return fmt.Errorf("%s %s: reading back after a failure: %v", in.Kind, in.Name, err)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for i, alt := range alts {
			match := true
			for name, want := range alt {
				if got := found[name]; !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					match = false
				}
			}
			if match {
				for n, d := range alt {
					if d == nil {
						delete(cl.files, n)
					} else {
						cl.files[n] = d
					}
				}
				cl.done(call, in, nsOutput{Applied: i == 1}, false)
				cl.logf("%s %s resolved (applied %v)", in.Kind, in.Name, i == 1)
				return nil
			}
		}
		var parts []string
		for name, d := range found {
			parts = append(parts, name+"="+describeData(d))
		}
		return fmt.Errorf("%s %s failed and left %s, which is neither the old nor the new state", in.Kind, in.Name, strings.Join(parts, ", "))
	}
}

// explainIllegal logs the directories whose history is not
// linearizable, with their operations in call order, and writes
// porcupine's visualization to $SHOAL_FAULT_VIZ when set.
func explainIllegal(t *testing.T, ops []porcupine.Operation) {
	t.Helper()
	for _, part := range nsModel.Partition(ops) {
		if porcupine.CheckOperations(nsModel, part) {
			continue
		}
		slices.SortFunc(part, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
		// The shortest prefix (in call order) that is already illegal
		// ends near the operation that breaks it.
		lo, hi := 1, len(part)
		for lo < hi {
			if mid := (lo + hi) / 2; porcupine.CheckOperations(nsModel, part[:mid]) {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		var b strings.Builder
		for _, op := range part[max(0, lo-30):lo] {
			fmt.Fprintf(&b, "%8.3f..%8.3f c%d %+v -> %+v\n", float64(op.Call)/1e9, float64(op.Return)/1e9, op.ClientId, op.Input, op.Output)
		}
		t.Errorf("directory %s: not linearizable (%d operations); the shortest illegal prefix is %d long, ending:\n%s", part[0].Input.(nsInput).Dir, len(part), lo, b.String())
	}
	if f := os.Getenv("SHOAL_FAULT_VIZ"); f != "" {
		_, info := porcupine.CheckOperationsVerbose(nsModel, ops, time.Minute)
		if err := porcupine.VisualizePath(nsModel, info, f); err != nil {
			t.Logf("visualize: %v", err)
		}
	}
}
