package cli

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/datadir"
	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kv/badger"
	"github.com/shoalfs/shoal/internal/lockfile"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/rpc"
)

func envToken() string { return os.Getenv("SHOAL_TOKEN") }

func newAdminCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Administer a Shoal server or data directory (filesystems)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	fs := &cobra.Command{
		Use:   "fs",
		Short: "Create, list and delete named filesystems",
		Long: "A server (or data directory) holds named filesystems; \"default\" always exists.\n" +
			"Names are 1 to 64 of [a-zA-Z0-9._-]. Clients pick one with --fs NAME (shoal.WithFS).\n" +
			"Against a server with tokens, create and delete need a super token.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var t target
	targetFlags(fs, &t, true)
	fs.AddCommand(
		adminFSCmd(&t, "create NAME", "Create a filesystem", 1),
		adminFSCmd(&t, "list", "List the filesystems", 0),
		adminFSCmd(&t, "delete NAME", "Delete an empty filesystem (not \"default\")", 1),
	)
	cmd.AddCommand(fs)
	return cmd
}

// fsAdmin is the registry, on a server or in a data directory.
type fsAdmin interface {
	ListFS(ctx context.Context) ([]meta.FSInfo, error)
	CreateFS(ctx context.Context, name string) (meta.FSInfo, error)
	DeleteFS(ctx context.Context, name string) error
}

func adminFSCmd(t *target, use, short string, nargs int) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(nargs)}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := t.resolve(cmd); err != nil {
			return err
		}
		r := newReporter(cmd)
		a, closeAdmin, err := openAdmin(cmd.Context(), t)
		if err != nil {
			r.fail(t.String(), err)
			return r.err()
		}
		defer func() {
			if err := closeAdmin(); err != nil {
				r.fail(t.String(), err)
			}
		}()
		ctx, w := cmd.Context(), cmd.OutOrStdout()
		switch cmd.Name() {
		case "create":
			info, err := a.CreateFS(ctx, args[0])
			if err != nil {
				r.fail(args[0], err)
				break
			}
			fmt.Fprintf(w, "created filesystem %s (id %d)\n", info.Name, info.ID)
		case "delete":
			if err := a.DeleteFS(ctx, args[0]); err != nil {
				r.fail(args[0], err)
				break
			}
			fmt.Fprintf(w, "deleted filesystem %s\n", args[0])
		case "list":
			list, err := a.ListFS(ctx)
			if err != nil {
				r.fail("", err)
				break
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tCREATED")
			for _, f := range list {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", f.Name, f.ID, f.Created.Local().Format(time.DateTime))
			}
			tw.Flush()
		}
		return r.err()
	}
	return cmd
}

// openAdmin reaches the registry of t.
func openAdmin(ctx context.Context, t *target) (fsAdmin, func() error, error) {
	if t.remote() {
		conn, err := dialAdmin(ctx, t)
		if err != nil {
			return nil, nil, err
		}
		return conn.Admin(), conn.Close, nil
	}
	return openLocalAdmin(ctx, t.dir)
}

func dialAdmin(ctx context.Context, t *target) (*rpc.Conn, error) {
	return rpc.Dial(ctx, splitAddrs(t.addr), rpc.ClientOptions{Token: t.token, FSName: t.fs})
}

// localAdmin edits the registry of a data directory no server holds.
type localAdmin struct {
	dir string
	eng *badger.Engine
}

func openLocalAdmin(ctx context.Context, dir string) (fsAdmin, func() error, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, nil, err
	}
	lock, err := lockfile.Acquire(datadir.Lock(dir))
	if err != nil {
		return nil, nil, err
	}
	if err := datadir.Migrate(dir); err != nil {
		lock.Close()
		return nil, nil, err
	}
	eng, err := badger.Open(datadir.Meta(dir), badger.Options{})
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	if _, err := meta.EnsureDefaultFS(ctx, eng); err != nil {
		eng.Close()
		lock.Close()
		return nil, nil, err
	}
	closeFn := func() error {
		err := eng.Close()
		if lerr := lock.Close(); err == nil {
			err = lerr
		}
		return err
	}
	return &localAdmin{dir: dir, eng: eng}, closeFn, nil
}

func (a *localAdmin) ListFS(ctx context.Context) ([]meta.FSInfo, error) {
	return meta.ListFS(ctx, a.eng)
}

func (a *localAdmin) CreateFS(ctx context.Context, name string) (meta.FSInfo, error) {
	return meta.CreateFS(ctx, a.eng, name)
}

// DeleteFS also removes the filesystem's blocks: only garbage of deleted
// files can be left there, since the filesystem was empty.
func (a *localAdmin) DeleteFS(ctx context.Context, name string) error {
	info, err := meta.LookupFS(ctx, a.eng, name)
	if err != nil {
		return err
	}
	if err := meta.DeleteFS(ctx, a.eng, name); err != nil {
		return err
	}
	if err := os.RemoveAll(datadir.Blocks(a.dir, info.ID)); err != nil {
		return fserr.E("admin fs delete", name, err)
	}
	return nil
}
