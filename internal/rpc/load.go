package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
)

// The Load service carries meta.Loader over the caller's filesystem
// (shoal-fs), outside any session: a job belongs to the filesystem, not
// to the client that submitted it. Submit and Stop start and end work on
// every worker, and the worker-facing calls write progress, so all of
// them need a super token when tokens are on; Progress and List only
// read and are open to any token.

type loadServer struct {
	pb.UnimplementedLoadServer
	s *Server
}

func (ls *loadServer) loader(ctx context.Context, method string, super bool) (context.Context, *meta.FS, error) {
	ctx, c, err := ls.s.state(ctx, method)
	if err != nil {
		return ctx, nil, err
	}
	if super && !c.super {
		return ctx, nil, status.Error(codes.PermissionDenied, "rpc: load jobs: submitting, stopping and reporting need a super token")
	}
	if c.fs == nil {
		return ctx, nil, toStatus(fserr.Errorf("rpc.Load", fserr.Invalid, "rpc: load calls need a filesystem"))
	}
	return ctx, c.fs, nil
}

func loadOptsToPB(o meta.LoadOptions) *pb.LoadOptions {
	return &pb.LoadOptions{Bandwidth: o.Bandwidth, Verify: o.Verify, SkipCached: o.SkipCached}
}

func loadOptsOfPB(o *pb.LoadOptions) meta.LoadOptions {
	if o == nil {
		return meta.LoadOptions{}
	}
	return meta.LoadOptions{Bandwidth: o.Bandwidth, Verify: o.Verify, SkipCached: o.SkipCached}
}

func failuresToPB(fs []meta.LoadFailure) []*pb.LoadFailure {
	out := make([]*pb.LoadFailure, len(fs))
	for i, f := range fs {
		out[i] = &pb.LoadFailure{Path: f.Path, Err: f.Err, Worker: f.Worker}
	}
	return out
}

func failuresOfPB(fs []*pb.LoadFailure) []meta.LoadFailure {
	out := make([]meta.LoadFailure, len(fs))
	for i, f := range fs {
		out[i] = meta.LoadFailure{Path: f.Path, Err: f.Err, Worker: f.Worker}
	}
	return out
}

func nsTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func timeNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func loadJobToPB(j meta.LoadJob) *pb.LoadJob {
	out := &pb.LoadJob{Id: j.ID, Path: j.Path, Options: loadOptsToPB(j.Options), State: uint32(j.State),
		Created: timeNS(j.Created), Ended: timeNS(j.Ended), Listed: j.Listed, Files: j.Files, Bytes: j.Bytes,
		DoneFiles: j.DoneFiles, DoneBytes: j.DoneBytes, SkippedFiles: j.SkippedFiles, FailedFiles: j.FailedFiles,
		Failures: failuresToPB(j.Failures), Err: j.Err}
	for _, w := range j.Workers {
		out.Workers = append(out.Workers, &pb.LoadWorker{Id: w.ID, FoundFiles: w.FoundFiles, FoundBytes: w.FoundBytes,
			DoneFiles: w.DoneFiles, DoneBytes: w.DoneBytes, SkippedFiles: w.SkippedFiles, FailedFiles: w.FailedFiles,
			Failures: failuresToPB(w.Failures), Updated: timeNS(w.Updated)})
	}
	return out
}

func loadJobOfPB(j *pb.LoadJob) meta.LoadJob {
	if j == nil {
		return meta.LoadJob{}
	}
	out := meta.LoadJob{ID: j.Id, Path: j.Path, Options: loadOptsOfPB(j.Options), State: meta.LoadState(j.State),
		Created: nsTime(j.Created), Ended: nsTime(j.Ended), Listed: j.Listed, Files: j.Files, Bytes: j.Bytes,
		DoneFiles: j.DoneFiles, DoneBytes: j.DoneBytes, SkippedFiles: j.SkippedFiles, FailedFiles: j.FailedFiles,
		Failures: failuresOfPB(j.Failures), Err: j.Err}
	for _, w := range j.Workers {
		out.Workers = append(out.Workers, meta.LoadWorker{ID: w.Id, FoundFiles: w.FoundFiles, FoundBytes: w.FoundBytes,
			DoneFiles: w.DoneFiles, DoneBytes: w.DoneBytes, SkippedFiles: w.SkippedFiles, FailedFiles: w.FailedFiles,
			Failures: failuresOfPB(w.Failures), Updated: nsTime(w.Updated)})
	}
	return out
}

func (ls *loadServer) Submit(ctx context.Context, r *pb.LoadSubmitRequest) (*pb.LoadSubmitReply, error) {
	ctx, fs, err := ls.loader(ctx, pb.Load_Submit_FullMethodName, true)
	if err != nil {
		return nil, err
	}
	j, created, err := fs.SubmitLoad(ctx, r.Path, loadOptsOfPB(r.Options))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.LoadSubmitReply{Job: loadJobToPB(j), Created: created}, nil
}

func (ls *loadServer) find(ctx context.Context, fs *meta.FS, r *pb.LoadRef) (meta.LoadJob, error) {
	if r.Id != "" {
		return fs.LoadJob(ctx, r.Id)
	}
	return fs.LoadJobOfPath(ctx, r.Path)
}

