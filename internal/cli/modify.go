package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	shoal "github.com/shoalfs/shoal"
)

func newMkdirCmd(env *fsEnv) *cobra.Command {
	var parents bool
	var modeStr string
	cmd := &cobra.Command{
		Use:   "mkdir [-p] [-m MODE] PATH...",
		Short: "Create directories",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().BoolVarP(&parents, "parents", "p", false, "create missing parents; no error if the directory exists")
	cmd.Flags().StringVarP(&modeStr, "mode", "m", "", "set the mode (octal or symbolic, as chmod), not affected by the umask")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		var mode *modeSpec
		if modeStr != "" {
			m, err := parseMode(modeStr)
			if err != nil {
				return err
			}
			mode = m
		}
		for _, p := range args {
			name := remote(p)
			var err error
			if parents {
				err = c.MkdirAll(name, 0o777)
			} else {
				err = c.Mkdir(name, 0o777)
			}
			if err == nil && mode != nil {
				err = c.Chmod(name, mode.apply(0o777, true))
			}
			if err != nil {
				r.fail(p, err)
			}
		}
		return nil
	})
	return cmd
}

func newRmCmd(env *fsEnv) *cobra.Command {
	var recursive, force bool
	cmd := &cobra.Command{
		Use:   "rm [-r] [-f] PATH...",
		Short: "Remove files and directories",
		Long: "Remove files. -r removes directories and their contents; -f ignores\n" +
			"missing paths. The filesystem root is never removed.",
		Args: cobra.MinimumNArgs(1),
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "remove directories and their contents")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "ignore missing paths")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		for _, p := range args {
			name := remote(p)
			if name == "." {
				r.failf(p, "refusing to remove the filesystem root")
				continue
			}
			fi, err := c.Lstat(name)
			if err != nil {
				if !(force && errors.Is(err, fs.ErrNotExist)) {
					r.fail(p, err)
				}
				continue
			}
			switch {
			case fi.IsDir() && !recursive:
				r.fail(p, &shoal.Error{Kind: shoal.KindIsDir})
				continue
			case fi.IsDir():
				err = c.RemoveAll(name)
			default:
				err = c.Remove(name)
			}
			if err != nil && !(force && errors.Is(err, fs.ErrNotExist)) {
				r.fail(p, err)
			}
		}
		return nil
	})
	return cmd
}

func newMvCmd(env *fsEnv) *cobra.Command {
	var noReplace, exchange bool
	cmd := &cobra.Command{
		Use:   "mv [--no-replace | --exchange] SRC... DST",
		Short: "Move or rename files",
		Long: "Rename SRC to DST, or move each SRC into DST when DST is a directory.\n" +
			"--no-replace fails if the target exists; --exchange atomically swaps SRC and\n" +
			"DST, which must both exist (renameat2 RENAME_NOREPLACE / RENAME_EXCHANGE).",
		Args: cobra.MinimumNArgs(2),
	}
	cmd.Flags().BoolVarP(&noReplace, "no-replace", "n", false, "fail if the target exists")
	cmd.Flags().BoolVar(&exchange, "exchange", false, "atomically exchange SRC and DST")
	cmd.MarkFlagsMutuallyExclusive("no-replace", "exchange")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		srcs, dst := args[:len(args)-1], args[len(args)-1]
		var flags []shoal.RenameFlag
		switch {
		case noReplace:
			flags = append(flags, shoal.RenameNoReplace)
		case exchange:
			if len(srcs) != 1 {
				return errors.New("--exchange takes exactly one SRC and one DST")
			}
			flags = append(flags, shoal.RenameExchange)
		}
		into := !exchange && (strings.HasSuffix(dst, "/") || isDir(c, remote(dst)))
		if len(srcs) > 1 && !into {
			r.failf(dst, "not a directory")
			return nil
		}
		for _, s := range srcs {
			target := dst
			if into {
				target = displayJoin(dst, path.Base(remote(s)))
			}
			if err := c.Rename(remote(s), remote(target), flags...); err != nil {
				r.fail(s, err)
			}
		}
		return nil
	})
	return cmd
}

func newLnCmd(env *fsEnv) *cobra.Command {
	var symbolic bool
	cmd := &cobra.Command{
		Use:   "ln [-s] TARGET LINK",
		Short: "Make a hard link, or a symbolic link with -s",
		Long: "Make LINK a hard link to the file TARGET, or with -s a symbolic link whose\n" +
			"content is TARGET verbatim. When LINK is an existing directory the link is\n" +
			"made inside it under TARGET's name.",
		Args: cobra.ExactArgs(2),
	}
	cmd.Flags().BoolVarP(&symbolic, "symbolic", "s", false, "make a symbolic link")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		target, link := args[0], args[1]
		if strings.HasSuffix(link, "/") || isDir(c, remote(link)) {
			link = displayJoin(link, path.Base(target))
		}
		var err error
		if symbolic {
			err = c.Symlink(target, remote(link))
		} else {
			err = c.Link(remote(target), remote(link))
		}
		if err != nil {
			r.fail(link, err)
		}
		return nil
	})
	return cmd
}

func newTouchCmd(env *fsEnv) *cobra.Command {
	var noCreate bool
	cmd := &cobra.Command{
		Use:   "touch [-c] PATH...",
		Short: "Create empty files or set their times to now",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().BoolVarP(&noCreate, "no-create", "c", false, "do not create missing files")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		for _, p := range args {
			now := time.Now()
			err := c.Chtimes(remote(p), now, now)
			if errors.Is(err, fs.ErrNotExist) {
				if noCreate {
					continue
				}
				var f *shoal.File
				if f, err = c.OpenFile(remote(p), os.O_WRONLY|os.O_CREATE, 0o666); err == nil {
					err = f.Close()
				}
			}
			if err != nil {
				r.fail(p, err)
			}
		}
		return nil
	})
	return cmd
}

func newTruncateCmd(env *fsEnv) *cobra.Command {
	var sizeStr string
	var noCreate bool
	cmd := &cobra.Command{
		Use:   "truncate -s SIZE [-c] PATH...",
		Short: "Shrink or extend files to SIZE bytes (K, M, G, T suffixes: powers of 1024)",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().StringVarP(&sizeStr, "size", "s", "", "new size in bytes, e.g. 100, 4K, 1.5G")
	cmd.Flags().BoolVarP(&noCreate, "no-create", "c", false, "do not create missing files")
	_ = cmd.MarkFlagRequired("size")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		size, err := parseSize(sizeStr)
		if err != nil {
			return err
		}
		for _, p := range args {
			err := c.Truncate(remote(p), size)
			if errors.Is(err, fs.ErrNotExist) && !noCreate {
				var f *shoal.File
				if f, err = c.OpenFile(remote(p), os.O_WRONLY|os.O_CREATE, 0o666); err == nil {
					err = f.Truncate(size)
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}
			} else if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				r.fail(p, err)
			}
		}
		return nil
	})
	return cmd
}

// parseSize parses a byte count with an optional binary suffix:
// 100, 4K, 1.5M, 2G, 1T (also KiB/MiB spellings and a trailing B).
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	mult := int64(1)
	if t != "" {
		if i := strings.IndexByte("KMGTPE", t[len(t)-1]); i >= 0 {
			mult = 1 << (10 * (i + 1))
			t = t[:len(t)-1]
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil && n >= 0 && n <= (1<<62)/mult {
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int64(f * float64(mult)), nil
}
