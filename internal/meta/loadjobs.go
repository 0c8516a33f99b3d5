package meta

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv"
)

// Load jobs: a job prefetches every file under a path into the workers'
// caches (internal/load runs them). The job lives in the engine, under
// the filesystem's prefix, so it survives a restart of any process and
// every meta process on a shared engine serves it:
//
//	J n              the next job number (uint64)
//	J j n            the job: path, options, state, times, the walk's totals (JSON)
//	J p path         n of the running job of path (one per path: Submit's idempotence)
//	J f n path       one file of the job: state, size (binary, version byte first)
//	J w n worker     one worker's progress on the job: counts, first failures (JSON)
//
// Who writes what, so that two workers' reports never conflict on a
// record they both hold: the job record is written by Submit, Stop, the
// walk's last batch (AddLoadFiles with listed set) and the report that
// finds every file accounted for; a worker record only by its worker.
// A file goes from pending to done or failed once, in the transaction
// that adds it to the reporting worker's counts, so the counts summed
// over the workers are the number of files finished, whoever loaded them
// and however often (a file loaded twice while the ring changed counts
// once). The job ends when the walk is complete and the finished files
// reach its total.

// LoadState is a load job's state.
type LoadState uint8

// Load job states. Append only: they cross the wire.
const (
	LoadRunning   LoadState = 1
	LoadSucceeded LoadState = 2 // every file loaded
	LoadFailed    LoadState = 3 // every file tried, some failed (listed in Failures)
	LoadStopped   LoadState = 4 // stopped by a user
)

var loadStateNames = map[LoadState]string{LoadRunning: "running", LoadSucceeded: "succeeded", LoadFailed: "failed", LoadStopped: "stopped"}

// String is the state's lower-case name.
func (s LoadState) String() string {
	if n, ok := loadStateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("LoadState(%d)", uint8(s))
}

// ParseLoadState is String's inverse.
func ParseLoadState(s string) (LoadState, bool) {
	for k, v := range loadStateNames {
		if v == strings.ToLower(s) {
			return k, true
		}
	}
	return 0, false
}

// Limits of a load job's records.
const (
	// MaxLoadFailures is how many failures a worker record keeps in full
	// (and a job's view shows); beyond it they are only counted.
	MaxLoadFailures = 100
	// MaxLoadBatch bounds the files of one AddLoadFiles or ReportLoad
	// call: one transaction each, within what every engine takes.
	MaxLoadBatch = 64
	maxLoadErr   = 512
	loadPrefix   = "load-"
)

// LoadOptions are a job's options.
type LoadOptions struct {
	// Bandwidth bounds each worker's reads for the job, bytes/s (0: none).
	Bandwidth int64 `json:"bandwidth,omitempty"`
	// Verify reads each file a second time and compares (internal/load).
	Verify bool `json:"verify,omitempty"`
	// SkipCached skips files the worker's cache already holds.
	SkipCached bool `json:"skip_cached,omitempty"`
}

// LoadFailure is one file that failed, with the error as its worker saw it.
type LoadFailure struct {
	Path   string `json:"path"`
	Err    string `json:"err"`
	Worker string `json:"worker,omitempty"`
}

// LoadWorker is one worker's part of a job.
type LoadWorker struct {
	ID string `json:"-"`
	// FoundFiles and FoundBytes are what its walk found so far (the
	// walker only).
	FoundFiles int64 `json:"found_files,omitempty"`
	FoundBytes int64 `json:"found_bytes,omitempty"`
	DoneFiles  int64 `json:"done_files"`
	DoneBytes  int64 `json:"done_bytes"`
	// SkippedFiles are the done files it skipped as already cached.
	SkippedFiles int64         `json:"skipped_files,omitempty"`
	FailedFiles  int64         `json:"failed_files,omitempty"`
	Failures     []LoadFailure `json:"failures,omitempty"`
	Updated      time.Time     `json:"updated"`
}

