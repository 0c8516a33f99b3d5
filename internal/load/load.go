// Package load runs load jobs on a worker: it prefetches every file under
// a job's path by reading it through a Shoal client, so that each of its
// blocks (or, on a mounted dataset, each page) lands in the cache of the
// worker that owns it on the ring. The jobs themselves live in the
// engine (meta.Loader, internal/meta/loadjobs.go); a Runner polls them.
//
// How a job is split: the worker that owns the key "load:<job id>" on
// the ring of live workers walks the path (directories recursively,
// symlinks not followed) and records every regular file in the job,
// checkpointed in batches. Every worker then loads the recorded files it
// owns on the ring, the ring key being the file's path, and reports them
// in batches (the checkpoint: a restarted worker skips what it reported,
// and redoes at most one batch). A worker that dies leaves its files
// pending; once its lease lapses the ring no longer has it, and the next
// member of each file's walk owns and loads it. A walker that dies is
// replaced the same way (the new walk adds only what the first did not).
//
// Invariants: a Runner runs each running job at most once at a time; a
// job that is no longer running (stopped, ended) has its work cancelled
// within one poll interval; a file counts once however many workers read
// it (meta's reports decide, in one transaction per batch).
package load

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/ring"
)

// FS is how a Runner reads: a Shoal client (a *shoal.Client satisfies it,
// through WithContext for each call's context), names absolute.
type FS interface {
	Stat(name string) (fs.FileInfo, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	Open(name string) (fs.File, error)
}

// CacheChecker tells whether the worker's cache already holds all of a
// file (for --skip-cached). Without one, nothing is cached.
type CacheChecker interface {
	Cached(ctx context.Context, path string, size int64) (bool, error)
}

// Members returns the ring parameters and the ids of the live workers.
type Members func(ctx context.Context) (ring.Params, []string, error)

// Config configures a Runner.
type Config struct {
	// Worker is this worker's id on the ring (required).
	Worker string
	// Jobs is where the jobs are kept (required).
	Jobs meta.Loader
	// FS returns the client view reads go through for ctx (required).
	FS func(ctx context.Context) FS
	// Members lists the live workers; nil: this worker alone owns every
	// file (an in-process client without workers).
	Members Members
	// Cache answers --skip-cached; nil: nothing is cached.
	Cache CacheChecker
	// Poll is how often the running jobs and the member list are read
	// (default DefaultPoll): a stop takes effect within it.
	Poll time.Duration
	// Logger receives Info when a job starts and ends on this worker and
	// Warn for failed engine calls. Nil discards.
	Logger *slog.Logger
}

// DefaultPoll is Config.Poll's default.
const DefaultPoll = time.Second

// Defaults of the batches.
const (
	reportBatch = 32
	reportEvery = time.Second
	readChunk   = 1 << 20
)

// Stats are a Runner's counters since it started (for metrics).
type Stats struct {
	Bytes, Files, Failures, Skipped int64
}

// Runner runs the jobs of one filesystem on one worker.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	bytes, files, failures, skipped atomic.Int64

	mu struct {
		sync.Mutex
		active map[string]context.CancelFunc
	}
}

// New returns a Runner; Start runs it.
func New(cfg Config) (*Runner, error) {
	if cfg.Worker == "" || cfg.Jobs == nil || cfg.FS == nil {
		return nil, fserr.Errorf("load.New", fserr.Invalid, "load: a runner needs a worker id, the jobs and a client")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{cfg: cfg, log: cfg.Logger}
	r.mu.active = map[string]context.CancelFunc{}
	return r, nil
}

// Stats returns the counters.
func (r *Runner) Stats() Stats {
	return Stats{Bytes: r.bytes.Load(), Files: r.files.Load(), Failures: r.failures.Load(), Skipped: r.skipped.Load()}
}

// Start polls the running jobs in the background until Close.
func (r *Runner) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.cfg.Poll)
		defer t.Stop()
		for {
			r.poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops every job's work here (the jobs go on elsewhere, and here
// after a restart) and waits for it.
func (r *Runner) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	return nil
}

// poll starts the running jobs not yet running here and cancels those
// that no longer run.
func (r *Runner) poll(ctx context.Context) {
	jobs, err := r.cfg.Jobs.LoadJobs(ctx, true)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("load: listing jobs", "err", err)
		}
		return
	}
	running := map[string]bool{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range jobs {
		running[j.ID] = true
		if _, ok := r.mu.active[j.ID]; ok {
			continue
		}
		jctx, cancel := context.WithCancel(ctx)
		r.mu.active[j.ID] = cancel
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.run(jctx, j)
			r.mu.Lock()
			delete(r.mu.active, j.ID)
			r.mu.Unlock()
			cancel()
		}()
	}
	for id, cancel := range r.mu.active {
		if !running[id] {
			cancel()
		}
	}
}

