package cli

import (
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/progress"
)

// lsItem is one line of ls output.
type lsItem struct {
	display string // the name shown
	name    string // SDK name
	info    fs.FileInfo
}

func newLsCmd(env *fsEnv) *cobra.Command {
	var long, recursive, all, dirOnly bool
	cmd := &cobra.Command{
		Use:   "ls [-l] [-R] [-a] [-d] [PATH...]",
		Short: "List directory contents",
		Long: "List directory contents, one name per line. -l shows mode, links, uid, gid,\n" +
			"size, modification time and name (\"-> target\" for symbolic links).",
	}
	cmd.Flags().BoolVarP(&long, "long", "l", false, "long listing")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "list subdirectories recursively")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "include names starting with '.'")
	cmd.Flags().BoolVarP(&dirOnly, "directory", "d", false, "list directories themselves, not their contents")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		l := &lister{c: c, r: r, w: cmd.OutOrStdout(), long: long, recursive: recursive, all: all}
		if len(args) == 0 {
			args = []string{"."}
		}
		var files []lsItem
		var dirs []string
		for _, p := range args {
			fi, err := c.Lstat(remote(p))
			if err != nil {
				r.fail(p, err)
				continue
			}
			if fi.Mode()&fs.ModeSymlink != 0 && !long && !dirOnly {
				if t, err := c.Stat(remote(p)); err == nil && t.IsDir() {
					fi = t // like ls, a link to a directory named by the user is followed
				}
			}
			if fi.IsDir() && !dirOnly {
				dirs = append(dirs, p)
			} else {
				files = append(files, lsItem{display: p, name: remote(p), info: fi})
			}
		}
		l.print(files)
		headers := len(args) > 1 || recursive
		for i, d := range dirs {
			if i > 0 || len(files) > 0 {
				fmt.Fprintln(l.w)
			}
			l.dir(d, remote(d), headers)
		}
		return nil
	})
	return cmd
}

type lister struct {
	c                    *shoal.Client
	r                    *reporter
	w                    io.Writer
	long, recursive, all bool
}

func (l *lister) dir(display, name string, header bool) {
	if header {
		fmt.Fprintf(l.w, "%s:\n", display)
	}
	entries, err := l.c.ReadDir(name)
	if err != nil {
		l.r.fail(display, err)
		return
	}
	var items []lsItem
	var subdirs []lsItem
	for _, e := range entries {
		if !l.all && strings.HasPrefix(e.Name(), ".") {
			continue
		}
		it := lsItem{display: e.Name(), name: remoteJoin(name, e.Name())}
		if l.long {
			it.info = entryInfo(l.c, e, it.name)
			if it.info == nil {
				l.r.failf(displayJoin(display, e.Name()), "cannot stat")
				continue
			}
		}
		items = append(items, it)
		if e.IsDir() {
			subdirs = append(subdirs, it)
		}
	}
	l.print(items)
	if !l.recursive {
		return
	}
	for _, s := range subdirs {
		fmt.Fprintln(l.w)
		l.dir(displayJoin(display, s.display), s.name, true)
	}
}

// entryInfo returns the lstat information of a directory entry, or nil
// when the entry disappeared meanwhile.
func entryInfo(c *shoal.Client, e fs.DirEntry, name string) fs.FileInfo {
	if fi, err := e.Info(); err == nil {
		return fi
	}
	fi, err := c.Lstat(name)
	if err != nil {
		return nil
	}
	return fi
}

func (l *lister) print(items []lsItem) {
	if !l.long {
		for _, it := range items {
			fmt.Fprintln(l.w, it.display)
		}
		return
	}
	rows := make([][5]string, len(items))
	var width [5]int
	for i, it := range items {
		a := attrOf(it.info)
		rows[i] = [5]string{
			modeString(it.info.Mode()),
			strconv.FormatUint(uint64(a.Nlink), 10),
			strconv.FormatUint(uint64(a.Uid), 10),
			strconv.FormatUint(uint64(a.Gid), 10),
			strconv.FormatInt(it.info.Size(), 10),
		}
		for j, s := range rows[i] {
			width[j] = max(width[j], len(s))
		}
	}
	for i, it := range items {
		row := rows[i]
		name := it.display
		if it.info.Mode()&fs.ModeSymlink != 0 {
			if target, err := l.c.Readlink(it.name); err == nil {
				name += " -> " + target
			}
		}
		fmt.Fprintf(l.w, "%s %*s %*s %*s %*s %s %s\n", row[0], width[1], row[1], width[2], row[2],
			width[3], row[3], width[4], row[4], it.info.ModTime().Local().Format("2006-01-02 15:04"), name)
	}
}