func (ls *loadServer) Progress(ctx context.Context, r *pb.LoadRef) (*pb.LoadJob, error) {
	ctx, fs, err := ls.loader(ctx, pb.Load_Progress_FullMethodName, false)
	if err != nil {
		return nil, err
	}
	j, err := ls.find(ctx, fs, r)
	if err != nil {
		return nil, toStatus(err)
	}
	return loadJobToPB(j), nil
}

func (ls *loadServer) Stop(ctx context.Context, r *pb.LoadRef) (*pb.LoadJob, error) {
	ctx, fs, err := ls.loader(ctx, pb.Load_Stop_FullMethodName, true)
	if err != nil {
		return nil, err
	}
	id := r.Id
	if id == "" {
		j, err := fs.LoadJobOfPath(ctx, r.Path)
		if err != nil {
			return nil, toStatus(err)
		}
		id = j.ID
	}
	j, err := fs.StopLoad(ctx, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return loadJobToPB(j), nil
}

func (ls *loadServer) List(ctx context.Context, r *pb.LoadListRequest) (*pb.LoadJobs, error) {
	ctx, fs, err := ls.loader(ctx, pb.Load_List_FullMethodName, false)
	if err != nil {
		return nil, err
	}
	js, err := fs.LoadJobs(ctx, r.Running)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.LoadJobs{Jobs: make([]*pb.LoadJob, len(js))}
	for i, j := range js {
		out.Jobs[i] = loadJobToPB(j)
	}
	return out, nil
}

func (ls *loadServer) AddFiles(ctx context.Context, r *pb.LoadAddFilesRequest) (*pb.LoadStateReply, error) {
	ctx, fs, err := ls.loader(ctx, pb.Load_AddFiles_FullMethodName, true)
	if err != nil {
		return nil, err
	}
	files := make([]meta.LoadFile, len(r.Files))
	for i, f := range r.Files {
		files[i] = meta.LoadFile{Path: f.Path, Size: f.Size}
	}
	st, err := fs.AddLoadFiles(ctx, r.Id, files, meta.LoadWalk{Worker: r.Worker, Files: r.FoundFiles, Bytes: r.FoundBytes,
		Complete: r.Complete, Err: r.Err})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.LoadStateReply{State: uint32(st)}, nil
}

func (ls *loadServer) Files(ctx context.Context, r *pb.LoadFilesRequest) (*pb.LoadFiles, error) {
	ctx, fs, err := ls.loader(ctx, pb.Load_Files_FullMethodName, true)
	if err != nil {
		return nil, err
	}
	files, err := fs.LoadFiles(ctx, r.Id, r.After, int(r.Limit))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.LoadFiles{Files: make([]*pb.LoadFile, len(files))}
	for i, f := range files {
		out.Files[i] = &pb.LoadFile{Path: f.Path, Size: f.Size, State: uint32(f.State)}
	}
	return out, nil
}

func (ls *loadServer) Report(ctx context.Context, r *pb.LoadReportRequest) (*pb.LoadStateReply, error) {
	ctx, fs, err := ls.loader(ctx, pb.Load_Report_FullMethodName, true)
	if err != nil {
		return nil, err
	}
	done := make([]meta.LoadDone, len(r.Done))
	for i, d := range r.Done {
		done[i] = meta.LoadDone{Path: d.Path, Bytes: d.Bytes, Skipped: d.Skipped, Err: d.Err}
	}
	st, ended, err := fs.ReportLoad(ctx, r.Id, r.Worker, done)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.LoadStateReply{State: uint32(st), Ended: ended}, nil
}

func (ls *loadServer) Purge(ctx context.Context, r *pb.LoadPurgeRequest) (*pb.LoadStateReply, error) {
	ctx, fs, err := ls.loader(ctx, pb.Load_Purge_FullMethodName, true)
	if err != nil {
		return nil, err
	}
	n, err := fs.PurgeLoadFiles(ctx, r.Id, int(r.Limit))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.LoadStateReply{Count: int64(n)}, nil
}

var _ meta.Loader = (*metaClient)(nil)

func doLoad[R any](ctx context.Context, c *Conn, op string, fn func(ctx context.Context, lc pb.LoadClient) (R, error)) (R, error) {
	var out R
	if c.closed.Load() {
		return out, fserr.Errorf(op, fserr.Closed, "rpc: connection closed")
	}
	err := c.invoke(ctx, op, false, nil, callOpts{noSession: true}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		out, err = fn(ctx, pb.NewLoadClient(cc))
		return err
	})
	return out, err
}

// SubmitLoad is meta.Loader's over the Load service. A retry after a
// lost reply is harmless: the second submit finds the running job.
func (m *metaClient) SubmitLoad(ctx context.Context, path string, o meta.LoadOptions) (meta.LoadJob, bool, error) {
	r, err := doLoad(ctx, m.c, "rpc.SubmitLoad", func(ctx context.Context, lc pb.LoadClient) (*pb.LoadSubmitReply, error) {
		return lc.Submit(ctx, &pb.LoadSubmitRequest{Path: path, Options: loadOptsToPB(o)})
	})
	if err != nil {
		return meta.LoadJob{}, false, err
	}
	return loadJobOfPB(r.Job), r.Created, nil
}