// LoadJob is a job as stored, with its workers' progress summed.
type LoadJob struct {
	ID      string
	Path    string
	Options LoadOptions
	State   LoadState
	Created time.Time
	Ended   time.Time // zero while running
	// Listed is set once a walk of Path completed; Files and Bytes are
	// then its totals, before that the most any walk found so far.
	Listed       bool
	Files, Bytes int64
	// Done, Skipped (part of done) and failed, over every worker.
	DoneFiles, DoneBytes, SkippedFiles, FailedFiles int64
	// Failures are the first MaxLoadFailures, by path.
	Failures []LoadFailure
	Workers  []LoadWorker // by id
	// Err says why the walk itself failed (the path is gone...).
	Err string
}

// LoadFileState is a file's state in its job.
type LoadFileState uint8

// File states.
const (
	LoadFilePending LoadFileState = 0
	LoadFileDone    LoadFileState = 1
	LoadFileFailed  LoadFileState = 2
)

// LoadFile is a file of a job, as the walk found it.
type LoadFile struct {
	Path  string
	Size  int64
	State LoadFileState
}

// LoadDone is the outcome of loading one file, as a worker reports it.
type LoadDone struct {
	Path    string
	Bytes   int64  // read
	Skipped bool   // already cached: not read
	Err     string // non-empty: failed
}

// jobRecord is J j n.
type jobRecord struct {
	V       int         `json:"v"`
	Path    string      `json:"path"`
	Options LoadOptions `json:"options"`
	State   LoadState   `json:"state"`
	Created time.Time   `json:"created"`
	Ended   time.Time   `json:"ended,omitzero"`
	Listed  bool        `json:"listed,omitempty"`
	Files   int64       `json:"files,omitempty"`
	Bytes   int64       `json:"bytes,omitempty"`
	Err     string      `json:"err,omitempty"`
}

const (
	loadNext   = 'n'
	loadJobSub = 'j'
	loadPath   = 'p'
	loadFile   = 'f'
	loadWorker = 'w'
)

func (k *keys) loadNext() []byte { return append(k.tag(tagLoad, 1), loadNext) }
func (k *keys) loadJob(n uint64) []byte {
	return binary.BigEndian.AppendUint64(append(k.tag(tagLoad, 9), loadJobSub), n)
}
func (k *keys) loadPath(p string) []byte {
	return append(append(k.tag(tagLoad, 1+len(p)), loadPath), p...)
}
func (k *keys) loadSub(sub byte, n uint64, s string) []byte {
	b := binary.BigEndian.AppendUint64(append(k.tag(tagLoad, 9+len(s)), sub), n)
	return append(b, s...)
}

// LoadJobID is the id of job number n.
func LoadJobID(n uint64) string { return loadPrefix + strconv.FormatUint(n, 10) }

// ParseLoadJobID returns the number of id ("load-<n>"), ok false when id
// is not a job id.
func ParseLoadJobID(id string) (uint64, bool) {
	s, ok := strings.CutPrefix(id, loadPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n > 0
}

// cleanLoadPath checks a job's path: absolute and clean.
func cleanLoadPath(op, p string) (string, error) {
	if p == "" || p[0] != '/' || path.Clean(p) != p || len(p) > 4096 {
		return "", fserr.Errorf(op, fserr.Invalid, "meta: load: path %q must be absolute and clean", p)
	}
	return p, nil
}

func (fs *FS) jobNumber(op, id string) (uint64, error) {
	n, ok := ParseLoadJobID(id)
	if !ok {
		return 0, fserr.E(op, id, fserr.Invalid, fmt.Errorf("meta: %q is not a load job id (load-N)", id))
	}
	return n, nil
}

func getJob(tx kv.ReadTxn, k *keys, n uint64) (*jobRecord, error) {
	v, err := tx.Get(k.loadJob(n))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, fserr.E(fserr.NotFound, fmt.Errorf("meta: no load job %s", LoadJobID(n)))
	}
	if err != nil {
		return nil, err
	}
	var j jobRecord
	if err := json.Unmarshal(v, &j); err != nil || j.V != 1 {
		return nil, fserr.E(fserr.Corrupt, fmt.Errorf("meta: load job %s: bad record", LoadJobID(n)))
	}
	return &j, nil
}

