package shoal

import (
	"context"
	"path"
	"sync"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/load"
	"github.com/shoalfs/shoal/internal/meta"
)

// LoadState is a load job's state; its String is the lower-case name
// ("running", "succeeded", "failed", "stopped").
type LoadState = meta.LoadState

// Load job states.
const (
	LoadRunning   = meta.LoadRunning
	LoadSucceeded = meta.LoadSucceeded // every file loaded
	LoadFailed    = meta.LoadFailed    // every file tried, some failed (see Failures)
	LoadStopped   = meta.LoadStopped   // stopped by StopLoad
)

// LoadOptions are a load job's options.
type LoadOptions struct {
	// Bandwidth bounds each worker's reads for the job, in bytes/s (0:
	// no bound).
	Bandwidth int64 `json:"bandwidth"`
	// Verify reads every file a second time (from the cache the first
	// read filled) and fails the file when the two reads' lengths or
	// CRC32Cs differ, or the length is not the size the walk found.
	Verify bool `json:"verify"`
	// SkipCached skips files the owning worker's cache already holds.
	SkipCached bool `json:"skip_cached"`
}

// LoadFailure is one file a job could not load, with the error its
// worker got from the store.
type LoadFailure struct {
	Path   string `json:"path"`
	Err    string `json:"err"`
	Worker string `json:"worker"`
}

// LoadWorkerProgress is one worker's part of a job.
type LoadWorkerProgress struct {
	ID           string    `json:"id"`
	DoneFiles    int64     `json:"done_files"`
	DoneBytes    int64     `json:"done_bytes"`
	SkippedFiles int64     `json:"skipped_files"`
	FailedFiles  int64     `json:"failed_files"`
	Updated      time.Time `json:"updated"`
}

// LoadJob is a load job's progress. A job prefetches every regular file
// under Path into the workers' caches (docs/datasets.md, "Load jobs").
type LoadJob struct {
	ID      string      `json:"id"` // "load-N", stable
	Path    string      `json:"path"`
	Options LoadOptions `json:"options"`
	State   LoadState   `json:"state"`
	Created time.Time   `json:"created"`
	Ended   time.Time   `json:"ended,omitzero"` // zero while running
	// Listed is set once the walk of Path completed: Files and Bytes are
	// then the job's totals, before that what the walk found so far.
	Listed bool  `json:"listed"`
	Files  int64 `json:"files"`
	Bytes  int64 `json:"bytes"`
	// DoneFiles and DoneBytes count the files loaded (SkippedFiles of
	// them skipped as cached), FailedFiles those that failed.
	DoneFiles    int64 `json:"done_files"`
	DoneBytes    int64 `json:"done_bytes"`
	SkippedFiles int64 `json:"skipped_files"`
	FailedFiles  int64 `json:"failed_files"`
	// Failures are the first failures by path (at most 100 per worker
	// are kept in full; FailedFiles counts them all).
	Failures []LoadFailure        `json:"failures"`
	Workers  []LoadWorkerProgress `json:"workers"`
	// Err says why the job failed as a whole (its path could not be
	// listed).
	Err string `json:"err,omitempty"`
}

func loadJobOf(j meta.LoadJob) LoadJob {
	out := LoadJob{ID: j.ID, Path: j.Path, Options: LoadOptions{Bandwidth: j.Options.Bandwidth, Verify: j.Options.Verify, SkipCached: j.Options.SkipCached}, State: j.State, Created: j.Created,
		Ended: j.Ended, Listed: j.Listed, Files: j.Files, Bytes: j.Bytes, DoneFiles: j.DoneFiles, DoneBytes: j.DoneBytes,
		SkippedFiles: j.SkippedFiles, FailedFiles: j.FailedFiles, Err: j.Err}
	for _, f := range j.Failures {
		out.Failures = append(out.Failures, LoadFailure{Path: f.Path, Err: f.Err, Worker: f.Worker})
	}
	for _, w := range j.Workers {
		out.Workers = append(out.Workers, LoadWorkerProgress{ID: w.ID, DoneFiles: w.DoneFiles, DoneBytes: w.DoneBytes,
			SkippedFiles: w.SkippedFiles, FailedFiles: w.FailedFiles, Updated: w.Updated})
	}
	return out
}

// localLoads is the in-process runner of an OpenLocal client's jobs,
// started by its first load call.
type localLoads struct {
	mu     sync.Mutex
	runner *load.Runner
}

func (co *core) stopLoads() {
	co.loads.mu.Lock()
	defer co.loads.mu.Unlock()
	if co.loads.runner != nil {
		co.loads.runner.Close()
		co.loads.runner = nil
	}
}

