package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/load"
	"github.com/shoalfs/shoal/internal/ring"
	"github.com/shoalfs/shoal/internal/server"
)

// loadCluster is a meta server alone and two workers over one block
// store, each its own server.Server.
type loadCluster struct {
	metaDir, metaAddr, store string
	stopMeta                 func() error
	workerURLs               []string
	stopWorker               []func() error
	meta                     *server.Server
	workers                  []*server.Server
}

func startLoadCluster(t *testing.T) *loadCluster {
	t.Helper()
	lc := &loadCluster{metaDir: t.TempDir()}
	store := "file://" + t.TempDir()
	lc.store = store
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		addrs = append(addrs, ln.Addr().String())
		lc.workerURLs = append(lc.workerURLs, "http://"+ln.Addr().String())
		ln.Close()
	}
	m, stop := start(t, server.Config{Roles: server.RoleMeta, DataDir: lc.metaDir, StoreURL: store, WorkerURLs: lc.workerURLs})
	lc.metaAddr, lc.stopMeta, lc.meta = m.Addr(), stop, m
	for i, a := range addrs {
		w, stop := start(t, server.Config{Roles: server.RoleWorker, StoreURL: store, WorkerListen: a, MetaAddrs: []string{lc.metaAddr},
			WorkerID: fmt.Sprintf("w%d", i+1), LeaseTTL: time.Second, LoadPoll: 100 * time.Millisecond, LoadClient: loadClient})
		lc.stopWorker, lc.workers = append(lc.stopWorker, stop), append(lc.workers, w)
	}
	return lc
}

func writeTree(t *testing.T, c *shoal.Client, n, size int) []string {
	t.Helper()
	var paths []string
	data := bytes.Repeat([]byte{'l'}, size)
	for i := range n {
		dir := fmt.Sprintf("ds/d%d", i%4)
		must(t, c.MkdirAll(dir, 0o755))
		p := fmt.Sprintf("%s/f%03d", dir, i)
		must(t, c.WriteFile(p, data, 0o644))
		paths = append(paths, "/"+p)
	}
	return paths
}