func putJSON(tx kv.Txn, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(key, b)
}

// loadWorkers reads every worker record of job n, by id.
func loadWorkers(tx kv.ReadTxn, k *keys, n uint64) ([]LoadWorker, error) {
	start := k.loadSub(loadWorker, n, "")
	end := prefixEnd(start)
	var out []LoadWorker
	for {
		kvs, err := tx.Scan(start, end, 256, false)
		if err != nil {
			return nil, err
		}
		for _, p := range kvs {
			var w LoadWorker
			if err := json.Unmarshal(p.Value, &w); err != nil {
				return nil, fserr.E(fserr.Corrupt, fmt.Errorf("meta: load job %s: bad worker record", LoadJobID(n)))
			}
			w.ID = string(p.Key[len(start):])
			out = append(out, w)
		}
		if len(kvs) < 256 {
			return out, nil
		}
		start = append(append([]byte(nil), kvs[len(kvs)-1].Key...), 0)
	}
}

func getWorker(tx kv.ReadTxn, k *keys, n uint64, id string) (LoadWorker, error) {
	v, err := tx.Get(k.loadSub(loadWorker, n, id))
	if errors.Is(err, kv.ErrNotFound) {
		return LoadWorker{ID: id}, nil
	}
	if err != nil {
		return LoadWorker{}, err
	}
	var w LoadWorker
	if err := json.Unmarshal(v, &w); err != nil {
		return LoadWorker{}, fserr.E(fserr.Corrupt, fmt.Errorf("meta: load job %s: bad worker record", LoadJobID(n)))
	}
	w.ID = id
	return w, nil
}

// view assembles the job's public form from its record and workers.
func view(n uint64, j *jobRecord, ws []LoadWorker) LoadJob {
	out := LoadJob{ID: LoadJobID(n), Path: j.Path, Options: j.Options, State: j.State, Created: j.Created,
		Ended: j.Ended, Listed: j.Listed, Files: j.Files, Bytes: j.Bytes, Err: j.Err, Workers: ws}
	for _, w := range ws {
		if !j.Listed {
			out.Files, out.Bytes = max(out.Files, w.FoundFiles), max(out.Bytes, w.FoundBytes)
		}
		out.DoneFiles += w.DoneFiles
		out.DoneBytes += w.DoneBytes
		out.SkippedFiles += w.SkippedFiles
		out.FailedFiles += w.FailedFiles
		out.Failures = append(out.Failures, w.Failures...)
	}
	sort.Slice(out.Failures, func(a, b int) bool { return out.Failures[a].Path < out.Failures[b].Path })
	if len(out.Failures) > MaxLoadFailures {
		out.Failures = out.Failures[:MaxLoadFailures]
	}
	return out
}

