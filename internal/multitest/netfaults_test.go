package multitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
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
	"github.com/shoalfs/shoal/internal/testserver/pg"
)

// faultProxy is a TCP proxy between clients and one upstream address
// that the test can make slow (every chunk it forwards waits a random
// time in [minDelay, maxDelay]) and whose connections it can cut (both
// sides closed at once, wherever the transfer is).
type faultProxy struct {
	ln       net.Listener
	upstream atomic.Pointer[string]
	minDelay atomic.Int64
	maxDelay atomic.Int64
	bytes    atomic.Int64 // forwarded, both directions
	cuts     atomic.Int64 // connections cut
	// cutAt, when > 0, cuts every connection once bytes reaches it
	// (mid-transfer); dropReply cuts them on the next chunk from the
	// upstream, which is not forwarded (the server did the work, its
	// answer is lost).
	cutAt     atomic.Int64
	dropReply atomic.Bool
	replyCuts atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newFaultProxy(t *testing.T) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &faultProxy{ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) addr() string            { return p.ln.Addr().String() }
func (p *faultProxy) setUpstream(addr string) { p.upstream.Store(&addr) }

// setDelay makes every forwarded chunk wait between lo and hi (0, 0:
// none).
func (p *faultProxy) setDelay(lo, hi time.Duration) {
	p.minDelay.Store(int64(lo))
	p.maxDelay.Store(int64(hi))
}

func (p *faultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *faultProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// cut closes every connection through the proxy; new ones are accepted.
func (p *faultProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
		p.cuts.Add(1)
	}
}

func (p *faultProxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up := p.upstream.Load()
		if up == nil {
			down.Close()
			continue
		}
		upc, err := net.DialTimeout("tcp", *up, 5*time.Second)
		if err != nil {
			down.Close()
			continue
		}
		if !p.track(down) || !p.track(upc) {
			down.Close()
			upc.Close()
			continue
		}
		p.wg.Go(func() { p.pipe(upc, down, false) })
		p.wg.Go(func() { p.pipe(down, upc, true) })
	}
}

// armCut cuts every connection once n more bytes went through.
func (p *faultProxy) armCut(n int64) { p.cutAt.Store(p.bytes.Load() + n) }

// pipe copies src to dst chunk by chunk, delaying each, and closes both
// when either side ends. reply says src is the upstream.
func (p *faultProxy) pipe(dst, src net.Conn, reply bool) {
	defer func() {
		src.Close()
		dst.Close()
		p.untrack(src)
		p.untrack(dst)
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if reply && p.dropReply.CompareAndSwap(true, false) {
				p.replyCuts.Add(1)
				p.cut()
				return
			}
			if lo, hi := p.minDelay.Load(), p.maxDelay.Load(); hi > 0 {
				time.Sleep(time.Duration(lo + rand.Int64N(hi-lo+1)))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			if b := p.bytes.Add(int64(n)); b >= p.cutAt.Load() && p.cutAt.Load() > 0 {
				p.cutAt.Store(0)
				p.cut()
			}
		}
		if err != nil {
			// No half-close: gRPC, HTTP and the PostgreSQL protocol
			// do not need it, and a cut closes both ways anyway.
			return
		}
	}
}

// startInproc runs a server in the test process until the test ends.
func startInproc(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 2 * time.Second
	}
	srv, err := server.New(cfg)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Logf("server run: %v", err)
		}
	})
	return srv
}