// ring returns the ring of the live workers; nil when this worker is not
// on it (it owns nothing then).
func (r *Runner) ring(ctx context.Context) (*ring.Ring, error) {
	if r.cfg.Members == nil {
		return ring.New(ring.Default(), []string{r.cfg.Worker})
	}
	p, ids, err := r.cfg.Members(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if id == r.cfg.Worker {
			return ring.New(p, ids)
		}
	}
	return nil, nil
}

func (r *Runner) owns(rg *ring.Ring, key string) bool {
	if rg == nil {
		return false
	}
	id, ok := rg.Place(key)
	return ok && id == r.cfg.Worker
}

// run works on job j here until it is no longer running or ctx ends.
func (r *Runner) run(ctx context.Context, j meta.LoadJob) {
	r.log.Info("load: job started here", "job", j.ID, "path", j.Path, "worker", r.cfg.Worker)
	var lim *rate.Limiter
	if bw := j.Options.Bandwidth; bw > 0 {
		lim = rate.NewLimiter(rate.Limit(bw), int(min(bw, readChunk)))
	}
	for ctx.Err() == nil {
		rg, err := r.ring(ctx)
		if err != nil {
			r.wait(ctx, "members", err)
			continue
		}
		if !j.Listed && r.owns(rg, "load:"+j.ID) {
			if err := r.walk(ctx, j); err != nil {
				r.wait(ctx, "walk", err)
				continue
			}
		}
		did, err := r.pass(ctx, j, rg, lim)
		if err != nil {
			r.wait(ctx, "loading", err)
			continue
		}
		st, ended, err := r.cfg.Jobs.ReportLoad(ctx, j.ID, r.cfg.Worker, nil)
		if err != nil {
			r.wait(ctx, "report", err)
			continue
		}
		if st != meta.LoadRunning {
			if ended {
				r.purge(ctx, j.ID)
			}
			r.log.Info("load: job over here", "job", j.ID, "state", st.String())
			return
		}
		if nj, err := r.cfg.Jobs.LoadJob(ctx, j.ID); err == nil {
			j = nj
		}
		if !did {
			r.sleep(ctx)
		}
	}
}

func (r *Runner) wait(ctx context.Context, what string, err error) {
	if ctx.Err() == nil {
		r.log.Warn("load: "+what, "worker", r.cfg.Worker, "err", err)
	}
	r.sleep(ctx)
}

func (r *Runner) sleep(ctx context.Context) {
	t := time.NewTimer(r.cfg.Poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// purge deletes an ended job's file records (its counts stay).
func (r *Runner) purge(ctx context.Context, id string) {
	for ctx.Err() == nil {
		n, err := r.cfg.Jobs.PurgeLoadFiles(ctx, id, meta.MaxLoadBatch)
		if err != nil || n == 0 {
			return
		}
	}
}

// walk records every regular file under j.Path, in batches.
func (r *Runner) walk(ctx context.Context, j meta.LoadJob) error {
	fsys := r.cfg.FS(ctx)
	w := meta.LoadWalk{Worker: r.cfg.Worker}
	var batch []meta.LoadFile
	flush := func() error {
		st, err := r.cfg.Jobs.AddLoadFiles(ctx, j.ID, batch, w)
		batch = batch[:0]
		if err == nil && st != meta.LoadRunning {
			return context.Canceled
		}
		return err
	}
	add := func(p string, size int64) error {
		batch = append(batch, meta.LoadFile{Path: p, Size: size})
		w.Files++
		w.Bytes += size
		if len(batch) == meta.MaxLoadBatch {
			return flush()
		}
		return nil
	}
	fi, err := fsys.Stat(j.Path)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.Complete, w.Err = true, err.Error()
		_, err := r.cfg.Jobs.AddLoadFiles(ctx, j.ID, nil, w)
		return err
	}
	var visit func(dir string) error
	visit = func(dir string) error {
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A directory removed under the walk: its files are not part
			// of the job.
			r.log.Warn("load: listing", "job", j.ID, "dir", dir, "err", err)
			return nil
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name())
			switch {
			case e.IsDir():
				if err := visit(p); err != nil {
					return err
				}
			case e.Type().IsRegular():
				info, err := e.Info()
				if err != nil {
					continue
				}
				if err := add(p, info.Size()); err != nil {
					return err
				}
			}
		}
		return nil
	}
	switch {
	case fi.IsDir():
		err = visit(j.Path)
	case fi.Mode().IsRegular():
		err = add(j.Path, fi.Size())
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	w.Complete = true
	return flush()
}