// SubmitLoad starts a load job of p, or returns the job already running
// for p (created false): one transaction decides, so two submits of one
// path racing through different meta processes get the same job.
func (fs *FS) SubmitLoad(ctx context.Context, p string, o LoadOptions) (job LoadJob, created bool, err error) {
	const op = "meta.SubmitLoad"
	if err := fs.check(op); err != nil {
		return LoadJob{}, false, err
	}
	if p, err = cleanLoadPath(op, p); err != nil {
		return LoadJob{}, false, err
	}
	if o.Bandwidth < 0 {
		return LoadJob{}, false, fserr.Errorf(op, fserr.Invalid, "meta: load: bandwidth %d is negative", o.Bandwidth)
	}
	err = fs.eng.Update(ctx, func(tx kv.Txn) error {
		created = false
		v, err := tx.Get(fs.k.loadPath(p))
		switch {
		case err == nil && len(v) == 8:
			n := binary.BigEndian.Uint64(v)
			j, err := getJob(tx, &fs.k, n)
			if err == nil && j.State == LoadRunning {
				ws, err := loadWorkers(tx, &fs.k, n)
				if err != nil {
					return err
				}
				job = view(n, j, ws)
				return nil
			}
			if err != nil && !fserr.Is(fserr.NotFound, err) {
				return err
			}
			// A stale index entry (its job ended or vanished): replace it.
		case err != nil && !errors.Is(err, kv.ErrNotFound):
			return err
		}
		var n uint64 = 1
		if v, err := tx.Get(fs.k.loadNext()); err == nil && len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		} else if err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		if err := tx.Put(fs.k.loadNext(), binary.BigEndian.AppendUint64(nil, n+1)); err != nil {
			return err
		}
		j := &jobRecord{V: 1, Path: p, Options: o, State: LoadRunning, Created: time.Now().UTC()}
		if err := putJSON(tx, fs.k.loadJob(n), j); err != nil {
			return err
		}
		if err := tx.Put(fs.k.loadPath(p), binary.BigEndian.AppendUint64(nil, n)); err != nil {
			return err
		}
		job, created = view(n, j, nil), true
		return nil
	})
	return job, created, wrap(op, p, err)
}

// LoadJob returns job id.
func (fs *FS) LoadJob(ctx context.Context, id string) (LoadJob, error) {
	const op = "meta.LoadJob"
	n, err := fs.jobNumber(op, id)
	if err != nil {
		return LoadJob{}, err
	}
	var job LoadJob
	err = fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		j, err := getJob(tx, &fs.k, n)
		if err != nil {
			return err
		}
		ws, err := loadWorkers(tx, &fs.k, n)
		if err != nil {
			return err
		}
		job = view(n, j, ws)
		return nil
	})
	return job, wrap(op, id, err)
}

// LoadJobOfPath returns the running job of p, else the latest job of p
// (kind NotFound when p never had one).
func (fs *FS) LoadJobOfPath(ctx context.Context, p string) (LoadJob, error) {
	const op = "meta.LoadJobOfPath"
	p, err := cleanLoadPath(op, p)
	if err != nil {
		return LoadJob{}, err
	}
	var n uint64
	err = fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		n = 0
		v, err := tx.Get(fs.k.loadPath(p))
		if err == nil && len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
			return nil
		}
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		// The newest ended job of p: jobs scanned from the last.
		start := append(fs.k.tag(tagLoad, 1), loadJobSub)
		end := prefixEnd(start)
		for {
			kvs, err := tx.Scan(start, end, 256, true)
			if err != nil {
				return err
			}
			for _, e := range kvs {
				var j jobRecord
				if json.Unmarshal(e.Value, &j) == nil && j.Path == p {
					n = binary.BigEndian.Uint64(e.Key[len(start):])
					return nil
				}
			}
			if len(kvs) < 256 {
				return nil
			}
			end = kvs[len(kvs)-1].Key
		}
	})
	if err != nil {
		return LoadJob{}, wrap(op, p, err)
	}
	if n == 0 {
		return LoadJob{}, fserr.E(op, p, fserr.NotFound, errors.New("meta: no load job of this path"))
	}
	job, err := fs.LoadJob(ctx, LoadJobID(n))
	return job, wrap(op, p, err)
}

