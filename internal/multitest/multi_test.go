package multitest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalfs/shoal"
)

// envCreateFiles overrides how many files each client creates in
// TestManyClientsCreate (default 10,000; 1,000 under -race or -short).
const envCreateFiles = "SHOAL_MT_CREATE_FILES"

// quick reports whether the test should run at its reduced size.
func quick() bool { return raceEnabled || testing.Short() }

func newRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SHOAL_MT_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (rerun with SHOAL_MT_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkClean runs fsck (with block CRCs when verifyData) and fails on
// any problem.
func checkClean(t testing.TB, c *shoal.Client, verifyData bool) {
	t.Helper()
	problems, err := c.Check(verifyData)
	if err != nil {
		t.Errorf("fsck: %v", err)
	}
	for _, p := range problems {
		t.Errorf("fsck: %s", p)
	}
}

// TestCloseToOpen: one client process writes a file and closes it, then
// another opens it and must read every byte the first wrote. The names
// are reused in both directions, so each reader also proves it does not
// serve an older version it read before from its cache.
func TestCloseToOpen(t *testing.T) {
	rng := newRand(t)
	srv := startServer(t, t.TempDir(), 0, 0)
	c := srv.dial(t)
	must(t, c.Mkdir("c2o", 0o755))
	a := startAgent(t, srv.addr, "A")
	b := startAgent(t, srv.addr, "B")
	rounds := 8
	if quick() {
		rounds = 4
	}
	names := []string{"c2o/one", "c2o/two"}
	var bytesMoved int64
	for i := 0; i < rounds; i++ {
		w, r := a, b
		if i%2 == 1 {
			w, r = b, a
		}
		name := names[(i/2)%len(names)]
		size := int64(1<<20 + rng.IntN(19<<20+1))
		seed := rng.Uint64()
		wrote := w.mustCall(request{Op: "write", Name: name, Size: size, Seed: seed})
		got := r.mustCall(request{Op: "read", Name: name})
		if got.Size != size || got.Sum != wrote.Sum {
			t.Fatalf("round %d: %s wrote %s (%d bytes, sha256 %.12s), %s read %d bytes, sha256 %.12s",
				i, w.name, name, size, wrote.Sum, r.name, got.Size, got.Sum)
		}
		if want := expectedSum(size, seed); wrote.Sum != want {
			t.Fatalf("round %d: writer hashed %.12s, the data is %.12s", i, wrote.Sum, want)
		}
		bytesMoved += size
	}
	t.Logf("%d files (%d MiB) written by one process and read whole by the other", rounds, bytesMoved>>20)
	checkClean(t, c, true)
}

// TestManyClientsCreate: 8 client processes each create their share of
// files in one directory at once; afterwards the directory holds every
// name exactly once, the counts agree, and fsck is clean.
func TestManyClientsCreate(t *testing.T) {
	const clients = 8
	per := 10000
	if quick() {
		per = 1000
	}
	if v := os.Getenv(envCreateFiles); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", envCreateFiles, v)
		}
		per = n
	}
	srv := startServer(t, t.TempDir(), 0, 0)
	c := srv.dial(t)
	must(t, c.Mkdir("many", 0o755))
	before, err := c.StatFS()
	must(t, err)
	agents := make([]*agentProc, clients)
	for i := range agents {
		agents[i] = startAgent(t, srv.addr, "c"+strconv.Itoa(i))
	}
	// Every agent has dialled once it answers; the timing starts after.
	for _, a := range agents {
		a.mustCall(request{Op: "ping"})
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for i, a := range agents {
		wg.Go(func() {
			_, errs[i] = a.call(request{Op: "create", Dir: "many", Prefix: a.name, N: per})
		})
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		must(t, err)
	}
	total := clients * per
	t.Logf("%d clients created %d files in one directory in %v: %.0f creates/s", clients, total, took.Round(time.Millisecond), float64(total)/took.Seconds())

	ents, err := c.ReadDir("many")
	must(t, err)
	seen := make(map[string]bool, len(ents))
	for _, e := range ents {
		if seen[e.Name()] {
			t.Errorf("duplicate entry %s", e.Name())
		}
		seen[e.Name()] = true
		if !e.Type().IsRegular() {
			t.Errorf("%s: type %v", e.Name(), e.Type())
		}
	}
	if len(ents) != total {
		t.Errorf("%d entries, want %d", len(ents), total)
	}
	for _, a := range agents {
		for i := 0; i < per; i++ {
			if name := fmt.Sprintf("%s-%06d", a.name, i); !seen[name] {
				t.Fatalf("lost %s", name)
			}
		}
	}
	info, err := c.Stat("many")
	must(t, err)
	if a, ok := info.Sys().(*shoal.Attr); !ok || a.Nlink != 2 {
		t.Errorf("directory attr %+v, want nlink 2", info.Sys())
	}
	for _, i := range []int{0, per / 2, per - 1} {
		info, err := c.Stat(fmt.Sprintf("many/c3-%06d", i))
		must(t, err)
		if a := info.Sys().(*shoal.Attr); a.Nlink != 1 || a.Size != 0 {
			t.Errorf("%s: nlink %d size %d", info.Name(), a.Nlink, a.Size)
		}
	}
	after, err := c.StatFS()
	must(t, err)
	if got := after.UsedInodes - before.UsedInodes; got != uint64(total) {
		t.Errorf("used inodes grew by %d, want %d", got, total)
	}
	if after.UsedBytes != before.UsedBytes {
		t.Errorf("used bytes %d -> %d for empty files", before.UsedBytes, after.UsedBytes)
	}
	checkClean(t, c, false)
}