// pass loads the pending files this worker owns, reporting in batches.
// It reports whether it loaded any.
func (r *Runner) pass(ctx context.Context, j meta.LoadJob, rg *ring.Ring, lim *rate.Limiter) (bool, error) {
	if rg == nil {
		return false, nil
	}
	fsys := r.cfg.FS(ctx)
	var batch []meta.LoadDone
	last := time.Now()
	did := false
	stopped := false
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		st, _, err := r.cfg.Jobs.ReportLoad(ctx, j.ID, r.cfg.Worker, batch)
		if err != nil {
			return err
		}
		batch, last = batch[:0], time.Now()
		stopped = st != meta.LoadRunning
		return nil
	}
	after := ""
	for !stopped {
		files, err := r.cfg.Jobs.LoadFiles(ctx, j.ID, after, 1024)
		if err != nil {
			return did, err
		}
		for _, f := range files {
			if f.State != meta.LoadFilePending || !r.owns(rg, f.Path) {
				continue
			}
			d := r.loadFile(ctx, fsys, j, f, lim)
			if ctx.Err() != nil {
				return did, ctx.Err()
			}
			did = true
			batch = append(batch, d)
			if len(batch) >= reportBatch || time.Since(last) >= reportEvery {
				if err := flush(); err != nil {
					return did, err
				}
				if stopped {
					return did, nil
				}
			}
		}
		if len(files) < 1024 {
			break
		}
		after = files[len(files)-1].Path
	}
	return did, flush()
}

// loadFile reads f through the client (and, with Verify, again).
func (r *Runner) loadFile(ctx context.Context, fsys FS, j meta.LoadJob, f meta.LoadFile, lim *rate.Limiter) meta.LoadDone {
	d := meta.LoadDone{Path: f.Path}
	if j.Options.SkipCached && r.cfg.Cache != nil {
		if ok, err := r.cfg.Cache.Cached(ctx, f.Path, f.Size); err == nil && ok {
			d.Skipped = true
			r.files.Add(1)
			r.skipped.Add(1)
			return d
		}
	}
	n, sum, err := r.read(ctx, fsys, f.Path, lim)
	if err == nil && j.Options.Verify {
		var n2 int64
		var sum2 uint32
		n2, sum2, err = r.read(ctx, fsys, f.Path, lim)
		if err == nil && (n2 != n || sum2 != sum) {
			err = fmt.Errorf("load: verify: second read gave %d bytes crc32c %08x, first %d bytes %08x", n2, sum2, n, sum)
		}
		if err == nil && n != f.Size {
			err = fmt.Errorf("load: verify: read %d bytes, the walk found %d", n, f.Size)
		}
	}
	d.Bytes = n
	if err != nil {
		d.Err = err.Error()
		r.failures.Add(1)
		return d
	}
	r.files.Add(1)
	return d
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// read reads the whole file, paced by lim, and returns its length and
// CRC32C.
func (r *Runner) read(ctx context.Context, fsys FS, p string, lim *rate.Limiter) (int64, uint32, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	buf := make([]byte, readChunk)
	if lim != nil && int64(lim.Burst()) < readChunk {
		buf = buf[:lim.Burst()]
	}
	var n int64
	var sum uint32
	for {
		k, err := f.Read(buf)
		if k > 0 {
			n += int64(k)
			sum = crc32.Update(sum, castagnoli, buf[:k])
			r.bytes.Add(int64(k))
			if lim != nil {
				if werr := lim.WaitN(ctx, k); werr != nil {
					return n, sum, werr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return n, sum, nil
		}
		if err != nil {
			return n, sum, err
		}
	}
}

// Unrooted adapts an io/fs-style FS, whose names have no leading slash
// (a *shoal.Client's Stat, ReadDir and Open follow fs.ValidPath), to the
// absolute names a Runner uses.
func Unrooted(f FS) FS { return unrooted{f} }

type unrooted struct{ f FS }

func rel(name string) string {
	if name = strings.TrimLeft(name, "/"); name == "" {
		return "."
	}
	return name
}

func (u unrooted) Stat(name string) (fs.FileInfo, error)      { return u.f.Stat(rel(name)) }
func (u unrooted) ReadDir(name string) ([]fs.DirEntry, error) { return u.f.ReadDir(rel(name)) }
func (u unrooted) Open(name string) (fs.File, error)          { return u.f.Open(rel(name)) }