// LoadJobs lists the jobs, oldest first: only the running ones when
// running is set.
func (fs *FS) LoadJobs(ctx context.Context, running bool) ([]LoadJob, error) {
	const op = "meta.LoadJobs"
	var out []LoadJob
	err := fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		out = out[:0]
		start := append(fs.k.tag(tagLoad, 1), loadJobSub)
		end := prefixEnd(start)
		for {
			kvs, err := tx.Scan(start, end, 256, false)
			if err != nil {
				return err
			}
			for _, e := range kvs {
				n := binary.BigEndian.Uint64(e.Key[len(start):])
				j, err := getJob(tx, &fs.k, n)
				if err != nil {
					return err
				}
				if running && j.State != LoadRunning {
					continue
				}
				ws, err := loadWorkers(tx, &fs.k, n)
				if err != nil {
					return err
				}
				out = append(out, view(n, j, ws))
			}
			if len(kvs) < 256 {
				return nil
			}
			start = append(append([]byte(nil), kvs[len(kvs)-1].Key...), 0)
		}
	})
	return out, wrap(op, "", err)
}

// endJob marks a running job ended in state st and frees its path.
func (fs *FS) endJob(tx kv.Txn, n uint64, j *jobRecord, st LoadState) error {
	j.State, j.Ended = st, time.Now().UTC()
	if err := putJSON(tx, fs.k.loadJob(n), j); err != nil {
		return err
	}
	v, err := tx.Get(fs.k.loadPath(j.Path))
	if err == nil && len(v) == 8 && binary.BigEndian.Uint64(v) == n {
		return tx.Delete(fs.k.loadPath(j.Path))
	}
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	return nil
}

// StopLoad stops job id (the workers notice within their poll
// interval). Stopping an ended job changes nothing.
func (fs *FS) StopLoad(ctx context.Context, id string) (LoadJob, error) {
	const op = "meta.StopLoad"
	n, err := fs.jobNumber(op, id)
	if err != nil {
		return LoadJob{}, err
	}
	var job LoadJob
	err = fs.eng.Update(ctx, func(tx kv.Txn) error {
		j, err := getJob(tx, &fs.k, n)
		if err != nil {
			return err
		}
		if j.State == LoadRunning {
			if err := fs.endJob(tx, n, j, LoadStopped); err != nil {
				return err
			}
		}
		ws, err := loadWorkers(tx, &fs.k, n)
		if err != nil {
			return err
		}
		job = view(n, j, ws)
		return nil
	})
	return job, wrap(op, id, err)
}

func encodeLoadFile(f LoadFile) []byte {
	return binary.AppendUvarint([]byte{1, byte(f.State)}, uint64(f.Size))
}

func decodeLoadFile(p string, b []byte) (LoadFile, bool) {
	if len(b) < 3 || b[0] != 1 {
		return LoadFile{}, false
	}
	size, k := binary.Uvarint(b[2:])
	if k <= 0 {
		return LoadFile{}, false
	}
	return LoadFile{Path: p, State: LoadFileState(b[1]), Size: int64(size)}, true
}

// tryFinish ends job n when its walk is complete and every file it found
// is done or failed: succeeded, or failed when any failed.
func (fs *FS) tryFinish(tx kv.Txn, n uint64, j *jobRecord) (bool, error) {
	if !j.Listed || j.State != LoadRunning {
		return false, nil
	}
	ws, err := loadWorkers(tx, &fs.k, n)
	if err != nil {
		return false, err
	}
	var finished, failed int64
	for _, w := range ws {
		finished += w.DoneFiles + w.FailedFiles
		failed += w.FailedFiles
	}
	if finished < j.Files {
		return false, nil
	}
	st := LoadSucceeded
	if failed > 0 {
		st = LoadFailed
	}
	return true, fs.endJob(tx, n, j, st)
}

// LoadWalk is what a walker reports with a batch of files it found.
type LoadWalk struct {
	Worker string
	// Files and Bytes are what the walk found so far, this batch included.
	Files, Bytes int64
	// Complete marks the walk's last batch: Files and Bytes become the
	// job's totals.
	Complete bool
	// Err, with Complete, ends the job as failed: the walk could not
	// list the path (it is gone, not a directory or file...).
	Err string
}

