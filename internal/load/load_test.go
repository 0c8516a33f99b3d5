package load_test

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/shoalfs/shoal/internal/kv/mem"
	"github.com/shoalfs/shoal/internal/load"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/ring"
)

// rooted serves a MapFS under absolute names and counts the opens.
type rooted struct {
	m     fstest.MapFS
	mu    sync.Mutex
	opens map[string]int
	fail  map[string]bool
}

func (r *rooted) rel(n string) string {
	if n = strings.TrimPrefix(n, "/"); n == "" {
		return "."
	}
	return n
}
func (r *rooted) Stat(n string) (fs.FileInfo, error)      { return r.m.Stat(r.rel(n)) }
func (r *rooted) ReadDir(n string) ([]fs.DirEntry, error) { return r.m.ReadDir(r.rel(n)) }
func (r *rooted) Open(n string) (fs.File, error) {
	r.mu.Lock()
	r.opens[n]++
	fail := r.fail[n]
	r.mu.Unlock()
	if fail {
		return nil, fmt.Errorf("objstore: block of %s is gone", n)
	}
	return r.m.Open(r.rel(n))
}

func newTree(n int) *rooted {
	m := fstest.MapFS{}
	for i := range n {
		m[fmt.Sprintf("data/d%d/f%03d", i%3, i)] = &fstest.MapFile{Data: []byte(strings.Repeat("x", 100+i))}
	}
	m["other/skip"] = &fstest.MapFile{Data: []byte("no")}
	return &rooted{m: m, opens: map[string]int{}, fail: map[string]bool{}}
}

// TestTwoWorkersSplit: two runners on one job each load only the files
// they own on the ring, together every file once; a failing file is
// listed with its error and fails the job.
func TestTwoWorkersSplit(t *testing.T) {
	ctx := context.Background()
	eng := mem.New()
	fsm, err := meta.New(ctx, eng, meta.Config{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	tree := newTree(60)
	tree.fail["/data/d1/f004"] = true
	ids := []string{"w1", "w2"}
	members := func(context.Context) (ring.Params, []string, error) { return ring.Default(), ids, nil }
	rg, _ := ring.New(ring.Default(), ids)
	var runners []*load.Runner
	for _, id := range ids {
		r, err := load.New(load.Config{Worker: id, Jobs: fsm, FS: func(context.Context) load.FS { return tree }, Members: members, Poll: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		r.Start()
		runners = append(runners, r)
	}
	job, _, err := fsm.SubmitLoad(ctx, "/data", meta.LoadOptions{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	j := waitEnd(t, fsm, job.ID)
	for _, r := range runners {
		r.Close()
	}
	if j.State != meta.LoadFailed || j.Files != 60 || j.DoneFiles != 59 || j.FailedFiles != 1 || len(j.Failures) != 1 ||
		!strings.Contains(j.Failures[0].Err, "is gone") {
		t.Fatalf("job: %+v", j)
	}
	for p, n := range tree.opens {
		if !strings.HasPrefix(p, "/data/") {
			t.Errorf("opened %s outside the job", p)
		}
		want := 2 // verify reads twice
		if p == "/data/d1/f004" {
			want = 1
		}
		if n != want {
			t.Errorf("%s opened %d times, want %d", p, n, want)
		}
	}
	perWorker := map[string]int64{}
	for _, w := range j.Workers {
		perWorker[w.ID] = w.DoneFiles + w.FailedFiles
	}
	owned := map[string]int64{}
	for p := range tree.opens {
		id, _ := rg.Place(p)
		owned[id]++
	}
	if perWorker["w1"] != owned["w1"] || perWorker["w2"] != owned["w2"] || owned["w1"] == 0 || owned["w2"] == 0 {
		t.Fatalf("per worker %v, owned %v", perWorker, owned)
	}
}

// TestStopAndBandwidth: a job paced at 2 KiB/s is stopped and its runner
// stops reading within a poll or two.
func TestStopAndBandwidth(t *testing.T) {
	ctx := context.Background()
	fsm, err := meta.New(ctx, mem.New(), meta.Config{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	tree := newTree(60)
	r, _ := load.New(load.Config{Worker: "local", Jobs: fsm, FS: func(context.Context) load.FS { return tree }, Poll: 20 * time.Millisecond})
	r.Start()
	defer r.Close()
	job, _, _ := fsm.SubmitLoad(ctx, "/data", meta.LoadOptions{Bandwidth: 2048})
	time.Sleep(300 * time.Millisecond)
	if _, err := fsm.StopLoad(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	before := r.Stats().Bytes
	time.Sleep(300 * time.Millisecond)
	if after := r.Stats().Bytes; after != before {
		t.Fatalf("still reading after stop: %d -> %d", before, after)
	}
	if before > 4096+2048 {
		t.Fatalf("read %d bytes in ~0.5 s at 2 KiB/s", before)
	}
	j, _ := fsm.LoadJob(ctx, job.ID)
	if j.State != meta.LoadStopped || j.DoneFiles >= 60 {
		t.Fatalf("job: %+v", j)
	}
}

func waitEnd(t *testing.T, fsm meta.Loader, id string) meta.LoadJob {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := fsm.LoadJob(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != meta.LoadRunning {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still running: %+v", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