// attrOf returns the Shoal attributes behind fi, or a stand-in built from
// the portable fields when fi did not come from the SDK.
func attrOf(fi fs.FileInfo) *shoal.Attr {
	if a, ok := fi.Sys().(*shoal.Attr); ok && a != nil {
		return a
	}
	return &shoal.Attr{Mode: fi.Mode(), Size: fi.Size(), Nlink: 1, Mtime: fi.ModTime()}
}

func newStatCmd(env *fsEnv) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "stat [-L] PATH...",
		Short: "Show file attributes",
		Args:  cobra.MinimumNArgs(1),
	}
	cmd.Flags().BoolVarP(&follow, "dereference", "L", false, "follow symbolic links")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		w := cmd.OutOrStdout()
		for _, p := range args {
			stat := c.Lstat
			if follow {
				stat = c.Stat
			}
			fi, err := stat(remote(p))
			if err != nil {
				r.fail(p, err)
				continue
			}
			a := attrOf(fi)
			name := p
			if fi.Mode()&fs.ModeSymlink != 0 {
				if t, err := c.Readlink(remote(p)); err == nil {
					name += " -> " + t
				}
			}
			fmt.Fprintf(w, "  File: %s\n", name)
			fmt.Fprintf(w, "  Size: %-12d Type: %s\n", fi.Size(), typeName(fi.Mode()))
			fmt.Fprintf(w, " Inode: %-12d Links: %d", a.Ino, a.Nlink)
			if fi.Mode()&fs.ModeDevice != 0 {
				fmt.Fprintf(w, "  Device type: %d,%d", a.Rdev>>8&0xfff, a.Rdev&0xff|a.Rdev>>12&^0xff)
			}
			fmt.Fprintln(w)
			fmt.Fprintf(w, "Access: (%04o/%s)  Uid: %d  Gid: %d\n", unixPerm(fi.Mode()), modeString(fi.Mode()), a.Uid, a.Gid)
			fmt.Fprintf(w, "Access: %s\n", statTime(a.Atime))
			fmt.Fprintf(w, "Modify: %s\n", statTime(a.Mtime))
			fmt.Fprintf(w, "Change: %s\n", statTime(a.Ctime))
			fmt.Fprintf(w, " Flags: %s\n", flagsString(a.Flags))
		}
		return nil
	})
	return cmd
}

func statTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000000000 -0700")
}

func flagsString(f uint32) string {
	var names []string
	if f&shoal.FlagImmutable != 0 {
		names = append(names, "immutable")
		f &^= shoal.FlagImmutable
	}
	if f&shoal.FlagAppend != 0 {
		names = append(names, "append")
		f &^= shoal.FlagAppend
	}
	if f != 0 {
		names = append(names, fmt.Sprintf("%#x", f))
	}
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ",")
}

func typeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character special file"
	case m&fs.ModeDevice != 0:
		return "block special file"
	}
	return "regular file"
}

