package cli

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/progress"
)

// copyBuf is the transfer buffer: a whole block, so each SDK write can
// fill a block without extra copying in the write buffer.
const copyBuf = 4 << 20

func newPutCmd(env *fsEnv) *cobra.Command {
	var force, recursive bool
	cmd := &cobra.Command{
		Use:   "put [-f] [-r] LOCAL REMOTE",
		Short: "Copy a local file (or - for stdin) into the filesystem",
		Long: "Copy a local file into the filesystem. When REMOTE ends in \"/\" or is an\n" +
			"existing directory, the file is put inside it under its local name. LOCAL \"-\"\n" +
			"reads standard input. An existing REMOTE file is replaced only with -f.\n" +
			"-r copies a directory tree. A progress bar is shown on a terminal.",
		Args: cobra.ExactArgs(2),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "replace an existing remote file")
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "copy directories recursively")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		local, dst := args[0], args[1]
		p := &putter{c: c, r: r, cmd: cmd, force: force}
		if local == "-" {
			if strings.HasSuffix(dst, "/") || isDir(c, remote(dst)) {
				return errors.New("a destination directory needs a file name when reading stdin")
			}
			p.file(cmd.InOrStdin(), -1, 0o666, "-", dst)
			return nil
		}
		lfi, err := os.Stat(local)
		if err != nil {
			r.fail(local, osReason(err))
			return nil
		}
		if strings.HasSuffix(dst, "/") || isDir(c, remote(dst)) {
			dst = displayJoin(dst, filepath.Base(local))
		}
		if lfi.IsDir() {
			if !recursive {
				r.failf(local, "is a directory (use -r)")
				return nil
			}
			p.tree(local, dst)
			return nil
		}
		p.local(local, lfi, dst)
		return nil
	})
	return cmd
}

type putter struct {
	c     *shoal.Client
	r     *reporter
	cmd   *cobra.Command
	force bool
}

func (p *putter) local(local string, lfi fs.FileInfo, dst string) {
	f, err := os.Open(local)
	if err != nil {
		p.r.fail(local, osReason(err))
		return
	}
	defer f.Close()
	p.file(f, lfi.Size(), lfi.Mode().Perm(), local, dst)
}

// file copies src (size bytes, or -1 when unknown) to the remote name dst.
func (p *putter) file(src io.Reader, size int64, perm fs.FileMode, label, dst string) {
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if p.force {
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := p.c.OpenFile(remote(dst), flag, perm)
	if err != nil {
		p.r.fail(dst, err)
		return
	}
	bar := progress.ForTerminal(p.cmd.ErrOrStderr(), path.Base(label), size)
	_, err = io.CopyBuffer(io.MultiWriter(f, bar), ctxReader{p.cmd.Context(), src}, make([]byte, copyBuf))
	bar.Finish()
	if cerr := f.Close(); err == nil {
		err = cerr // Close uploads the last block and commits: its error is the copy's
	}
	if err != nil {
		p.r.fail(dst, err)
	}
}

func (p *putter) tree(local, dst string) {
	err := filepath.WalkDir(local, func(lp string, d fs.DirEntry, err error) error {
		if err != nil {
			p.r.fail(lp, osReason(err))
			return nil
		}
		rel, _ := filepath.Rel(local, lp)
		rp := dst
		if rel != "." {
			rp = displayJoin(dst, filepath.ToSlash(rel))
		}
		switch {
		case d.IsDir():
			fi, err := d.Info()
			if err != nil {
				p.r.fail(lp, osReason(err))
				return fs.SkipDir
			}
			if err := p.c.Mkdir(remote(rp), fi.Mode().Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
				p.r.fail(rp, err)
				return fs.SkipDir
			}
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(lp)
			if err == nil {
				err = p.c.Symlink(target, remote(rp))
			}
			if err != nil {
				p.r.fail(rp, err)
			}
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				p.r.fail(lp, osReason(err))
				return nil
			}
			p.local(lp, fi, rp)
		default:
			p.r.failf(lp, "not a regular file, skipped")
		}
		return nil
	})
	if err != nil {
		p.r.fail(local, osReason(err))
	}
}

