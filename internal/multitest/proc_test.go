package multitest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/server"
)

// The test binary re-executes itself in a role chosen by envRole; the
// other variables configure that role.
const (
	envRole         = "SHOAL_MT_ROLE" // "server" or "agent"
	envData         = "SHOAL_MT_DATA"
	envListen       = "SHOAL_MT_LISTEN"
	envWorkerListen = "SHOAL_MT_WORKER_LISTEN"
	envSessionTTL   = "SHOAL_MT_SESSION_TTL"
	envGCInterval   = "SHOAL_MT_GC_INTERVAL"
	envAddr         = "SHOAL_MT_ADDR"
	envTokens       = "SHOAL_MT_TOKENS" // a tokens file: the server authenticates
)

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "":
		os.Exit(m.Run())
	case "server":
		os.Exit(serverMain())
	case "agent":
		os.Exit(agentMain())
	case "cluster":
		os.Exit(clusterMain())
	default:
		fmt.Fprintf(os.Stderr, "multitest: unknown role %q\n", os.Getenv(envRole))
		os.Exit(2)
	}
}

// serverMain is the server role: internal/server on the data directory
// and addresses given, until SIGTERM (graceful) or SIGKILL. It prints
// "ready API-ADDR WORKER-ADDR" on stdout once it listens.
func serverMain() int {
	cfg := server.Config{
		DataDir:         os.Getenv(envData),
		Listen:          os.Getenv(envListen),
		WorkerListen:    os.Getenv(envWorkerListen),
		ShutdownTimeout: 2 * time.Second,
	}
	if v := os.Getenv(envSessionTTL); v != "" {
		cfg.SessionTTL, _ = time.ParseDuration(v)
	}
	if v := os.Getenv(envGCInterval); v != "" {
		cfg.GCInterval, _ = time.ParseDuration(v)
	}
	if v := os.Getenv(envTokens); v != "" {
		toks, err := server.LoadTokens(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "multitest server: %v\n", err)
			return 1
		}
		cfg.Tokens = toks
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// A restart on the same port may race the kernel releasing it.
	var srv *server.Server
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if srv, err = server.New(cfg); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "multitest server: %v\n", err)
		return 1
	}
	fmt.Printf("ready %s %s\n", srv.Addr(), srv.WorkerAddr())
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "multitest server: run: %v\n", err)
		return 1
	}
	return 0
}

// lockedBuffer collects a child's stderr for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// child starts the test binary in role with env and returns the command
// with its stdout; stderr goes to the returned buffer.
func child(t testing.TB, role string, env ...string) (*exec.Cmd, io.WriteCloser, io.Reader, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{envRole + "=" + role}, env...)...)
	// A child must not outlive a parent that dies or times out.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdin, stdout, stderr
}

// serverProc is a `shoal server` child process. Restarts reuse the data
// directory and the ports of the first start.
type serverProc struct {
	t              testing.TB
	dir            string
	ttl, gc        time.Duration
	addr, worker   string
	cmd            *exec.Cmd
	stderr         *lockedBuffer
	exited         chan error
	restarts       int
	lastStartDelay time.Duration
	tokens         string // tokens file, "" for none
}

// startServer starts a server on dir, on loopback ports picked by the
// kernel, and stops it when the test ends.
func startServer(t testing.TB, dir string, ttl, gc time.Duration) *serverProc {
	t.Helper()
	s := &serverProc{t: t, dir: dir, ttl: ttl, gc: gc, addr: "127.0.0.1:0", worker: "127.0.0.1:0"}
	s.start()
	t.Cleanup(func() {
		if s.cmd != nil {
			s.stop()
		}
	})
	return s
}

func (s *serverProc) start() {
	s.t.Helper()
	begin := time.Now()
	env := []string{envData + "=" + s.dir, envListen + "=" + s.addr, envWorkerListen + "=" + s.worker}
	if s.ttl > 0 {
		env = append(env, envSessionTTL+"="+s.ttl.String())
	}
	if s.gc != 0 {
		env = append(env, envGCInterval+"="+s.gc.String())
	}
	if s.tokens != "" {
		env = append(env, envTokens+"="+s.tokens)
	}
	cmd, stdin, stdout, stderr := child(s.t, "server", env...)
	stdin.Close()
	s.cmd, s.stderr = cmd, stderr
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "ready" {
				ready <- f[1:]
			}
		}
	}()
	s.exited = make(chan error, 1)
	go func() { s.exited <- cmd.Wait() }()
	select {
	case a := <-ready:
		s.addr, s.worker = a[0], a[1]
	case err := <-s.exited:
		s.cmd = nil
		s.t.Fatalf("server exited before it was ready: %v\n%s", err, stderr)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		s.t.Fatalf("server not ready after 60s\n%s", stderr)
	}
	s.lastStartDelay = time.Since(begin)
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *serverProc) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	<-s.exited
	s.cmd = nil
}

// restart starts the server again on the same directory and ports.
func (s *serverProc) restart() {
	s.t.Helper()
	s.restarts++
	s.start()
}