func newTreeCmd(env *fsEnv) *cobra.Command {
	var depth int
	var all bool
	cmd := &cobra.Command{
		Use:   "tree [-L DEPTH] [-a] [PATH...]",
		Short: "Show a directory tree",
	}
	cmd.Flags().IntVarP(&depth, "level", "L", 0, "descend at most DEPTH levels (0: no limit)")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "include names starting with '.'")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		if depth < 0 {
			return fmt.Errorf("invalid level %d", depth)
		}
		if len(args) == 0 {
			args = []string{"."}
		}
		w := cmd.OutOrStdout()
		var dirs, files int
		var walk func(display, name, prefix string, level int)
		walk = func(display, name, prefix string, level int) {
			entries, err := c.ReadDir(name)
			if err != nil {
				r.fail(display, err)
				return
			}
			var shown []fs.DirEntry
			for _, e := range entries {
				if all || !strings.HasPrefix(e.Name(), ".") {
					shown = append(shown, e)
				}
			}
			for i, e := range shown {
				branch, indent := "├── ", "│   "
				if i == len(shown)-1 {
					branch, indent = "└── ", "    "
				}
				child := remoteJoin(name, e.Name())
				line := e.Name()
				if e.Type()&fs.ModeSymlink != 0 {
					if t, err := c.Readlink(child); err == nil {
						line += " -> " + t
					}
				}
				fmt.Fprintf(w, "%s%s%s\n", prefix, branch, line)
				if !e.IsDir() {
					files++
					continue
				}
				dirs++
				if depth == 0 || level < depth {
					walk(displayJoin(display, e.Name()), child, prefix+indent, level+1)
				}
			}
		}
		for _, p := range args {
			fi, err := c.Stat(remote(p))
			if err != nil {
				r.fail(p, err)
				continue
			}
			fmt.Fprintln(w, p)
			if fi.IsDir() {
				walk(p, remote(p), "", 1)
			} else {
				files++
			}
		}
		fmt.Fprintf(w, "\n%s, %s\n", plural(dirs, "directory", "directories"), plural(files, "file", "files"))
		return nil
	})
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func newDuCmd(env *fsEnv) *cobra.Command {
	var summarize, human, all bool
	cmd := &cobra.Command{
		Use:   "du [-s] [-h] [-a] [PATH...]",
		Short: "Sum file sizes under each directory",
		Long: "Print the total size in bytes of the regular files under each directory\n" +
			"(file lengths; a file with several hard links is counted once).",
	}
	cmd.Flags().BoolVarP(&summarize, "summarize", "s", false, "print only a total for each argument")
	cmd.Flags().BoolVarP(&human, "human-readable", "h", false, "print sizes like 1.5K, 23M, 1.2G")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "print files too, not just directories")
	cmd.Flags().Bool("help", false, "help for du") // -h is taken by --human-readable
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error {
		if len(args) == 0 {
			args = []string{"."}
		}
		w := cmd.OutOrStdout()
		seen := map[uint64]bool{}
		size := func(fi fs.FileInfo) int64 {
			if !fi.Mode().IsRegular() {
				return 0
			}
			if a := attrOf(fi); a.Nlink > 1 && a.Ino != 0 {
				if seen[a.Ino] {
					return 0
				}
				seen[a.Ino] = true
			}
			return fi.Size()
		}
		show := func(n int64, p string) {
			s := strconv.FormatInt(n, 10)
			if human {
				s = progress.Bytes(n)
			}
			fmt.Fprintf(w, "%s\t%s\n", s, p)
		}
		var walk func(display, name string, top bool) int64
		walk = func(display, name string, top bool) int64 {
			entries, err := c.ReadDir(name)
			if err != nil {
				r.fail(display, err)
				return 0
			}
			var total int64
			for _, e := range entries {
				child, childDisplay := remoteJoin(name, e.Name()), displayJoin(display, e.Name())
				if e.IsDir() {
					total += walk(childDisplay, child, false)
					continue
				}
				fi := entryInfo(c, e, child)
				if fi == nil {
					continue
				}
				n := size(fi)
				total += n
				if all && !summarize {
					show(n, childDisplay)
				}
			}
			if !summarize || top {
				show(total, display)
			}
			return total
		}
		for _, p := range args {
			fi, err := c.Lstat(remote(p))
			if err != nil {
				r.fail(p, err)
				continue
			}
			if fi.IsDir() {
				walk(p, remote(p), true)
			} else {
				show(size(fi), p)
			}
		}
		return nil
	})
	return cmd
}

func newDfCmd(env *fsEnv) *cobra.Command {
	var human bool
	cmd := &cobra.Command{
		Use:   "df [-h]",
		Short: "Show space and inode usage of the filesystem",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().BoolVarP(&human, "human-readable", "h", false, "print sizes like 1.5K, 23M, 1.2G")
	cmd.Flags().Bool("help", false, "help for df")
	cmd.RunE = env.run(func(cmd *cobra.Command, c *shoal.Client, r *reporter, _ []string) error {
		st, err := c.StatFS()
		if err != nil {
			r.fail(env.String(), err)
			return nil
		}
		total, used, avail := int64(st.TotalBytes), int64(st.UsedBytes), int64(st.AvailBytes)
		itotal, iused := int64(st.TotalInodes), int64(st.UsedInodes)
		num := func(n int64) string {
			if human {
				return progress.Bytes(n)
			}
			return strconv.FormatInt(n, 10)
		}
		pct := func(part, whole int64) string {
			if whole <= 0 {
				return "-"
			}
			return fmt.Sprintf("%d%%", (part*100+whole-1)/whole) // rounded up, like df
		}
		w := cmd.OutOrStdout()
		cols := [][]string{
			{"Filesystem", "Size", "Used", "Avail", "Use%", "Inodes", "IUsed", "IFree", "IUse%"},
			{env.String(), num(total), num(used), num(avail), pct(used, total),
				strconv.FormatInt(itotal, 10), strconv.FormatInt(iused, 10), strconv.FormatInt(max(itotal-iused, 0), 10), pct(iused, itotal)},
		}
		var width [9]int
		for _, row := range cols {
			for i, s := range row {
				width[i] = max(width[i], len(s))
			}
		}
		for _, row := range cols {
			fmt.Fprintf(w, "%-*s", width[0], row[0])
			for i := 1; i < len(row); i++ {
				fmt.Fprintf(w, " %*s", width[i], row[i])
			}
			fmt.Fprintln(w)
		}
		return nil
	})
	return cmd
}