// AddLoadFiles records files the walk of job id found (at most
// MaxLoadBatch), as pending unless already recorded (a second walk after
// its walker died adds only what the first did not). It returns the
// job's state: a walker stops when it is no longer running.
func (fs *FS) AddLoadFiles(ctx context.Context, id string, files []LoadFile, w LoadWalk) (LoadState, error) {
	const op = "meta.AddLoadFiles"
	n, err := fs.jobNumber(op, id)
	if err != nil {
		return 0, err
	}
	if len(files) > MaxLoadBatch {
		return 0, fserr.Errorf(op, fserr.Invalid, "meta: load: %d files in one batch (at most %d)", len(files), MaxLoadBatch)
	}
	if w.Worker == "" {
		return 0, fserr.Errorf(op, fserr.Invalid, "meta: load: a walk report names its worker")
	}
	for _, f := range files {
		if _, err := cleanLoadPath(op, f.Path); err != nil {
			return 0, err
		}
	}
	var st LoadState
	err = fs.eng.Update(ctx, func(tx kv.Txn) error {
		j, err := getJob(tx, &fs.k, n)
		if err != nil {
			return err
		}
		st = j.State
		if j.State != LoadRunning {
			return nil
		}
		for _, f := range files {
			key := fs.k.loadSub(loadFile, n, f.Path)
			if _, err := tx.Get(key); err == nil {
				continue
			} else if !errors.Is(err, kv.ErrNotFound) {
				return err
			}
			if err := tx.Put(key, encodeLoadFile(LoadFile{Size: f.Size})); err != nil {
				return err
			}
		}
		rec, err := getWorker(tx, &fs.k, n, w.Worker)
		if err != nil {
			return err
		}
		rec.FoundFiles, rec.FoundBytes, rec.Updated = w.Files, w.Bytes, time.Now().UTC()
		if err := putJSON(tx, fs.k.loadSub(loadWorker, n, w.Worker), rec); err != nil {
			return err
		}
		if !w.Complete {
			return nil
		}
		if w.Err != "" {
			j.Err = truncErr(w.Err)
			st = LoadFailed
			return fs.endJob(tx, n, j, LoadFailed)
		}
		if !j.Listed {
			j.Listed, j.Files, j.Bytes = true, w.Files, w.Bytes
			if err := putJSON(tx, fs.k.loadJob(n), j); err != nil {
				return err
			}
		}
		if _, err := fs.tryFinish(tx, n, j); err != nil {
			return err
		}
		st = j.State
		return nil
	})
	return st, wrap(op, id, err)
}

// LoadFiles returns up to limit files of job id after the path after, in
// path order (after "" is the start).
func (fs *FS) LoadFiles(ctx context.Context, id, after string, limit int) ([]LoadFile, error) {
	const op = "meta.LoadFiles"
	n, err := fs.jobNumber(op, id)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1024 {
		limit = 1024
	}
	var out []LoadFile
	err = fs.eng.View(ctx, func(tx kv.ReadTxn) error {
		out = out[:0]
		base := fs.k.loadSub(loadFile, n, "")
		start := fs.k.loadSub(loadFile, n, after)
		if after != "" {
			start = append(start, 0)
		}
		kvs, err := tx.Scan(start, prefixEnd(base), limit, false)
		if err != nil {
			return err
		}
		for _, e := range kvs {
			p := string(e.Key[len(base):])
			f, ok := decodeLoadFile(p, e.Value)
			if !ok {
				return fserr.E(fserr.Corrupt, fmt.Errorf("meta: load job %s: bad file record %q", id, p))
			}
			out = append(out, f)
		}
		return nil
	})
	return out, wrap(op, id, err)
}

func truncErr(s string) string {
	if len(s) > maxLoadErr {
		return s[:maxLoadErr] + "..."
	}
	return s
}

