package meta_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// TestLoadJobs: submit is idempotent per path (one transaction decides,
// even between two FS over one engine), a walk's files are recorded once,
// two workers' reports each count only the files they finished first,
// the job ends when every file is accounted for, and stop frees the path
// for a new job.
func TestLoadJobs(t *testing.T) {
	ctx := context.Background()
	eng := memEngine(t)
	a := newFS(t, eng, meta.Config{ID: 1})
	b := newFS(t, eng, meta.Config{ID: 1})

	if _, _, err := a.SubmitLoad(ctx, "rel/path", meta.LoadOptions{}); !fserr.Is(fserr.Invalid, err) {
		t.Fatalf("relative path: %v", err)
	}
	// Racing submits of one path get one job.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	created := make([]bool, 8)
	for i := range ids {
		fs := a
		if i%2 == 1 {
			fs = b
		}
		wg.Go(func() {
			j, c, err := fs.SubmitLoad(ctx, "/data", meta.LoadOptions{Verify: true})
			if err != nil {
				t.Error(err)
			}
			ids[i], created[i] = j.ID, c
		})
	}
	wg.Wait()
	n := 0
	for i := range ids {
		if ids[i] != ids[0] {
			t.Fatalf("submits got jobs %v", ids)
		}
		if created[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d submits created the job", n)
	}
	id := ids[0]
	if j, err := b.LoadJobOfPath(ctx, "/data"); err != nil || j.ID != id || j.State != meta.LoadRunning || !j.Options.Verify {
		t.Fatalf("by path: %+v %v", j, err)
	}

	// The walk: 10 files in two batches, the second repeated (a second
	// walker after the first died) adds nothing.
	var files []meta.LoadFile
	for i := range 10 {
		files = append(files, meta.LoadFile{Path: fmt.Sprintf("/data/f%02d", i), Size: 100})
	}
	if st, err := a.AddLoadFiles(ctx, id, files[:5], meta.LoadWalk{Worker: "w1", Files: 5, Bytes: 500}); err != nil || st != meta.LoadRunning {
		t.Fatal(st, err)
	}
	if j, _ := a.LoadJob(ctx, id); j.Listed || j.Files != 5 {
		t.Fatalf("while walking: %+v", j)
	}
	for range 2 {
		if _, err := b.AddLoadFiles(ctx, id, files[5:], meta.LoadWalk{Worker: "w2", Files: 10, Bytes: 1000, Complete: true}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.LoadFiles(ctx, id, "", 0)
	if err != nil || len(got) != 10 {
		t.Fatalf("files: %d %v", len(got), err)
	}
	if page, _ := a.LoadFiles(ctx, id, "/data/f04", 3); len(page) != 3 || page[0].Path != "/data/f05" {
		t.Fatalf("page after f04: %+v", page)
	}

	// w1 and w2 both report f00 (a ring change): it counts once.
	if _, _, err := a.ReportLoad(ctx, id, "w1", []meta.LoadDone{{Path: "/data/f00", Bytes: 100}, {Path: "/data/f01", Bytes: 100}}); err != nil {
		t.Fatal(err)
	}
	var rest []meta.LoadDone
	for _, f := range files[:9] {
		rest = append(rest, meta.LoadDone{Path: f.Path, Bytes: 100})
	}
	rest[3].Err = "objstore: block gone"
	if st, ended, err := b.ReportLoad(ctx, id, "w2", rest); err != nil || st != meta.LoadRunning || ended {
		t.Fatal(st, ended, err)
	}
	st, ended, err := b.ReportLoad(ctx, id, "w2", []meta.LoadDone{{Path: "/data/f09", Bytes: 100, Skipped: true}})
	if err != nil || st != meta.LoadFailed || !ended {
		t.Fatalf("last report: %v %v %v", st, ended, err)
	}
	j, err := a.LoadJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.DoneFiles != 9 || j.FailedFiles != 1 || j.DoneBytes != 900 || j.SkippedFiles != 1 || j.Files != 10 || j.Ended.IsZero() ||
		len(j.Failures) != 1 || j.Failures[0].Path != "/data/f03" || j.Failures[0].Worker != "w2" || len(j.Workers) != 2 ||
		j.Workers[0].ID != "w1" || j.Workers[0].DoneFiles != 2 {
		t.Fatalf("ended job: %+v", j)
	}
	// Ended: the path takes a new job; the old one is still listed.
	j2, c, err := a.SubmitLoad(ctx, "/data", meta.LoadOptions{})
	if err != nil || !c || j2.ID == id {
		t.Fatalf("resubmit: %+v %v %v", j2, c, err)
	}
	if st, err := a.StopLoad(ctx, j2.ID); err != nil || st.State != meta.LoadStopped {
		t.Fatalf("stop: %+v %v", st, err)
	}
	if st, _, _ := a.ReportLoad(ctx, j2.ID, "w1", nil); st != meta.LoadStopped {
		t.Fatalf("report after stop: %v", st)
	}
	all, err := b.LoadJobs(ctx, false)
	if err != nil || len(all) != 2 {
		t.Fatalf("jobs: %+v %v", all, err)
	}
	if running, _ := b.LoadJobs(ctx, true); len(running) != 0 {
		t.Fatalf("running: %+v", running)
	}
	if j, err := a.LoadJobOfPath(ctx, "/data"); err != nil || j.ID != j2.ID {
		t.Fatalf("latest of path: %+v %v", j, err)
	}
	if _, err := a.LoadJob(ctx, "load-99"); !fserr.Is(fserr.NotFound, err) {
		t.Fatalf("unknown job: %v", err)
	}
	if _, err := a.LoadJob(ctx, "bogus"); !fserr.Is(fserr.Invalid, err) {
		t.Fatalf("bad id: %v", err)
	}
	// Purge: the file records go, the counts stay.
	for {
		d, err := a.PurgeLoadFiles(ctx, id, 4)
		if err != nil {
			t.Fatal(err)
		}
		if d == 0 {
			break
		}
	}
	if f, _ := a.LoadFiles(ctx, id, "", 0); len(f) != 0 {
		t.Fatalf("files after purge: %d", len(f))
	}
	if j, _ := a.LoadJob(ctx, id); j.DoneFiles != 9 {
		t.Fatalf("after purge: %+v", j)
	}
	// A walk that cannot list its path fails the job; an empty tree
	// succeeds at once.
	j3, _, _ := a.SubmitLoad(ctx, "/gone", meta.LoadOptions{})
	if st, err := a.AddLoadFiles(ctx, j3.ID, nil, meta.LoadWalk{Worker: "w1", Complete: true, Err: "no such file"}); err != nil || st != meta.LoadFailed {
		t.Fatal(st, err)
	}
	j4, _, _ := a.SubmitLoad(ctx, "/empty", meta.LoadOptions{})
	if st, err := a.AddLoadFiles(ctx, j4.ID, nil, meta.LoadWalk{Worker: "w1", Complete: true}); err != nil || st != meta.LoadSucceeded {
		t.Fatal(st, err)
	}
}
