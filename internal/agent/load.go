package agent

import (
	"encoding/json"

	shoal "github.com/shoalfs/shoal"
)

// Load jobs for the Python SDK's submit_load, load_progress and
// stop_load (alluxiofs's names): the reply is the job as the SDK's JSON
// (shoal.LoadJob), which the Python side returns as a dict.

func replyJob(r *req, j shoal.LoadJob) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	r.e.bytes(b)
	return nil
}

func opLoadSubmit(r *req) error {
	d := r.d
	path, bw, verify, skip := r.pathArg(), d.int(), d.int() != 0, d.int() != 0
	if d.err != nil {
		return d.err
	}
	j, err := r.cl.SubmitLoad(path, shoal.LoadOptions{Bandwidth: bw, Verify: verify, SkipCached: skip})
	if err != nil {
		return err
	}
	return replyJob(r, j)
}

func opLoadProgress(r *req) error {
	ref := r.pathArg()
	if r.d.err != nil {
		return r.d.err
	}
	j, err := r.cl.LoadProgress(ref)
	if err != nil {
		return err
	}
	return replyJob(r, j)
}

func opLoadStop(r *req) error {
	ref := r.pathArg()
	if r.d.err != nil {
		return r.d.err
	}
	j, err := r.cl.StopLoad(ref)
	if err != nil {
		return err
	}
	return replyJob(r, j)
}