// LoadJob is meta.Loader's over the Load service.
func (m *metaClient) LoadJob(ctx context.Context, id string) (meta.LoadJob, error) {
	r, err := doLoad(ctx, m.c, "rpc.LoadJob", func(ctx context.Context, lc pb.LoadClient) (*pb.LoadJob, error) {
		return lc.Progress(ctx, &pb.LoadRef{Id: id})
	})
	return loadJobOfPB(r), err
}

// LoadJobOfPath is meta.Loader's over the Load service.
func (m *metaClient) LoadJobOfPath(ctx context.Context, path string) (meta.LoadJob, error) {
	r, err := doLoad(ctx, m.c, "rpc.LoadJobOfPath", func(ctx context.Context, lc pb.LoadClient) (*pb.LoadJob, error) {
		return lc.Progress(ctx, &pb.LoadRef{Path: path})
	})
	return loadJobOfPB(r), err
}

// LoadJobs is meta.Loader's over the Load service.
func (m *metaClient) LoadJobs(ctx context.Context, running bool) ([]meta.LoadJob, error) {
	r, err := doLoad(ctx, m.c, "rpc.LoadJobs", func(ctx context.Context, lc pb.LoadClient) (*pb.LoadJobs, error) {
		return lc.List(ctx, &pb.LoadListRequest{Running: running})
	})
	if err != nil {
		return nil, err
	}
	out := make([]meta.LoadJob, len(r.Jobs))
	for i, j := range r.Jobs {
		out[i] = loadJobOfPB(j)
	}
	return out, nil
}

// StopLoad is meta.Loader's over the Load service.
func (m *metaClient) StopLoad(ctx context.Context, id string) (meta.LoadJob, error) {
	r, err := doLoad(ctx, m.c, "rpc.StopLoad", func(ctx context.Context, lc pb.LoadClient) (*pb.LoadJob, error) {
		return lc.Stop(ctx, &pb.LoadRef{Id: id})
	})
	return loadJobOfPB(r), err
}

// AddLoadFiles is meta.Loader's over the Load service.
func (m *metaClient) AddLoadFiles(ctx context.Context, id string, files []meta.LoadFile, w meta.LoadWalk) (meta.LoadState, error) {
	req := &pb.LoadAddFilesRequest{Id: id, Worker: w.Worker, FoundFiles: w.Files, FoundBytes: w.Bytes, Complete: w.Complete, Err: w.Err}
	for _, f := range files {
		req.Files = append(req.Files, &pb.LoadFile{Path: f.Path, Size: f.Size})
	}
	r, err := doLoad(ctx, m.c, "rpc.AddLoadFiles", func(ctx context.Context, lc pb.LoadClient) (*pb.LoadStateReply, error) {
		return lc.AddFiles(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return meta.LoadState(r.State), nil
}

// LoadFiles is meta.Loader's over the Load service.
func (m *metaClient) LoadFiles(ctx context.Context, id, after string, limit int) ([]meta.LoadFile, error) {
	r, err := doLoad(ctx, m.c, "rpc.LoadFiles", func(ctx context.Context, lc pb.LoadClient) (*pb.LoadFiles, error) {
		return lc.Files(ctx, &pb.LoadFilesRequest{Id: id, After: after, Limit: int32(limit)})
	})
	if err != nil {
		return nil, err
	}
	out := make([]meta.LoadFile, len(r.Files))
	for i, f := range r.Files {
		out[i] = meta.LoadFile{Path: f.Path, Size: f.Size, State: meta.LoadFileState(f.State)}
	}
	return out, nil
}

// ReportLoad is meta.Loader's over the Load service. A retried report
// counts once: a file already finished is left as it is.
func (m *metaClient) ReportLoad(ctx context.Context, id, worker string, done []meta.LoadDone) (meta.LoadState, bool, error) {
	req := &pb.LoadReportRequest{Id: id, Worker: worker}
	for _, d := range done {
		req.Done = append(req.Done, &pb.LoadDone{Path: d.Path, Bytes: d.Bytes, Skipped: d.Skipped, Err: d.Err})
	}
	r, err := doLoad(ctx, m.c, "rpc.ReportLoad", func(ctx context.Context, lc pb.LoadClient) (*pb.LoadStateReply, error) {
		return lc.Report(ctx, req)
	})
	if err != nil {
		return 0, false, err
	}
	return meta.LoadState(r.State), r.Ended, nil
}

// PurgeLoadFiles is meta.Loader's over the Load service.
func (m *metaClient) PurgeLoadFiles(ctx context.Context, id string, limit int) (int, error) {
	r, err := doLoad(ctx, m.c, "rpc.PurgeLoadFiles", func(ctx context.Context, lc pb.LoadClient) (*pb.LoadStateReply, error) {
		return lc.Purge(ctx, &pb.LoadPurgeRequest{Id: id, Limit: int32(limit)})
	})
	if err != nil {
		return 0, err
	}
	return int(r.Count), nil
}