// TestConcurrentRenames: client processes move files between four
// directories at once, racing for the same sources: markers move to
// fresh names without replacing anything, or swap places with another
// marker (RenameExchange); decoys replace each other. At the end every
// marker exists exactly once, whatever name it ended under.
func TestConcurrentRenames(t *testing.T) {
	const (
		clients = 4
		markers = 200
		decoys  = 100
	)
	iters := 400
	if quick() {
		iters = 150
	}
	rng := newRand(t)
	srv := startServer(t, t.TempDir(), 0, 0)
	c := srv.dial(t)
	dirs := []string{"r0", "r1", "r2", "r3"}
	for _, d := range dirs {
		must(t, c.Mkdir(d, 0o755))
	}
	for i := 0; i < markers; i++ {
		must(t, c.WriteFile(fmt.Sprintf("%s/m%d.init", dirs[i%len(dirs)], i), markerData(i), 0o644))
	}
	for i := 0; i < decoys; i++ {
		must(t, c.WriteFile(fmt.Sprintf("%s/x.init.%d", dirs[i%len(dirs)], i), []byte("decoy"), 0o644))
	}
	before, err := c.StatFS()
	must(t, err)

	var wg sync.WaitGroup
	reps := make([]reply, clients)
	errs := make([]error, clients)
	start := time.Now()
	for i := 0; i < clients; i++ {
		a := startAgent(t, srv.addr, "r"+strconv.Itoa(i))
		seed := rng.Uint64()
		wg.Go(func() {
			reps[i], errs[i] = a.call(request{Op: "rename", Dirs: dirs, N: iters, Seed: seed})
		})
	}
	wg.Wait()
	var done, lost int
	for i := range reps {
		must(t, errs[i])
		done += reps[i].N
		lost += reps[i].Lost
	}
	t.Logf("%d clients: %d renames done, %d lost a race (source gone), in %v", clients, done, lost, time.Since(start).Round(time.Millisecond))
	if done < clients*iters/4 {
		t.Errorf("only %d of %d renames succeeded: the test barely raced", done, clients*iters)
	}

	found := map[int][]string{}
	nDecoys := 0
	for _, d := range dirs {
		ents, err := c.ReadDir(d)
		must(t, err)
		for _, e := range ents {
			name := d + "/" + e.Name()
			data, err := c.ReadFile(name)
			must(t, err)
			if string(data) == "decoy" {
				nDecoys++
				continue
			}
			id, ok := parseMarker(data)
			if !ok {
				t.Errorf("%s holds %q", name, data)
				continue
			}
			found[id] = append(found[id], name)
		}
	}
	for i := 0; i < markers; i++ {
		switch n := len(found[i]); {
		case n == 0:
			t.Errorf("marker %d lost", i)
		case n > 1:
			t.Errorf("marker %d found %d times: %v", i, n, found[i])
		}
	}
	if nDecoys < 1 || nDecoys > decoys {
		t.Errorf("%d decoys left of %d", nDecoys, decoys)
	}
	after, err := c.StatFS()
	must(t, err)
	if gone := before.UsedInodes - after.UsedInodes; gone != uint64(decoys-nDecoys) {
		t.Errorf("used inodes fell by %d, but %d decoys were replaced", gone, decoys-nDecoys)
	}
	checkClean(t, c, false)
}

