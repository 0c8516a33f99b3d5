package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc"

	pb "github.com/shoalfs/shoal/api/shoalv1"
	"github.com/shoalfs/shoal/internal/meta"
)

// AdminClient manages a server's filesystems and reads its status.
type AdminClient struct{ c *Conn }

// Status is what Admin.Status reports.
type Status struct {
	Version   string
	Started   time.Time
	Uptime    time.Duration
	Listen    []string
	BlockURLs []string
	FS        []FSStatus
	// EngineURL and StoreURL are the engine and block store the server
	// opened, secrets removed; "" from a server that does not report them.
	EngineURL, StoreURL string
}

// FSStatus is one filesystem's usage and sessions.
type FSStatus struct {
	meta.FSInfo
	Usage    meta.StatFS
	Sessions []meta.SessionInfo
}

func adminDo[R any](ctx context.Context, c *Conn, op string, fn func(ctx context.Context, a pb.AdminClient) (R, error)) (R, error) {
	var out R
	err := c.invoke(ctx, op, false, nil, callOpts{noSession: true}, func(ctx context.Context, cc *grpc.ClientConn, _ uint64) error {
		var err error
		out, err = fn(ctx, pb.NewAdminClient(cc))
		return err
	})
	return out, err
}

// ListFS lists the filesystems by name.
func (a *AdminClient) ListFS(ctx context.Context) ([]meta.FSInfo, error) {
	r, err := adminDo(ctx, a.c, "rpc.ListFS", func(ctx context.Context, ac pb.AdminClient) (*pb.FSList, error) {
		return ac.ListFS(ctx, empty)
	})
	if err != nil {
		return nil, err
	}
	out := make([]meta.FSInfo, len(r.Fs))
	for i, f := range r.Fs {
		out[i] = fsInfoFromPB(f)
	}
	return out, nil
}

// CreateFS creates filesystem name (Exist if taken).
func (a *AdminClient) CreateFS(ctx context.Context, name string) (meta.FSInfo, error) {
	r, err := adminDo(ctx, a.c, "rpc.CreateFS", func(ctx context.Context, ac pb.AdminClient) (*pb.FSInfo, error) {
		return ac.CreateFS(ctx, &pb.FSName{Name: name})
	})
	if err != nil {
		return meta.FSInfo{}, err
	}
	return fsInfoFromPB(r), nil
}

// DeleteFS deletes the empty filesystem name.
func (a *AdminClient) DeleteFS(ctx context.Context, name string) error {
	_, err := adminDo(ctx, a.c, "rpc.DeleteFS", func(ctx context.Context, ac pb.AdminClient) (*pb.Empty, error) {
		return ac.DeleteFS(ctx, &pb.FSName{Name: name})
	})
	return err
}

// Status reports the server, its filesystems' usage and their sessions.
func (a *AdminClient) Status(ctx context.Context) (Status, error) {
	r, err := adminDo(ctx, a.c, "rpc.Status", func(ctx context.Context, ac pb.AdminClient) (*pb.StatusReply, error) {
		return ac.Status(ctx, empty)
	})
	if err != nil {
		return Status{}, err
	}
	st := Status{Version: r.Version, Started: fromNano(r.Started), Uptime: time.Duration(r.Uptime),
		Listen: r.Listen, BlockURLs: r.BlockUrls, EngineURL: r.EngineUrl, StoreURL: r.StoreUrl}
	for _, f := range r.Fs {
		fs := FSStatus{FSInfo: fsInfoFromPB(f.Info), Usage: statFSFromPB(f.Usage)}
		for _, s := range f.Sessions {
			fs.Sessions = append(fs.Sessions, sessionInfoFromPB(s))
		}
		st.FS = append(st.FS, fs)
	}
	return st, nil
}