func newGetCmd(env *fsEnv) *cobra.Command {
	var force, recursive bool
	cmd := &cobra.Command{
		Use:   "get [-f] [-r] REMOTE LOCAL",
		Short: "Copy a file out of the filesystem (LOCAL - for stdout)",
		Long: "Copy a file out of the filesystem. When LOCAL ends in \"/\" or is an existing\n" +
			"directory, the file is written inside it under its remote name. LOCAL \"-\"\n" +
			"writes to standard output. An existing LOCAL file is replaced only with -f.\n" +
			"-r copies a directory tree. A progress bar is shown on a terminal.",
		Args: cobra.ExactArgs(2),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "replace an existing local file")
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "copy directories recursively")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		src, local := args[0], args[1]
		fi, err := c.Stat(remote(src))
		if err != nil {
			r.fail(src, err)
			return nil
		}
		g := &getter{c: c, r: r, cmd: cmd, force: force}
		if local == "-" {
			if fi.IsDir() {
				r.fail(src, &shoal.Error{Kind: shoal.KindIsDir})
				return nil
			}
			// The bar would garble file data shown on the same terminal.
			g.quiet = isTerminal(cmd.OutOrStdout())
			g.file(src, fi, cmd.OutOrStdout())
			return nil
		}
		if lfi, err := os.Stat(local); strings.HasSuffix(local, "/") || (err == nil && lfi.IsDir()) {
			local = filepath.Join(local, path.Base(remote(src)))
		}
		if fi.IsDir() {
			if !recursive {
				r.failf(src, "is a directory (use -r)")
				return nil
			}
			g.tree(src, local)
			return nil
		}
		g.local(src, fi, local)
		return nil
	})
	return cmd
}

type getter struct {
	c     *shoal.Client
	r     *reporter
	cmd   *cobra.Command
	quiet bool // no progress bar
	force bool // replace existing local files
}

func (g *getter) local(src string, fi fs.FileInfo, local string) {
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if g.force {
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(local, flag, fi.Mode().Perm()|0o200)
	if err != nil {
		g.r.fail(local, osReason(err))
		return
	}
	ok := g.file(src, fi, f)
	if err := f.Close(); err != nil && ok {
		g.r.fail(local, osReason(err))
		ok = false
	}
	if !ok && !g.force {
		// The file is ours (O_EXCL): leave nothing half-copied behind.
		os.Remove(local)
	}
}

// file copies the remote file src to w and reports whether it succeeded.
func (g *getter) file(src string, fi fs.FileInfo, w io.Writer) bool {
	f, err := g.c.OpenFile(remote(src), os.O_RDONLY, 0)
	if err != nil {
		g.r.fail(src, err)
		return false
	}
	defer f.Close()
	var bar *progress.Bar
	if !g.quiet {
		bar = progress.ForTerminal(g.cmd.ErrOrStderr(), path.Base(remote(src)), fi.Size())
	}
	_, err = io.CopyBuffer(io.MultiWriter(w, bar), ctxReader{g.cmd.Context(), f}, make([]byte, copyBuf))
	bar.Finish()
	if err != nil {
		g.r.fail(src, err)
		return false
	}
	return true
}

func (g *getter) tree(src, local string) {
	fi, err := g.c.Stat(remote(src))
	if err != nil {
		g.r.fail(src, err)
		return
	}
	if err := os.Mkdir(local, fi.Mode().Perm()|0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		g.r.fail(local, osReason(err))
		return
	}
	entries, err := g.c.ReadDir(remote(src))
	if err != nil {
		g.r.fail(src, err)
		return
	}
	for _, e := range entries {
		rs, lp := displayJoin(src, e.Name()), filepath.Join(local, e.Name())
		switch {
		case e.IsDir():
			g.tree(rs, lp)
		case e.Type()&fs.ModeSymlink != 0:
			target, err := g.c.Readlink(remote(rs))
			if err != nil {
				g.r.fail(rs, err)
				continue
			}
			if err := os.Symlink(target, lp); err != nil {
				g.r.fail(lp, osReason(err))
			}
		case e.Type().IsRegular():
			efi := entryInfo(g.c, e, remote(rs))
			if efi == nil {
				g.r.failf(rs, "vanished during copy")
				continue
			}
			g.local(rs, efi, lp)
		default:
			g.r.failf(rs, "not a regular file, skipped")
		}
	}
}

func newCatCmd(env *fsEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "cat PATH...",
		Short: "Write files to standard output",
		Args:  cobra.MinimumNArgs(1),
		RunE: env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
			for _, p := range args {
				f, err := c.OpenFile(remote(p), os.O_RDONLY, 0)
				if err != nil {
					r.fail(p, err)
					continue
				}
				_, err = io.CopyBuffer(onlyWriter{cmd.OutOrStdout()}, ctxReader{cmd.Context(), f}, make([]byte, 1<<20))
				f.Close()
				if err != nil {
					r.fail(p, err)
				}
			}
			return nil
		}),
	}
}

// ctxReader stops a copy once ctx is done (Ctrl-C), whether or not the
// source or destination would notice by itself. It also hides the
// source's WriterTo from io.CopyBuffer, so our block-sized buffer is used.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// onlyWriter hides a destination's ReaderFrom (os.File has one that
// would copy through its own small buffer).
type onlyWriter struct{ io.Writer }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func isDir(c *shoal.Client, name string) bool {
	fi, err := c.Stat(name)
	return err == nil && fi.IsDir()
}

// osReason strips the *os.PathError wrapping of a local error, whose path
// the message already shows.
func osReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