// stop ends the server gracefully (SIGTERM) and reports a failed exit.
func (s *serverProc) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		if err != nil {
			s.t.Errorf("server exit: %v\n%s", err, s.stderr)
		}
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("server did not stop within 30s of SIGTERM\n%s", s.stderr)
	}
	s.cmd = nil
}

// dial returns an in-process client of the server, closed at the end of
// the test.
func (s *serverProc) dial(t testing.TB, opts ...shoal.Option) *shoal.Client {
	t.Helper()
	c, err := shoal.Dial(context.Background(), s.addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v\n%s", s.addr, err, s.stderr)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// request is one command to an agent; which fields count depends on Op.
type request struct {
	Op     string   `json:"op"`
	Name   string   `json:"name,omitempty"`
	Dir    string   `json:"dir,omitempty"`
	Dirs   []string `json:"dirs,omitempty"`
	Prefix string   `json:"prefix,omitempty"`
	N      int      `json:"n,omitempty"`
	Size   int64    `json:"size,omitempty"`
	Seed   uint64   `json:"seed,omitempty"`
}

type reply struct {
	Err     string  `json:"err,omitempty"`
	Sum     string  `json:"sum,omitempty"`
	Size    int64   `json:"size,omitempty"`
	N       int     `json:"n,omitempty"`
	Lost    int     `json:"lost,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
}

// agentProc is a client child process with its own shoal.Dial client.
type agentProc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr *lockedBuffer
	exited chan error
}

func startAgent(t testing.TB, addr, name string) *agentProc {
	t.Helper()
	cmd, stdin, stdout, stderr := child(t, "agent", envAddr+"="+addr)
	a := &agentProc{t: t, name: name, cmd: cmd, in: stdin, stderr: stderr, exited: make(chan error, 1)}
	a.out = bufio.NewScanner(stdout)
	a.out.Buffer(make([]byte, 64<<10), 1<<20)
	go func() { a.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if a.cmd == nil {
			return
		}
		a.in.Close() // EOF ends the agent
		select {
		case <-a.exited:
		case <-time.After(20 * time.Second):
			a.cmd.Process.Kill()
			<-a.exited
			t.Errorf("agent %s did not exit after stdin closed\n%s", a.name, a.stderr)
		}
	})
	return a
}

// call sends r and waits for the reply; a reply carrying an error fails.
func (a *agentProc) call(r request) (reply, error) {
	b, _ := json.Marshal(r)
	if _, err := a.in.Write(append(b, '\n')); err != nil {
		return reply{}, fmt.Errorf("agent %s: send %s: %w\n%s", a.name, r.Op, err, a.stderr)
	}
	if !a.out.Scan() {
		return reply{}, fmt.Errorf("agent %s: no reply to %s (exited?)\n%s", a.name, r.Op, a.stderr)
	}
	var rep reply
	if err := json.Unmarshal(a.out.Bytes(), &rep); err != nil {
		return reply{}, fmt.Errorf("agent %s: bad reply %q: %w", a.name, a.out.Text(), err)
	}
	if rep.Err != "" {
		return rep, fmt.Errorf("agent %s: %s: %s", a.name, r.Op, rep.Err)
	}
	return rep, nil
}

func (a *agentProc) mustCall(r request) reply {
	a.t.Helper()
	rep, err := a.call(r)
	if err != nil {
		a.t.Fatal(err)
	}
	return rep
}

// kill sends SIGKILL and waits for the process to be gone.
func (a *agentProc) kill() {
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.exited
	a.cmd = nil
}

// agentMain is the agent role: a shoal.Dial client running the commands
// read from stdin, one JSON line each, answering each with one JSON line
// on stdout, until stdin ends.
func agentMain() int {
	ctx := context.Background()
	c, err := shoal.Dial(ctx, os.Getenv(envAddr))
	if err != nil {
		fmt.Fprintf(os.Stderr, "multitest agent: %v\n", err)
		return 1
	}
	defer c.Close()
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var r request
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			fmt.Fprintf(os.Stderr, "multitest agent: bad request %q: %v\n", in.Text(), err)
			return 1
		}
		rep, err := runRequest(c, r, out)
		if err != nil {
			rep.Err = err.Error()
		}
		if err := out.Encode(rep); err != nil {
			return 1
		}
	}
	if err := c.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "multitest agent: close: %v\n", err)
		return 1
	}
	return 0
}

func runRequest(c *shoal.Client, r request, out *json.Encoder) (reply, error) {
	switch r.Op {
	case "ping":
		_, err := c.Stat(".")
		return reply{}, err
	case "write":
		sum, err := writeFile(c, r.Name, r.Size, r.Seed)
		return reply{Sum: sum, Size: r.Size}, err
	case "read":
		sum, n, err := readFile(c, r.Name)
		return reply{Sum: sum, Size: n}, err
	case "create":
		start := time.Now()
		for i := 0; i < r.N; i++ {
			f, err := c.OpenFile(fmt.Sprintf("%s/%s-%06d", r.Dir, r.Prefix, i), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return reply{N: i}, err
			}
			if err := f.Close(); err != nil {
				return reply{N: i}, err
			}
		}
		return reply{N: r.N, Seconds: time.Since(start).Seconds()}, nil
	case "rename":
		return renameLoop(c, r)
	case "hold":
		return reply{}, holdAndWrite(c, r, out)
	}
	return reply{}, fmt.Errorf("unknown op %q", r.Op)
}

// fill writes n bytes derived from seed to w, 1 MiB per call.
func fill(w io.Writer, n int64, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	buf := make([]byte, 1<<20)
	for n > 0 {
		m := min(n, int64(len(buf)))
		for i := int64(0); i < m; i += 8 {
			v := rng.Uint64()
			for k := int64(0); k < 8 && i+k < m; k++ {
				buf[i+k] = byte(v >> (8 * k))
			}
		}
		if _, err := w.Write(buf[:m]); err != nil {
			return err
		}
		n -= m
	}
	return nil
}

// expectedSum is the sha256 fill(n, seed) produces.
func expectedSum(n int64, seed uint64) string {
	h := sha256.New()
	fill(h, n, seed)
	return hex.EncodeToString(h.Sum(nil))
}

// writeFile creates or truncates name, writes size bytes from seed and
// closes it, returning the sha256 of what it wrote.
func writeFile(c *shoal.Client, name string, size int64, seed uint64) (string, error) {
	f, err := c.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if err := fill(io.MultiWriter(f, h), size, seed); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readFile opens name and hashes every byte of it.
func readFile(c *shoal.Client, name string) (string, int64, error) {
	f, err := c.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Names in the rename test: markers ("m...") hold "marker ID" and must
// never be lost; decoys ("x...") may be replaced.
func isMarker(name string) bool { return strings.HasPrefix(name, "m") }

// renameLoop makes r.N rename attempts between r.Dirs, racing the other
// clients for the same sources: a marker moves to a fresh name with
// RenameNoReplace or swaps with another marker (RenameExchange); a decoy
// replaces another decoy or moves to a fresh name. Losing a race (the
// source or the partner moved first: ENOENT) is counted, not an error.
func renameLoop(c *shoal.Client, r request) (reply, error) {
	rng := rand.New(rand.NewPCG(r.Seed, 7))
	var rep reply
	pick := func(dir string, marker bool, not string) (string, error) {
		ents, err := c.ReadDir(dir)
		if err != nil {
			return "", err
		}
		for _, i := range rng.Perm(len(ents)) {
			if n := ents[i].Name(); isMarker(n) == marker && dir+"/"+n != not {
				return dir + "/" + n, nil
			}
		}
		return "", nil
	}
	for k := 0; k < r.N; k++ {
		src, err := pick(r.Dirs[rng.IntN(len(r.Dirs))], rng.IntN(3) > 0, "")
		if err != nil {
			return rep, err
		}
		if src == "" {
			continue
		}
		dst := r.Dirs[rng.IntN(len(r.Dirs))]
		marker := isMarker(src[strings.LastIndexByte(src, '/')+1:])
		to, flag := "", shoal.RenameNoReplace
		if rng.IntN(3) == 0 {
			// Onto a file of the same class: swap markers, replace decoys.
			if to, err = pick(dst, marker, src); err != nil {
				return rep, err
			}
			flag = 0
			if marker {
				flag = shoal.RenameExchange
			}
		}
		if to == "" {
			prefix := "x"
			if marker {
				prefix = "m"
			}
			to, flag = fmt.Sprintf("%s/%s.%d.%d", dst, prefix, r.Seed, k), shoal.RenameNoReplace
		}
		var flags []shoal.RenameFlag
		if flag != 0 {
			flags = append(flags, flag)
		}
		switch err := c.Rename(src, to, flags...); {
		case err == nil:
			rep.N++
		case errors.Is(err, os.ErrNotExist):
			rep.Lost++
		default:
			return rep, err
		}
	}
	return rep, nil
}

// holdAndWrite is the victim of the client-kill test: it leaves a synced
// file unlinked while open, starts a second file, answers, and then
// writes to both without syncing until it is killed.
func holdAndWrite(c *shoal.Client, r request, out *json.Encoder) error {
	u, err := c.OpenFile(r.Dir+"/unlinked", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := fill(u, r.Size, r.Seed); err != nil {
		return err
	}
	if err := u.Sync(); err != nil {
		return err
	}
	if err := c.Remove(r.Dir + "/unlinked"); err != nil {
		return err
	}
	w, err := c.OpenFile(r.Dir+"/inflight", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := fill(w, 1<<20, r.Seed+1); err != nil {
		return err
	}
	if err := w.Sync(); err != nil {
		return err
	}
	if err := out.Encode(reply{}); err != nil {
		return err
	}
	for i := uint64(0); ; i++ {
		f := w
		if i%2 == 1 {
			f = u
		}
		if err := fill(f, 1<<20, r.Seed+i); err != nil {
			return err
		}
	}
}