// loader returns the backend's job store; over OpenLocal (no workers) it
// also makes sure this process runs the jobs.
func (c *Client) loader(op, name string) (meta.Loader, error) {
	if err := c.check(op, name); err != nil {
		return nil, err
	}
	l, ok := c.core.meta.(meta.Loader)
	if !ok {
		return nil, fserr.Errorf(op, fserr.NotSupported, "shoal: this backend runs no load jobs")
	}
	if fsm, local := c.core.meta.(*meta.FS); local {
		co := c.core
		co.loads.mu.Lock()
		defer co.loads.mu.Unlock()
		if co.loads.runner == nil && !co.closed.Load() {
			base := &Client{core: co, ctx: context.Background(), view: true}
			r, err := load.New(load.Config{Worker: "local", Jobs: fsm, Logger: co.logger,
				FS: func(ctx context.Context) load.FS { return load.Unrooted(base.WithContext(ctx)) }})
			if err != nil {
				return nil, err
			}
			r.Start()
			co.loads.runner = r
		}
	}
	return l, nil
}

// SubmitLoad starts a job that loads every regular file under name (a
// directory, recursively, or one file) into the workers' caches, or
// returns the job already running for name. Over Dial the workers run it,
// each the files it owns on the ring; over OpenLocal this process runs it
// while the Client is open (and resumes it on the next load call after a
// reopen). Submitting needs a super token when the server has tokens.
func (c *Client) SubmitLoad(name string, o LoadOptions) (LoadJob, error) {
	const op = "submitload"
	n, err := c.jobPath(op, name)
	if err != nil {
		return LoadJob{}, err
	}
	if _, err := load.Unrooted(c).Stat(n); err != nil {
		return LoadJob{}, err
	}
	l, err := c.loader(op, n)
	if err != nil {
		return LoadJob{}, err
	}
	j, _, err := l.SubmitLoad(c.ctx, n, meta.LoadOptions{Bandwidth: o.Bandwidth, Verify: o.Verify, SkipCached: o.SkipCached})
	if err != nil {
		return LoadJob{}, wrap(op, n, err)
	}
	return loadJobOf(j), nil
}

// LoadProgress returns job ref's progress: ref is a job id ("load-N") or
// a path (its running job, else its latest).
func (c *Client) LoadProgress(ref string) (LoadJob, error) {
	const op = "loadprogress"
	l, err := c.loader(op, ref)
	if err != nil {
		return LoadJob{}, err
	}
	var j meta.LoadJob
	if _, isID := meta.ParseLoadJobID(ref); isID {
		j, err = l.LoadJob(c.ctx, ref)
	} else {
		var n string
		if n, err = c.jobPath(op, ref); err == nil {
			j, err = l.LoadJobOfPath(c.ctx, n)
		}
	}
	if err != nil {
		return LoadJob{}, wrap(op, ref, err)
	}
	return loadJobOf(j), nil
}

// StopLoad stops job ref (an id or a path, as LoadProgress takes): every
// worker stops its part within a few seconds. What was loaded stays
// cached. Stopping an ended job changes nothing.
func (c *Client) StopLoad(ref string) (LoadJob, error) {
	const op = "stopload"
	j, err := c.LoadProgress(ref)
	if err != nil {
		return LoadJob{}, wrap(op, ref, err)
	}
	l, err := c.loader(op, ref)
	if err != nil {
		return LoadJob{}, err
	}
	mj, err := l.StopLoad(c.ctx, j.ID)
	if err != nil {
		return LoadJob{}, wrap(op, ref, err)
	}
	return loadJobOf(mj), nil
}

// ListLoads lists the filesystem's load jobs, oldest first (only the
// running ones when running is set).
func (c *Client) ListLoads(running bool) ([]LoadJob, error) {
	const op = "listloads"
	l, err := c.loader(op, "")
	if err != nil {
		return nil, err
	}
	js, err := l.LoadJobs(c.ctx, running)
	if err != nil {
		return nil, wrap(op, "", err)
	}
	out := make([]LoadJob, len(js))
	for i, j := range js {
		out[i] = loadJobOf(j)
	}
	return out, nil
}

// jobPath is name as jobs record it: absolute and clean (the ring key of
// a file is this path).
func (c *Client) jobPath(op, name string) (string, error) {
	n, err := c.cleanName(op, path.Clean("/"+name))
	if err != nil {
		return "", err
	}
	if n == "." {
		return "/", nil
	}
	return "/" + n, nil
}
