package cli

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/meta"
	"github.com/shoalfs/shoal/internal/rpc"
	"github.com/shoalfs/shoal/internal/storage"
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
	var loc storageFlags
	targetFlags(fs, &t, true)
	loc.register(fs, true)
	fs.AddCommand(
		adminFSCmd(&t, &loc, "create NAME", "Create a filesystem", 1),
		adminFSCmd(&t, &loc, "list", "List the filesystems", 0),
		adminFSCmd(&t, &loc, "delete NAME", "Delete an empty filesystem (not \"default\")", 1),
	)
	cmd.AddCommand(fs, newAdminMigrateCmd(), newAdminMountCmd())
	return cmd
}

// fsAdmin is the registry, on a server or in a data directory.
type fsAdmin interface {
	ListFS(ctx context.Context) ([]meta.FSInfo, error)
	CreateFS(ctx context.Context, name string) (meta.FSInfo, error)
	DeleteFS(ctx context.Context, name string) error
}

func adminFSCmd(t *target, loc *storageFlags, use, short string, nargs int) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(nargs)}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := t.resolve(cmd); err != nil {
			return err
		}
		r := newReporter(cmd)
		if err := loc.check(t); err != nil {
			return err
		}
		a, closeAdmin, err := openAdmin(cmd.Context(), t, loc)
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
func openAdmin(ctx context.Context, t *target, loc *storageFlags) (fsAdmin, func() error, error) {
	if t.remote() {
		conn, err := dialAdmin(ctx, t)
		if err != nil {
			return nil, nil, err
		}
		return conn.Admin(), conn.Close, nil
	}
	return openLocalAdmin(ctx, t.dir, loc)
}

func dialAdmin(ctx context.Context, t *target) (*rpc.Conn, error) {
	return rpc.Dial(ctx, splitAddrs(t.addr), rpc.ClientOptions{Token: t.token, FSName: t.fs})
}

// localAdmin edits the registry of storage no server holds.
type localAdmin struct {
	st *storage.Storage
}

func openLocalAdmin(ctx context.Context, dir string, loc *storageFlags) (fsAdmin, func() error, error) {
	// Administering a directory that does not exist would create an
	// empty one; with both URLs given the directory holds only the lock.
	if loc.meta == "" || loc.store == "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, nil, err
		}
	}
	st, err := storage.Open(ctx, storage.Config{DataDir: dir, Meta: loc.meta, Store: loc.store})
	if err != nil {
		return nil, nil, err
	}
	if _, err := meta.EnsureDefaultFS(ctx, st.Engine.KV); err != nil {
		st.Close()
		return nil, nil, err
	}
	return &localAdmin{st: st}, st.Close, nil
}

func (a *localAdmin) ListFS(ctx context.Context) ([]meta.FSInfo, error) {
	return meta.ListFS(ctx, a.st.Engine.KV)
}

func (a *localAdmin) CreateFS(ctx context.Context, name string) (meta.FSInfo, error) {
	return meta.CreateFS(ctx, a.st.Engine.KV, name)
}

// DeleteFS also removes the filesystem's blocks: only garbage of deleted
// files can be left there, since the filesystem was empty.
func (a *localAdmin) DeleteFS(ctx context.Context, name string) error {
	info, err := meta.LookupFS(ctx, a.st.Engine.KV, name)
	if err != nil {
		return err
	}
	if err := meta.DeleteFS(ctx, a.st.Engine.KV, name); err != nil {
		return err
	}
	if err := a.st.Blocks.Remove(ctx, info.ID); err != nil {
		return fserr.E("admin fs delete", name, err)
	}
	return nil
}

// storageFlags are --meta and --store of the commands that open storage
// themselves (admin, fsck): where the engine and the blocks are when not
// under --data.
type storageFlags struct {
	meta, store string
}

func (f *storageFlags) register(cmd *cobra.Command, persistent bool) {
	flags := cmd.Flags()
	if persistent {
		flags = cmd.PersistentFlags()
	}
	flags.StringVar(&f.meta, "meta", "", "metadata engine URL instead of the one under --data (badger:///DIR, etcd://HOST:2379/PREFIX, postgres://USER@HOST/DB)")
	flags.StringVar(&f.store, "store", "", "block store URL instead of the one under --data (file:///DIR, s3://BUCKET/PREFIX?endpoint=URL)")
}

// check refuses URLs with --addr: a server has its storage already.
func (f *storageFlags) check(t *target) error {
	if t.remote() && (f.meta != "" || f.store != "") {
		return &usageError{"--meta and --store open storage directly; they exclude --addr, which reaches a server that has its own"}
	}
	return nil
}
