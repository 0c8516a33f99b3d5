package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
)

// newAdminMountCmd is `shoal admin mount URL PATH` with its list and
// unmount subcommands (docs/datasets.md).
func newAdminMountCmd() *cobra.Command {
	var t target
	var o shoal.MountOptions
	var mode string
	var readonly bool
	cmd := &cobra.Command{
		Use:   "mount URL PATH",
		Short: "Mount a dataset from an object store (s3://bucket/prefix, file:///dir) at PATH",
		Long: "Attach an existing object store prefix to a directory. PATH is created if missing; an existing\n" +
			"directory must be empty, and mounts do not nest. The mount is read-only (EROFS on every change)\n" +
			"unless --write-through. The record keeps the credentials file's path, never a secret: every\n" +
			"process that reads the store needs that file (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).\n" +
			"Needs root: a super token against a server (--addr), or the data directory itself (--data).",
		Args: cobra.ExactArgs(2),
	}
	f := cmd.Flags()
	f.StringVar(&o.Endpoint, "endpoint", "", "S3 server base URL (default: AWS)")
	f.StringVar(&o.Region, "region", "", "S3 region (default us-east-1)")
	f.StringVar(&o.CredentialsFile, "credentials-file", "", "AWS shared credentials file (its path is recorded, not its keys)")
	f.BoolVar(&o.PathStyle, "path-style", false, "path-style S3 addressing (endpoint/bucket/key)")
	f.DurationVar(&o.SyncInterval, "sync-interval", time.Minute, "how long loaded metadata is trusted before an access revalidates it")
	f.BoolVar(&readonly, "readonly", true, "refuse every change under the mount with EROFS (the default)")
	f.BoolVar(&o.WriteThrough, "write-through", false, "allow writes, each file PUT whole to the store at close (not built yet: refused)")
	f.Uint32Var(&o.Uid, "uid", 0, "owner of the mounted files")
	f.Uint32Var(&o.Gid, "gid", 0, "group of the mounted files")
	f.StringVar(&mode, "mode", "", "permission bits of the mounted files, octal (default 0444; directories add x where r)")
	targetFlags(cmd, &t, true)
	cmd.MarkFlagsMutuallyExclusive("readonly", "write-through")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if o.WriteThrough {
			return fserr.Errorf("mount", fserr.NotSupported, "shoal admin mount: --write-through is not built yet")
		}
		if mode != "" {
			var m uint32
			if _, err := fmt.Sscanf(mode, "%o", &m); err != nil || m > 0o777 {
				return fmt.Errorf("shoal admin mount: --mode %q: want octal permission bits such as 0444", mode)
			}
			o.Mode = m
		}
		return withClient(cmd, &t, func(c *shoal.Client) error {
			m, err := c.Mount(args[0], args[1], o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "mounted %s at %s (sync every %v, mode %#o)\n", m.URL, m.Path, m.SyncInterval, m.Mode)
			return nil
		})
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the dataset mounts (no secrets: credentials are shown as their file's path)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, &t, func(c *shoal.Client) error {
				l, err := c.Mounts()
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PATH\tURL\tENDPOINT\tCREDENTIALS\tSYNC\tMODE\tCREATED")
				for _, m := range l {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%#o\t%s\n", m.Path, m.URL, dash(m.Endpoint), dash(m.CredentialsFile),
						m.SyncInterval, m.Mode, m.Created.Local().Format(time.DateTime))
				}
				return tw.Flush()
			})
		},
	}
	unmount := &cobra.Command{
		Use:   "unmount PATH",
		Short: "Detach the dataset mount at PATH (the directory stays, empty)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, &t, func(c *shoal.Client) error {
				m, err := c.Unmount(args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "unmounted %s from %s\n", m.URL, m.Path)
				return nil
			})
		},
	}
	cmd.AddCommand(list, unmount)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// withClient opens t's client, runs fn and closes it.
func withClient(cmd *cobra.Command, t *target, fn func(c *shoal.Client) error) error {
	if err := t.resolve(cmd); err != nil {
		return err
	}
	c, closeC, err := t.open(cmd)
	if err != nil {
		return err
	}
	err = fn(c)
	if cerr := closeC(); err == nil {
		err = cerr
	}
	return err
}
