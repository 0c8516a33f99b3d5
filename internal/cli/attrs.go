package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	shoal "github.com/shoalfs/shoal"
)

func newChmodCmd(env *fsEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "chmod MODE PATH...",
		Short: "Change permission bits (octal like 0755, or symbolic like u+x,g-w,o=r)",
		Long: "Change permission bits. MODE is octal (644, 4755) or comma-separated symbolic\n" +
			"clauses [ugoa]*[+-=][rwxXst]* (u+x,g-w,o=r; no [ugoa] means a). Symbolic links\n" +
			"are followed.",
		Args: cobra.MinimumNArgs(2),
		RunE: env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
			spec, err := parseMode(args[0])
			if err != nil {
				return err
			}
			for _, p := range args[1:] {
				var mode uint32
				isDir := false
				if !spec.octal {
					fi, err := c.Stat(remote(p))
					if err != nil {
						r.fail(p, err)
						continue
					}
					mode, isDir = unixPerm(fi.Mode()), fi.IsDir()
				}
				if err := c.Chmod(remote(p), spec.apply(mode, isDir)); err != nil {
					r.fail(p, err)
				}
			}
			return nil
		}),
	}
}

func newChownCmd(env *fsEnv) *cobra.Command {
	var noDeref bool
	cmd := &cobra.Command{
		Use:   "chown [-h] UID[:GID] PATH...",
		Short: "Change owner and group (numeric ids)",
		Long: "Change the owner and group to numeric ids. UID or GID may be empty or -1 to\n" +
			"leave it unchanged (\":100\" changes only the group). -h changes a symbolic\n" +
			"link itself rather than its target.",
		Args: cobra.MinimumNArgs(2),
	}
	cmd.Flags().BoolVarP(&noDeref, "no-dereference", "h", false, "change symbolic links themselves")
	cmd.Flags().Bool("help", false, "help for chown")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		uid, gid, err := parseOwner(args[0])
		if err != nil {
			return err
		}
		chown := c.Chown
		if noDeref {
			chown = c.Lchown
		}
		for _, p := range args[1:] {
			if err := chown(remote(p), uid, gid); err != nil {
				r.fail(p, err)
			}
		}
		return nil
	})
	return cmd
}

// parseOwner parses "UID[:GID]"; an empty or -1 field is -1 (unchanged).
func parseOwner(s string) (uid, gid int, err error) {
	us, gs, _ := strings.Cut(s, ":")
	if uid, err = parseID(us); err != nil {
		return 0, 0, fmt.Errorf("invalid owner %q: %w", s, err)
	}
	if gid, err = parseID(gs); err != nil {
		return 0, 0, fmt.Errorf("invalid owner %q: %w", s, err)
	}
	return uid, gid, nil
}

func parseID(s string) (int, error) {
	if s == "" || s == "-1" {
		return -1, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 1<<32-1 {
		return 0, errors.New("ids must be numeric (user and group names are not supported)")
	}
	return int(n), nil
}

func newXattrCmd(env *fsEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "xattr",
		Short: "Get, set, list and remove extended attributes",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	get := &cobra.Command{
		Use:   "get PATH NAME",
		Short: "Print the value of an extended attribute, followed by a newline",
		Args:  cobra.ExactArgs(2),
		RunE: env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
			v, err := c.GetXattr(remote(args[0]), args[1])
			if err != nil {
				r.fail(args[0], err)
				return nil
			}
			w := cmd.OutOrStdout()
			w.Write(v)
			fmt.Fprintln(w)
			return nil
		}),
	}
	var create, replace bool
	set := &cobra.Command{
		Use:   "set [--create | --replace] PATH NAME VALUE",
		Short: "Set an extended attribute",
		Args:  cobra.ExactArgs(3),
		RunE: env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
			flags := 0
			if create {
				flags = shoal.XattrCreate
			}
			if replace {
				flags = shoal.XattrReplace
			}
			if err := c.SetXattr(remote(args[0]), args[1], []byte(args[2]), flags); err != nil {
				r.fail(args[0], err)
			}
			return nil
		}),
	}
	set.Flags().BoolVar(&create, "create", false, "fail if the attribute exists")
	set.Flags().BoolVar(&replace, "replace", false, "fail if the attribute does not exist")
	set.MarkFlagsMutuallyExclusive("create", "replace")
	list := &cobra.Command{
		Use:   "list PATH",
		Short: "List extended attribute names, one per line",
		Args:  cobra.ExactArgs(1),
		RunE: env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
			names, err := c.ListXattr(remote(args[0]))
			if err != nil {
				r.fail(args[0], err)
				return nil
			}
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		}),
	}
	rm := &cobra.Command{
		Use:   "rm PATH NAME",
		Short: "Remove an extended attribute",
		Args:  cobra.ExactArgs(2),
		RunE: env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
			if err := c.RemoveXattr(remote(args[0]), args[1]); err != nil {
				r.fail(args[0], err)
			}
			return nil
		}),
	}
	cmd.AddCommand(get, set, list, rm)
	return cmd
}