// ReportLoad records worker's outcomes (at most MaxLoadBatch files): each
// file still pending becomes done or failed and counts for worker; a file
// another worker finished meanwhile is left as it is. With no files it
// only checks whether the job is over. It returns the job's state, and
// ended true when this report ended the job.
func (fs *FS) ReportLoad(ctx context.Context, id, worker string, done []LoadDone) (st LoadState, ended bool, err error) {
	const op = "meta.ReportLoad"
	n, err := fs.jobNumber(op, id)
	if err != nil {
		return 0, false, err
	}
	if len(done) > MaxLoadBatch {
		return 0, false, fserr.Errorf(op, fserr.Invalid, "meta: load: %d files in one report (at most %d)", len(done), MaxLoadBatch)
	}
	if worker == "" {
		return 0, false, fserr.Errorf(op, fserr.Invalid, "meta: load: a report names its worker")
	}
	err = fs.eng.Update(ctx, func(tx kv.Txn) error {
		ended = false
		j, err := getJob(tx, &fs.k, n)
		if err != nil {
			return err
		}
		st = j.State
		if j.State != LoadRunning {
			return nil
		}
		if len(done) > 0 {
			rec, err := getWorker(tx, &fs.k, n, worker)
			if err != nil {
				return err
			}
			changed := false
			for _, d := range done {
				key := fs.k.loadSub(loadFile, n, d.Path)
				v, err := tx.Get(key)
				if errors.Is(err, kv.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				f, ok := decodeLoadFile(d.Path, v)
				if !ok || f.State != LoadFilePending {
					continue
				}
				f.State = LoadFileDone
				if d.Err != "" {
					f.State = LoadFileFailed
					rec.FailedFiles++
					if len(rec.Failures) < MaxLoadFailures {
						rec.Failures = append(rec.Failures, LoadFailure{Path: d.Path, Err: truncErr(d.Err), Worker: worker})
					}
				} else {
					rec.DoneFiles++
					rec.DoneBytes += d.Bytes
					if d.Skipped {
						rec.SkippedFiles++
					}
				}
				if err := tx.Put(key, encodeLoadFile(f)); err != nil {
					return err
				}
				changed = true
			}
			if changed {
				rec.Updated = time.Now().UTC()
				if err := putJSON(tx, fs.k.loadSub(loadWorker, n, worker), rec); err != nil {
					return err
				}
			}
		}
		if ended, err = fs.tryFinish(tx, n, j); err != nil {
			return err
		}
		st = j.State
		return nil
	})
	return st, ended, wrap(op, id, err)
}

// PurgeLoadFiles deletes up to limit file records of job id once it has
// ended (its counts and failures stay in the job and worker records),
// and reports how many it deleted: 0 means none are left.
func (fs *FS) PurgeLoadFiles(ctx context.Context, id string, limit int) (int, error) {
	const op = "meta.PurgeLoadFiles"
	n, err := fs.jobNumber(op, id)
	if err != nil {
		return 0, err
	}
	if limit <= 0 || limit > MaxLoadBatch {
		limit = MaxLoadBatch
	}
	deleted := 0
	err = fs.eng.Update(ctx, func(tx kv.Txn) error {
		deleted = 0
		j, err := getJob(tx, &fs.k, n)
		if err != nil || j.State == LoadRunning {
			return err
		}
		start := fs.k.loadSub(loadFile, n, "")
		kvs, err := tx.Scan(start, prefixEnd(start), limit, false)
		if err != nil {
			return err
		}
		for _, e := range kvs {
			if err := tx.Delete(e.Key); err != nil {
				return err
			}
		}
		deleted = len(kvs)
		return nil
	})
	return deleted, wrap(op, id, err)
}

// MarshalText writes the state's name, so JSON carries "running".
func (s LoadState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText is MarshalText's inverse.
func (s *LoadState) UnmarshalText(b []byte) error {
	v, ok := ParseLoadState(string(b))
	if !ok {
		return fmt.Errorf("meta: unknown load state %q", b)
	}
	*s = v
	return nil
}
