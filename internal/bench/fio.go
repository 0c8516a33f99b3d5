package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/shoalfs/shoal/internal/fserr"
)

// fio jobs of a mount run: sequential 1 MiB write then read, then 4 KiB
// random reads, each with fioJobsN jobs at queue depth fioDepth through
// libaio on buffered files (direct=0). Buffered libaio submits each I/O
// synchronously (io_submit returns once the page cache has it), so the
// depth is what fio asks, not what the kernel sees: the concurrency a
// FUSE mount gets is the 4 jobs. The files are written by the first job
// and shared by the later ones (one per job), so reads are warm in the
// page cache on both mounts, as in the big-file workload.
const (
	fioJobsN = 4
	fioDepth = 32
	fioEng   = "libaio"
)

type fioJob struct {
	name, rw, bs, unit string
}

var fioJobs = []fioJob{
	{"fio.seqwrite.1m", "write", "1m", "MiB/s"},
	{"fio.seqread.1m", "read", "1m", "MiB/s"},
	{"fio.randread.4k", "randread", "4k", "IOPS"},
}

// FioResult is one fio job on the mount and on the ceiling.
type FioResult struct {
	Job     string  `json:"job"`
	Unit    string  `json:"unit"`
	Args    string  `json:"args"`
	Mount   Stats   `json:"mount"`
	Ceiling Stats   `json:"ceiling"`
	Ratio   float64 `json:"ratio"`
}

func (j fioJob) args(dir string, o Options) []string {
	a := []string{
		"--name=shoal-bench", "--directory=" + dir, "--filename_format=fio.$jobnum",
		"--rw=" + j.rw, "--bs=" + j.bs, "--ioengine=" + fioEng, "--direct=0",
		"--iodepth=" + strconv.Itoa(fioDepth), "--numjobs=" + strconv.Itoa(fioJobsN),
		"--size=" + strconv.FormatInt(o.FioSize, 10), "--group_reporting", "--output-format=json",
	}
	if j.rw == "write" {
		a = append(a, "--end_fsync=1")
	}
	if o.FioRuntime > 0 {
		a = append(a, fmt.Sprintf("--runtime=%dms", o.FioRuntime.Milliseconds()))
	}
	return a
}

// describe is the job's fio arguments without the per-target directory.
func (j fioJob) describe(o Options) string {
	return fmt.Sprintf("--rw=%s --bs=%s --ioengine=%s --direct=0 --iodepth=%d --numjobs=%d --size=%s per job",
		j.rw, j.bs, fioEng, fioDepth, fioJobsN, FormatSize(o.FioSize))
}

func fioPath() (string, error) {
	p, err := exec.LookPath("fio")
	if err != nil {
		return "", errors.New("fio is not installed (Debian package fio)")
	}
	return p, nil
}

// fioOutput is the part of fio's JSON report used: with group_reporting
// one entry for all jobs.
type fioOutput struct {
	Jobs []struct {
		Error int     `json:"error"`
		Read  fioStat `json:"read"`
		Write fioStat `json:"write"`
	} `json:"jobs"`
}

type fioStat struct {
	BwBytes float64 `json:"bw_bytes"`
	IOPS    float64 `json:"iops"`
}

// parseFio returns the job's figure in its unit from fio's JSON output.
func parseFio(out []byte, j fioJob) (float64, error) {
	// fio may print notes before the JSON object.
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	var rep fioOutput
	if err := json.Unmarshal(out, &rep); err != nil {
		return 0, fserr.Errorf("bench.fio", fserr.IO, "%s: fio output is not its JSON report: %v", j.name, err)
	}
	if len(rep.Jobs) == 0 {
		return 0, fserr.Errorf("bench.fio", fserr.IO, "%s: fio reported no job", j.name)
	}
	r := rep.Jobs[0]
	if r.Error != 0 {
		return 0, fserr.Errorf("bench.fio", fserr.IO, "%s: fio job error %d", j.name, r.Error)
	}
	st := r.Read
	if j.rw == "write" {
		st = r.Write
	}
	if j.unit == "IOPS" {
		return st.IOPS, nil
	}
	return st.BwBytes / (1 << 20), nil
}

func runFio(ctx context.Context, bin string, j fioJob, dir string, o Options) (float64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, bin, j.args(dir, o)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fserr.Errorf("bench.fio", fserr.IO, "%s: fio: %v: %s", j.name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return parseFio(out, j)
}
