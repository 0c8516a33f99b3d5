package multitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
)

// envServerCrashRounds sets how many times TestServerCrash kills the
// server (default 3).
const envServerCrashRounds = "SHOAL_SERVER_CRASH_ROUNDS"

const (
	crashClients  = 4
	crashMaxFiles = 6
	crashMaxSize  = 3 << 20
	crashMaxWrite = 1 << 20 // one slice: a write is all or nothing
)

// TestServerCrash kills the server process with SIGKILL at random
// moments while 4 clients (goroutines of this process, each with its own
// shoal.Dial) write and fsync, restarts it on the same data directory
// and port, and checks that:
//   - the same clients carry on without being recreated (each completes
//     operations after the restart);
//   - a call in flight at the kill either succeeds after the client's
//     retry or fails with kind IO, and leaves the file in its old or its
//     new state, nothing else (no EEXIST from a retried create, no
//     ENOENT from a retried rename: request ids deduplicate);
//   - every byte acknowledged by fsync (or a returned rename/unlink) is
//     there, read by another client;
//   - fsck, blocks and CRCs included, is clean.
func TestServerCrash(t *testing.T) { serverCrash(t, false) }

// TestServerCrashTokens is TestServerCrash with tokens: the clients hold
// a non-super token, so every block they move goes under a grant, and
// grants issued before a kill must still be honoured after the restart
// (the grant key is kept in the engine).
func TestServerCrashTokens(t *testing.T) { serverCrash(t, true) }