func waitLoad(t *testing.T, c *shoal.Client, id string, within time.Duration) shoal.LoadJob {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		j, err := c.LoadProgress(id)
		must(t, err)
		if j.State != shoal.LoadRunning {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still running after %v: %+v", within, j)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLoadTwoWorkers: two workers split one job by the ring, each loads
// exactly the files it owns, together every file once; a resubmit while
// it runs returns the same job; a file whose blocks were deleted under
// it is listed as failed with the store's error.
func TestLoadTwoWorkers(t *testing.T) {
	lc := startLoadCluster(t)
	c := dial(t, lc.metaAddr)
	paths := writeTree(t, c, 40, 20000)
	// A file whose blocks are deleted under it.
	before := storeFiles(t, lc.store)
	must(t, c.WriteFile("ds/bad", bytes.Repeat([]byte{'b'}, 1<<20), 0o644))
	for f := range storeFiles(t, lc.store) {
		if !before[f] {
			must(t, os.Remove(f))
		}
	}
	// Wait for both leases so the ring has both workers.
	rg, _ := ring.New(ring.Default(), []string{"w1", "w2"})
	j, err := c.SubmitLoad("/ds", shoal.LoadOptions{})
	must(t, err)
	if again, err := c.SubmitLoad("ds", shoal.LoadOptions{}); err != nil || (again.ID != j.ID && again.State == shoal.LoadRunning) {
		t.Fatalf("resubmit: %+v %v", again, err)
	}
	j = waitLoad(t, c, j.ID, 30*time.Second)
	if j.State != shoal.LoadFailed || j.Files != 41 || j.DoneFiles != 40 || j.DoneBytes != 40*20000 || j.FailedFiles != 1 ||
		len(j.Failures) != 1 || j.Failures[0].Path != "/ds/bad" || !strings.Contains(j.Failures[0].Err, "no such file") {
		t.Fatalf("job: %+v", j)
	}
	t.Logf("failure: %+v", j.Failures[0])
	owned := map[string]int64{}
	for _, p := range append(paths, "/ds/bad") {
		id, _ := rg.Place(p)
		owned[id]++
	}
	got := map[string]int64{}
	for _, w := range j.Workers {
		got[w.ID] = w.DoneFiles + w.FailedFiles
	}
	if got["w1"] != owned["w1"] || got["w2"] != owned["w2"] || owned["w1"] == 0 || owned["w2"] == 0 {
		t.Fatalf("done per worker %v, owned on the ring %v", got, owned)
	}
	// Metrics: the job by state at meta, the files by worker.
	if v, _ := sample(t, lc.meta, "shoal_load_jobs", map[string]string{"state": "failed"}); v != 1 {
		t.Errorf("shoal_load_jobs{state=failed} = %v", v)
	}
	var files, fails float64
	for _, w := range lc.workers {
		v, _ := sample(t, w, "shoal_load_files_total", nil)
		f, _ := sample(t, w, "shoal_load_failures_total", nil)
		files, fails = files+v, fails+f
	}
	if files != 40 || fails != 1 {
		t.Errorf("workers' shoal_load_files_total %v, failures %v", files, fails)
	}
	if l, err := c.ListLoads(false); err != nil || len(l) != 1 || l[0].ID != j.ID {
		t.Fatalf("list: %+v %v", l, err)
	}
}

// TestLoadWorkerStopsMetaRestarts: a paced job loses a worker midway
// (its share goes to the other) and then the meta server restarts; the
// job completes with every file, each counted once.
func TestLoadWorkerStopsMetaRestarts(t *testing.T) {
	lc := startLoadCluster(t)
	c := dial(t, lc.metaAddr)
	writeTree(t, c, 40, 32<<10)
	time.Sleep(300 * time.Millisecond) // both leases in
	j, err := c.SubmitLoad("/ds", shoal.LoadOptions{Bandwidth: 256 << 10})
	must(t, err)
	time.Sleep(1500 * time.Millisecond)
	mid, err := c.LoadProgress(j.ID)
	must(t, err)
	if mid.State != shoal.LoadRunning || mid.DoneFiles >= 40 {
		t.Fatalf("job not midway: %+v", mid)
	}
	must(t, lc.stopWorker[0]())
	must(t, lc.stopMeta())
	start(t, server.Config{Roles: server.RoleMeta, DataDir: lc.metaDir, Listen: lc.metaAddr, StoreURL: lc.store, WorkerURLs: lc.workerURLs})
	// The worker before the meta server it reports to.
	defer func() { must(t, lc.stopWorker[1]()) }()
	j = waitLoad(t, c, j.ID, 60*time.Second)
	if j.State != shoal.LoadSucceeded || j.DoneFiles != 40 || j.DoneBytes != 40*32<<10 {
		t.Fatalf("job: %+v (midway: %+v)", j, mid)
	}
	var w2 int64
	for _, w := range j.Workers {
		if w.ID == "w2" {
			w2 = w.DoneFiles
		}
	}
	var w1Mid int64
	for _, w := range mid.Workers {
		if w.ID == "w1" {
			w1Mid = w.DoneFiles
		}
	}
	// w1 stopped midway: w2 did the rest (w1's last unreported batch, at
	// most 32 files, may have been read twice but counts once).
	if w2 < 40-w1Mid-32 || w1Mid == 0 {
		t.Fatalf("w2 did %d files, w1 %d before it stopped", w2, w1Mid)
	}
	t.Logf("w1 did %d files before it stopped, w2 %d", w1Mid, w2)
}

// TestLoadStop: a stopped job stops on every worker within a few
// seconds.
func TestLoadStop(t *testing.T) {
	lc := startLoadCluster(t)
	c := dial(t, lc.metaAddr)
	writeTree(t, c, 40, 32<<10)
	j, err := c.SubmitLoad("/ds", shoal.LoadOptions{Bandwidth: 64 << 10})
	must(t, err)
	time.Sleep(time.Second)
	s, err := c.StopLoad("/ds")
	must(t, err)
	if s.State != shoal.LoadStopped || s.ID != j.ID {
		t.Fatalf("stop: %+v", s)
	}
	time.Sleep(time.Second)
	a, _ := c.LoadProgress(j.ID)
	time.Sleep(time.Second)
	b, _ := c.LoadProgress(j.ID)
	if a.DoneFiles != b.DoneFiles || b.DoneFiles >= 40 {
		t.Fatalf("still loading after stop: %d then %d files", a.DoneFiles, b.DoneFiles)
	}
}

func storeFiles(t *testing.T, store string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	filepath.WalkDir(strings.TrimPrefix(store, "file://"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out[p] = true
		}
		return nil
	})
	return out
}

// loadClient is what internal/cli gives server.Config.LoadClient.
func loadClient(ctx context.Context, addrs, fsName, token string) (func(context.Context) load.FS, func() error, error) {
	c, err := shoal.Dial(ctx, addrs, shoal.WithFS(fsName), shoal.WithToken(token))
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context) load.FS { return load.Unrooted(c.WithContext(ctx)) }, c.Close, nil
}