func markerData(id int) []byte { return []byte("marker " + strconv.Itoa(id)) }

func parseMarker(data []byte) (int, bool) {
	s, ok := bytes.CutPrefix(data, []byte("marker "))
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(string(s))
	return id, err == nil
}

// TestClientKilledMidWrite: a client process holds a synced file open
// after unlinking it and is writing to it and to another file when it is
// killed with SIGKILL. Once its session expires and the server's GC has
// run, fsck (blocks included) is clean, the unlinked file is reclaimed,
// and the other file keeps at least what was synced.
func TestClientKilledMidWrite(t *testing.T) {
	const ttl = 2 * time.Second
	rng := newRand(t)
	srv := startServer(t, t.TempDir(), ttl, 200*time.Millisecond)
	c := srv.dial(t)
	must(t, c.Mkdir("victim", 0o755))
	before, err := c.StatFS()
	must(t, err)

	a := startAgent(t, srv.addr, "victim")
	const size = 6 << 20
	seed := rng.Uint64()
	a.mustCall(request{Op: "hold", Dir: "victim", Size: size, Seed: seed})
	time.Sleep(time.Duration(50+rng.IntN(500)) * time.Millisecond)
	a.kill()
	killed := time.Now()

	st, err := c.StatFS()
	must(t, err)
	if time.Since(killed) < ttl/2 && st.UsedInodes != before.UsedInodes+2 {
		t.Errorf("right after the kill %d inodes more are used, want 2 (the unlinked-open file and the one being written)", st.UsedInodes-before.UsedInodes)
	}

	// Wait for the session to expire and GC to reclaim the unlinked file.
	var inflight int64
	deadline := time.Now().Add(ttl + 30*time.Second)
	for {
		st, err = c.StatFS()
		must(t, err)
		info, err := c.Stat("victim/inflight")
		must(t, err)
		inflight = info.Size()
		if st.UsedInodes == before.UsedInodes+1 && st.UsedBytes == before.UsedBytes+uint64(inflight) {
			problems, err := c.Check(true)
			must(t, err)
			if len(problems) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("fsck after the session expired: %v", problems)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("%v after the kill: %d inodes and %d bytes more than before, want 1 and %d (the unlinked file was not reclaimed)",
				time.Since(killed), st.UsedInodes-before.UsedInodes, st.UsedBytes-before.UsedBytes, inflight)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("reclaimed and fsck clean %v after the kill (session TTL %v)", time.Since(killed).Round(time.Millisecond), ttl)

	// The synced first MiB of the other file is intact; the rest is
	// whatever was committed before the kill, and reads back whole.
	data, err := c.ReadFile("victim/inflight")
	must(t, err)
	if int64(len(data)) != inflight || inflight < 1<<20 {
		t.Fatalf("inflight: read %d bytes, stat says %d, synced 1 MiB", len(data), inflight)
	}
	sum := sha256.Sum256(data[:1<<20])
	if got, want := hex.EncodeToString(sum[:]), expectedSum(1<<20, seed+1); got != want {
		t.Errorf("inflight: synced first MiB differs")
	}
	ents, err := c.ReadDir("victim")
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "inflight" {
		t.Errorf("victim/ holds %v, want [inflight]", names)
	}
}