func dialT(t *testing.T, addr string, opts ...shoal.Option) *shoal.Client {
	t.Helper()
	c, err := shoal.Dial(context.Background(), addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestProxyFaults (issue 10, item 4): clients reach the meta API and the
// worker's block port only through proxies of the test, which cut every
// connection (mid-write and mid-read: the clients never pause) and delay
// every chunk by 200 ms to 2 s for stretches. The clients are
// TestClusterFaults's (faultClient: create with O_EXCL, write and fsync,
// read back, RenameNoReplace), so a mutation the server applied but whose
// reply was cut, retried and applied again (no request-id dedup) shows up
// as EEXIST or ENOENT, which fails. Afterwards every acknowledged byte,
// create and rename is there once, fsck is clean, every client resumed
// after the last fault, and the history is linearizable.
func TestProxyFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test of several seconds")
	}
	rng := newRand(t)
	metaP, blockP := newFaultProxy(t), newFaultProxy(t)
	srv := startInproc(t, server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", WorkerListen: "127.0.0.1:0",
		WorkerAdvertise: "http://" + blockP.addr(), GCInterval: -1})
	metaP.setUpstream(srv.Addr())
	blockP.setUpstream(srv.WorkerAddr())

	hist := &history{base: time.Now()}
	const nclients = 3
	clients := make([]*faultClient, nclients)
	for i := range clients {
		cl := &faultClient{id: i, dir: "c" + strconv.Itoa(i), c: dialT(t, metaP.addr()), hist: hist,
			rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(i))), files: map[string][]byte{}}
		must(t, cl.c.Mkdir(cl.dir, 0o755))
		clients[i] = cl
	}
	verifier := dialT(t, srv.Addr()) // direct: the proxies' faults are not its
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() { cl.run(runCtx) })
	}
	stopLoad := func() { cancel(); wg.Wait() }
	defer stopLoad()
	checkFatal := func(when string) {
		for _, cl := range clients {
			if err := cl.fatal.Load(); err != nil {
				t.Fatalf("%s: client %d: %v\nrecent:\n%s", when, cl.id, *err, strings.Join(cl.report(), "\n"))
			}
		}
	}

	rounds := 12
	if quick() {
		rounds = 8
	}
	var log []string
	for round := range rounds {
		time.Sleep(time.Duration(200+rng.IntN(400)) * time.Millisecond)
		checkFatal(fmt.Sprintf("before fault %d", round+1))
		switch f := rng.IntN(4); f {
		case 0, 1, 2:
			which := []string{"meta", "block", "both"}[f]
			if f != 1 {
				metaP.cut()
			}
			if f != 0 {
				blockP.cut()
			}
			log = append(log, "cut "+which)
		case 3:
			lo := 200 * time.Millisecond
			hi := time.Duration(300+rng.IntN(1700)) * time.Millisecond
			metaP.setDelay(lo, hi)
			blockP.setDelay(lo, hi)
			time.Sleep(time.Duration(1000+rng.IntN(1000)) * time.Millisecond)
			if rng.IntN(2) == 0 { // and a cut while slow
				metaP.cut()
				blockP.cut()
			}
			metaP.setDelay(0, 0)
			blockP.setDelay(0, 0)
			log = append(log, fmt.Sprintf("delay %v-%v", lo, hi))
		}
	}
	last := time.Now()
	var resumed time.Duration
	for _, cl := range clients {
		for {
			if at, ok := cl.okSince(last); ok {
				resumed = max(resumed, at.Sub(last))
				break
			}
			checkFatal("after the last fault")
			if time.Since(last) > faultHung {
				t.Fatalf("client %d hung: nothing completed %v after the last fault\nrecent:\n%s", cl.id, faultHung, strings.Join(cl.report(), "\n"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	stopLoad()
	checkFatal("at the end")

	var acked, failed int64
	for _, cl := range clients {
		verifyFaultClient(t, verifier, cl)
		acked += cl.ops.Load()
		failed += cl.failed.Load()
	}
	t.Logf("faults: %s; %d connections cut (meta %d, block %d); forwarded meta %d B, block %d B",
		strings.Join(log, ", "), metaP.cuts.Load()+blockP.cuts.Load(), metaP.cuts.Load(), blockP.cuts.Load(), metaP.bytes.Load(), blockP.bytes.Load())
	t.Logf("%d operations acknowledged, %d failed cleanly (kind IO) and were resolved; all clients resumed %v after the last fault",
		acked, failed, resumed.Round(time.Millisecond))
	if blockP.bytes.Load() == 0 {
		t.Errorf("no block traffic went through the block proxy: the test did not exercise the block port")
	}
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
}

// TestWorkerDiskFull (issue 10, item 4): the worker's file store is on
// an 8 MiB tmpfs. Writing 1 MiB files with fsync until it is full: the
// write that does not fit fails with ENOSPC (kind NoSpace, saying so),
// within a bound, every acknowledged file reads back intact, and once
// files are removed and GC freed their blocks, writes work again; fsck
// is clean.
func TestWorkerDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	dir := t.TempDir() + "/store"
	must(t, os.Mkdir(dir, 0o755))
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a small tmpfs for the worker's store (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	srv := startInproc(t, server.Config{DataDir: t.TempDir(), StoreURL: "file://" + dir, Listen: "127.0.0.1:0",
		WorkerListen: "127.0.0.1:0", GCInterval: -1})
	c := dialT(t, srv.Addr())
	rng := newRand(t)
	data := func() []byte {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	write := func(name string, b []byte) error {
		f, err := c.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	acked := map[string][]byte{}
	var full error
	for i := 0; i < 32 && full == nil; i++ {
		name, b := fmt.Sprintf("f%02d", i), data()
		start := time.Now()
		if err := write(name, b); err != nil {
			full = err
			t.Logf("write %d (%s) failed after %v: %v", i+1, name, time.Since(start).Round(time.Millisecond), err)
			break
		}
		acked[name] = b
	}
	if full == nil {
		t.Fatalf("32 MiB written to an 8 MiB store without an error")
	}
	if k := fserr.KindOf(full); k != fserr.NoSpace || !errors.Is(full, syscall.ENOSPC) {
		t.Errorf("the write that did not fit failed with %v (kind %v, errno %v), want kind NoSpace (ENOSPC)", full, k, fserr.Errno(full))
	}
	if !strings.Contains(full.Error(), "no space") {
		t.Errorf("the error %q does not say the store is out of space", full)
	}
	check := func(when string) {
		for name, want := range acked {
			got, err := c.ReadFile(name)
			if err != nil {
				t.Errorf("%s: read %s: %v", when, name, err)
			} else if !bytes.Equal(got, want) {
				t.Errorf("%s: %s: read %s, acknowledged %s", when, name, describeData(got), describeData(want))
			}
		}
	}
	check("store full")
	t.Logf("%d files of 1 MiB acknowledged before the store was full", len(acked))

	names := slices.Sorted(maps.Keys(acked))
	for _, name := range names[:len(names)/2+1] {
		must(t, c.Remove(name))
		delete(acked, name)
	}
	must(t, c.GC())
	for i := range 2 {
		name, b := fmt.Sprintf("g%02d", i), data()
		if err := write(name, b); err != nil {
			t.Fatalf("write %s after freeing space: %v", name, err)
		}
		acked[name] = b
	}
	check("space freed")
	must(t, c.GC())
	checkClean(t, c, true)
}

// TestSlowEngine (issue 10, item 4): the server's PostgreSQL engine is
// behind a proxy that makes every chunk wait 2 s, far beyond the
// client's per-call deadline (500 ms, c.WithContext). Calls then fail
// with context.DeadlineExceeded within a bound (no hang) and never
// answer wrongly; once the delay is gone the same client works again,
// every file written before is intact, a mutation that timed out is
// either applied or not (never half), and fsck is clean.
func TestSlowEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pgs := pg.Start(t)
	proxy := newFaultProxy(t)
	proxy.setUpstream(pgs.Addr)
	url := strings.Replace(pgs.URL(""), pgs.Addr, proxy.addr(), 1)
	srv := startInproc(t, server.Config{DataDir: t.TempDir(), MetaURL: url, Listen: "127.0.0.1:0", WorkerListen: "127.0.0.1:0", GCInterval: -1})
	c := dialT(t, srv.Addr())
	files := map[string][]byte{}
	for i := range 4 {
		name := fmt.Sprintf("f%d", i)
		b := bytes.Repeat([]byte{byte('a' + i)}, 100<<10*(i+1))
		must(t, c.WriteFile(name, b, 0o644))
		files[name] = b
	}

	const deadline = 500 * time.Millisecond
	const hang = 15 * time.Second // far past the deadline: not a performance bound
	proxy.setDelay(2*time.Second, 2*time.Second)
	var timeouts int
	for i := range 6 {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		cc := c.WithContext(ctx)
		start := time.Now()
		var err error
		var what string
		switch i % 3 {
		case 0:
			what = "stat f1"
			var fi os.FileInfo
			if fi, err = cc.Stat("f1"); err == nil && fi.Size() != int64(len(files["f1"])) {
				t.Errorf("stat f1 while the engine is slow: size %d, want %d", fi.Size(), len(files["f1"]))
			}
		case 1:
			what = fmt.Sprintf("mkdir d%d", i)
			err = cc.Mkdir(fmt.Sprintf("d%d", i), 0o755)
		case 2:
			what = "readdir ."
			_, err = cc.ReadDir(".")
		}
		cancel()
		took := time.Since(start)
		switch {
		case err == nil:
			// Served without the engine (a cache) or in time: fine.
		case errors.Is(err, context.DeadlineExceeded):
			timeouts++
		default:
			t.Errorf("%s with the engine slow: %v (kind %v), want context.DeadlineExceeded", what, err, fserr.KindOf(err))
		}
		if took > hang {
			t.Errorf("%s with the engine slow took %v: the client's %v deadline did not bound it", what, took, deadline)
		}
		t.Logf("%s with the engine slow: %v after %v", what, err, took.Round(time.Millisecond))
	}
	if timeouts == 0 {
		t.Errorf("no call timed out although every engine round trip took 2 s")
	}

	proxy.setDelay(0, 0)
	recovered := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.WithContext(ctx).ReadDir(".")
		cancel()
		if err == nil {
			break
		}
		if time.Since(recovered) > 60*time.Second {
			t.Fatalf("the client did not recover within 60 s of the engine speeding up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("first call answered %v after the delay was removed", time.Since(recovered).Round(time.Millisecond))
	for name, want := range files {
		got, err := c.ReadFile(name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("after the slow engine: %s: %v, %s, want %s", name, err, describeData(got), describeData(want))
		}
	}
	for i := 1; i < 6; i += 3 {
		// A timed-out mkdir is applied or not; either way it can be done now.
		name := fmt.Sprintf("d%d", i)
		if err := c.Mkdir(name, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			t.Errorf("mkdir %s after the slow engine: %v", name, err)
		}
		if fi, err := c.Stat(name); err != nil || !fi.IsDir() {
			t.Errorf("stat %s: %v", name, err)
		}
	}
	must(t, c.WriteFile("after", []byte("written after the engine sped up"), 0o644))
	must(t, c.GC())
	checkClean(t, c, true)
}

// TestProxyCutAt (issue 10, item 4): cuts placed where they hurt most.
// A 4 MiB write and its fsync through the block proxy cut after 1 MiB,
// a read cut after 1 MiB, and creates (O_EXCL), renames
// (RenameNoReplace) and commits whose reply from the meta server is
// dropped after the server applied them. Each call either succeeds or
// fails with kind IO; the retried mutations are applied once (the
// request id): a create is not answered EEXIST, a rename not ENOENT;
// every acknowledged byte reads back and fsck is clean.
func TestProxyCutAt(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test")
	}
	rng := newRand(t)
	metaP, blockP := newFaultProxy(t), newFaultProxy(t)
	srv := startInproc(t, server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", WorkerListen: "127.0.0.1:0",
		WorkerAdvertise: "http://" + blockP.addr(), GCInterval: -1})
	metaP.setUpstream(srv.Addr())
	blockP.setUpstream(srv.WorkerAddr())
	c := dialT(t, metaP.addr())
	verifier := dialT(t, srv.Addr())

	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	f, err := c.OpenFile("big", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	must(t, err)
	blockP.armCut(1 << 20)
	if _, err := f.Write(big); err != nil {
		t.Fatalf("write cut mid-transfer: %v (kind %v)", err, fserr.KindOf(err))
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync cut mid-transfer: %v (kind %v)", err, fserr.KindOf(err))
	}
	must(t, f.Close())
	if blockP.cuts.Load() == 0 {
		t.Errorf("the block proxy cut nothing during a 4 MiB write")
	}
	cuts := blockP.cuts.Load()
	// A fresh client: nothing of big in its cache.
	r := dialT(t, metaP.addr())
	blockP.armCut(1 << 20)
	got, err := r.ReadFile("big")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read cut mid-transfer: %v, %s, want %s", err, describeData(got), describeData(big))
	}
	if blockP.cuts.Load() == cuts {
		t.Errorf("the block proxy cut nothing during a 4 MiB read")
	}

	// Replies lost after the server applied the mutation.
	for i := range 8 {
		name := fmt.Sprintf("n%d", i)
		metaP.dropReply.Store(true)
		f, err := c.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			t.Fatalf("create %s, its reply cut: %v (kind %v): a retried create must be answered as the first was", name, err, fserr.KindOf(err))
		}
		_, err = f.Write([]byte(name))
		must(t, err)
		metaP.dropReply.Store(true)
		if err := f.Close(); err != nil {
			t.Fatalf("close %s, its commit's reply cut: %v (kind %v)", name, err, fserr.KindOf(err))
		}
		metaP.dropReply.Store(true)
		if err := c.Rename(name, name+".r", shoal.RenameNoReplace); err != nil {
			t.Fatalf("rename %s, its reply cut: %v (kind %v): a retried rename must be answered as the first was", name, err, fserr.KindOf(err))
		}
	}
	metaP.dropReply.Store(false)
	t.Logf("%d replies dropped (the first chunk back from the meta server after a call, with its connection); %d block connections cut mid-transfer", metaP.replyCuts.Load(), blockP.cuts.Load())
	if metaP.replyCuts.Load() == 0 {
		t.Errorf("no reply was dropped")
	}
	ents, err := verifier.ReadDir(".")
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"big"}
	for i := range 8 {
		want = append(want, fmt.Sprintf("n%d.r", i))
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("the root holds %v, want %v", names, want)
	}
	for i := range 8 {
		name := fmt.Sprintf("n%d", i)
		if got, err := verifier.ReadFile(name + ".r"); err != nil || string(got) != name {
			t.Errorf("%s.r: %q, %v", name, got, err)
		}
	}
	if got, err := verifier.ReadFile("big"); err != nil || !bytes.Equal(got, big) {
		t.Errorf("big through the verifier: %v, %s", err, describeData(got))
	}
	must(t, verifier.GC())
	checkClean(t, verifier, true)
}