func serverCrash(t *testing.T, tokens bool) {
	rounds := 3
	if v := os.Getenv(envServerCrashRounds); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", envServerCrashRounds, v)
		}
		rounds = n
	}
	rng := newRand(t)
	// The server's GC loop is off: fsck races a concurrent GC pass (it
	// reports the blocks of slices freed meanwhile as unreadable), so the
	// verifier runs GC itself before fsck, as crashtest does.
	var srv *serverProc
	var verifier *shoal.Client
	var clientOpts []shoal.Option
	if tokens {
		file := filepath.Join(t.TempDir(), "tokens")
		must(t, os.WriteFile(file, []byte("crash-super-1 0 0 super\ncrash-user-1 1000 1000\n"), 0o600))
		srv = &serverProc{t: t, dir: t.TempDir(), gc: -1, addr: "127.0.0.1:0", worker: "127.0.0.1:0", tokens: file}
		srv.start()
		t.Cleanup(func() {
			if srv.cmd != nil {
				srv.stop()
			}
		})
		verifier = srv.dial(t, shoal.WithToken("crash-super-1"))
		must(t, verifier.Chmod(".", 0o777))
		clientOpts = []shoal.Option{shoal.WithToken("crash-user-1")}
	} else {
		srv = startServer(t, t.TempDir(), 0, -1)
		verifier = srv.dial(t)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	clients := make([]*crashClient, crashClients)
	for i := range clients {
		cl := &crashClient{id: i, dir: "c" + strconv.Itoa(i), rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(i))), files: map[string][]byte{}}
		cl.c = srv.dial(t, clientOpts...)
		must(t, cl.c.Mkdir(cl.dir, 0o755))
		clients[i] = cl
	}
	for _, cl := range clients {
		wg.Go(func() { cl.run(ctx) })
	}
	defer func() {
		cancel()
		wg.Wait()
	}()

	defer func() {
		for _, cl := range clients {
			if m := cl.sample.Load(); m != nil {
				t.Logf("client %d, a clean failure: %s", cl.id, *m)
			}
		}
	}()
	for round := 1; round <= rounds; round++ {
		run := time.Duration(100+rng.IntN(1400)) * time.Millisecond
		down := time.Duration(rng.IntN(300)) * time.Millisecond
		time.Sleep(run)
		before := make([]int64, len(clients))
		for i, cl := range clients {
			before[i] = cl.ops.Load()
		}
		srv.kill()
		time.Sleep(down)
		srv.restart()

		// The same clients carry on: each completes operations after the
		// restart.
		deadline := time.Now().Add(60 * time.Second)
		for i, cl := range clients {
			for cl.ops.Load() < before[i]+2 {
				if time.Now().After(deadline) {
					t.Fatalf("round %d: client %d made no progress 60s after the restart:\n%s\nserver stderr:\n%s",
						round, i, strings.Join(cl.report(), "\n"), srv.stderr)
				}
				if cl.fatal.Load() != nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		// Pause every client between operations and check the files
		// against what they acknowledged.
		for _, cl := range clients {
			cl.gate.Lock()
		}
		paused := true
		resume := func() {
			if paused {
				paused = false
				for _, cl := range clients {
					cl.gate.Unlock()
				}
			}
		}
		// A failure must not leave the clients paused: the deferred
		// cancel waits for them.
		defer resume()
		var acked, failed, retried int64
		for _, cl := range clients {
			if err := cl.fatal.Load(); err != nil {
				t.Fatalf("round %d: client %d: %v", round, cl.id, *err)
			}
			verifyClient(t, verifier, cl)
			acked += cl.ops.Load()
			failed += cl.failed.Load()
			retried += cl.spanned.Load()
		}
		if err := verifier.GC(); err != nil {
			t.Errorf("gc: %v", err)
		}
		checkClean(t, verifier, true)
		t.Logf("round %d: ran %v, killed, down %v, restarted in %v; so far %d operations acknowledged, %d failed cleanly, %d outlived a kill",
			round, run, down, srv.lastStartDelay.Round(time.Millisecond), acked, failed, retried)
		if t.Failed() {
			t.Fatalf("round %d failed; server stderr:\n%s", round, srv.stderr)
		}
		resume()
	}
}

// verifyClient reads cl's directory through another client and compares
// it with cl's model (cl is paused).
func verifyClient(t *testing.T, v *shoal.Client, cl *crashClient) {
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
	want := cl.names()
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

func describeData(b []byte) string {
	if b == nil {
		return "absent"
	}
	s := stateSum(b)
	return fmt.Sprintf("%d bytes (sha256 %.12s)", len(b), s)
}

// crashClient is one writer and its model of its directory: the content
// every file holds once the operation in flight is acknowledged.
type crashClient struct {
	id    int
	dir   string
	c     *shoal.Client
	rng   *rand.Rand
	next  int
	gate  sync.Mutex        // held by the client for one operation; by the test to pause it
	files map[string][]byte // guarded by gate

	ops     atomic.Int64 // operations acknowledged
	failed  atomic.Int64 // operations that failed cleanly (kind IO) and were resolved
	spanned atomic.Int64 // operations that took long enough to have waited out a restart
	fatal   atomic.Pointer[error]
	sample  atomic.Pointer[string] // the last clean failure, for the log
	logMu   sync.Mutex
	log     []string
}

func (cl *crashClient) logf(format string, args ...any) {
	cl.logMu.Lock()
	defer cl.logMu.Unlock()
	cl.log = append(cl.log, fmt.Sprintf(time.Now().Format("15:04:05.000 ")+format, args...))
	if len(cl.log) > 20 {
		cl.log = cl.log[1:]
	}
}

func (cl *crashClient) report() []string {
	cl.logMu.Lock()
	defer cl.logMu.Unlock()
	return slices.Clone(cl.log)
}

func (cl *crashClient) names() []string {
	names := make([]string, 0, len(cl.files))
	for n := range cl.files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (cl *crashClient) run(ctx context.Context) {
	for ctx.Err() == nil && cl.fatal.Load() == nil {
		cl.gate.Lock()
		if err := cl.step(); err != nil {
			cl.fatal.Store(&err)
		}
		cl.gate.Unlock()
	}
}

func (cl *crashClient) data(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := cl.rng.Uint64()
		for k := 0; k < 8 && i+k < n; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

// step performs one operation. An error the client may see when the
// server dies (kind IO) is resolved by reading the file back once the
// server answers; any other error is returned and fails the test.
func (cl *crashClient) step() error {
	names := cl.names()
	op := "new"
	if len(names) >= 2 {
		switch r := cl.rng.IntN(100); {
		case r < 10 && len(names) < crashMaxFiles:
			op = "new"
		case r < 45:
			op = "append"
		case r < 80:
			op = "overwrite"
		case r < 92:
			op = "rename"
		default:
			op = "remove"
		}
	}
	var name string
	if op != "new" {
		name = names[cl.rng.IntN(len(names))]
	}
	old := cl.files[name]
	if op == "append" && len(old)+crashMaxWrite > crashMaxSize {
		op = "overwrite"
	}
	start := time.Now()
	var err error
	var alts []map[string][]byte // the states a failure may leave; the last is the intended one
	switch op {
	case "new":
		name = fmt.Sprintf("%s/f%04d", cl.dir, cl.next)
		cl.next++
		data := cl.data(1 + cl.rng.IntN(crashMaxWrite))
		alts = []map[string][]byte{{name: nil}, {name: {}}, {name: data}}
		err = cl.write(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, -1, data)
	case "append":
		chunk := cl.data(1 + cl.rng.IntN(crashMaxWrite))
		alts = []map[string][]byte{{name: old}, {name: slices.Concat(old, chunk)}}
		err = cl.write(name, os.O_WRONLY|os.O_APPEND, -1, chunk)
	case "overwrite":
		chunk := cl.data(1 + cl.rng.IntN(crashMaxWrite))
		off := cl.rng.IntN(len(old) + 1)
		if off+len(chunk) > crashMaxSize {
			chunk = chunk[:crashMaxSize-off]
		}
		data := slices.Clone(old)
		if end := off + len(chunk); end > len(data) {
			data = append(data, make([]byte, end-len(data))...)
		}
		copy(data[off:], chunk)
		alts = []map[string][]byte{{name: old}, {name: data}}
		err = cl.write(name, os.O_RDWR, int64(off), chunk)
	case "rename":
		to := fmt.Sprintf("%s/f%04d", cl.dir, cl.next)
		cl.next++
		alts = []map[string][]byte{{name: old, to: nil}, {name: nil, to: old}}
		err = cl.c.Rename(name, to)
	case "remove":
		alts = []map[string][]byte{{name: old}, {name: nil}}
		err = cl.c.Remove(name)
	}
	took := time.Since(start)
	if took > 300*time.Millisecond {
		cl.spanned.Add(1)
	}
	if err != nil {
		var ack *ackedError
		if errors.As(err, &ack) {
			// Durable before the failure (a Close after the Sync): acknowledged.
			cl.logf("%s %s: acknowledged, then %v", op, name, ack.err)
			err = nil
		} else {
			if k := fserr.KindOf(err); k != fserr.IO {
				return fmt.Errorf("%s %s: %v (kind %v, after %v): only a transport failure (kind IO) is acceptable\nrecent:\n%s",
					op, name, err, k, took, strings.Join(cl.report(), "\n"))
			}
			msg := fmt.Sprintf("%s %s: failed after %v: %v", op, name, took, err)
			cl.sample.Store(&msg)
			cl.logf("%s", msg)
			cl.failed.Add(1)
			return cl.resolve(op, alts)
		}
	}
	for n, d := range alts[len(alts)-1] {
		cl.set(n, d)
	}
	cl.ops.Add(1)
	cl.logf("%s %s: ok in %v", op, name, took)
	return nil
}

func (cl *crashClient) set(name string, data []byte) {
	if data == nil {
		delete(cl.files, name)
	} else {
		cl.files[name] = data
	}
}

// ackedError is a failure after the operation was made durable.
type ackedError struct{ err error }

func (e *ackedError) Error() string { return e.err.Error() }

// write opens name with flag, writes data (at off, or at the file
// position when off < 0), syncs and closes.
func (cl *crashClient) write(name string, flag int, off int64, data []byte) error {
	f, err := cl.c.OpenFile(name, flag, 0o644)
	if err != nil {
		return err
	}
	if off >= 0 {
		_, err = f.WriteAt(data, off)
	} else {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return &ackedError{err}
	}
	return nil
}

// resolve reads back the files a failed operation touched, retrying
// while the server is away, and adopts what it finds if it is one of the
// states the operation may have left.
func (cl *crashClient) resolve(op string, alts []map[string][]byte) error {
	deadline := time.Now().Add(60 * time.Second)
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
				return fmt.Errorf("%s: reading back after a failure: %v", op, err)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for _, alt := range alts {
			match := true
			for name, want := range alt {
				if got := found[name]; !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					match = false
				}
			}
			if match {
				for n, d := range alt {
					cl.set(n, d)
				}
				cl.logf("%s resolved", op)
				return nil
			}
		}
		var parts []string
		for name, d := range found {
			parts = append(parts, name+"="+describeData(d))
		}
		return fmt.Errorf("%s failed and left %s, which is neither the old nor the new state", op, strings.Join(parts, ", "))
	}
}

func stateSum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
