package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fusefs"
	"github.com/shoalfs/shoal/internal/metrics"
)

// daemonFDEnv names the descriptor a daemonized `shoal mount` child
// reports readiness on: "ok\n", or the error that stopped it.
const daemonFDEnv = "SHOAL_MOUNT_READY_FD"

func newMountCmd() *cobra.Command {
	var (
		t                      target
		o                      fusefs.Options
		daemon                 bool
		metricsListen          string
		readahead, buffer, blk string
	)
	cmd := &cobra.Command{
		Use:   "mount [--addr ADDR | --data DIR] [--fs NAME] MOUNTPOINT",
		Short: "Mount a Shoal filesystem with FUSE",
		Long: "Mount serves a Shoal filesystem at MOUNTPOINT through FUSE, in the foreground\n" +
			"until unmounted (shoal umount, umount(8)) or stopped by SIGINT/SIGTERM, which\n" +
			"unmount cleanly (lazily if files are still open). With -d it returns once the\n" +
			"mount is ready and keeps serving in the background; its exit code says whether\n" +
			"it mounted. See docs/fuse.md.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := t.resolve(cmd); err != nil {
				return err
			}
			var opts []shoal.Option
			for _, s := range []struct {
				flag, v string
				opt     func(int64) shoal.Option
			}{
				{"buffer-memory", buffer, shoal.WithWriteBuffer},
				{"block-cache", blk, shoal.WithBlockCache},
			} {
				if !cmd.Flags().Changed(s.flag) {
					continue
				}
				n, err := parseSize(s.v)
				if err != nil {
					return &usageError{fmt.Sprintf("--%s: %v", s.flag, err)}
				}
				opts = append(opts, s.opt(n))
			}
			if cmd.Flags().Changed("readahead") {
				n, err := parseSize(readahead)
				if err != nil || n > 1<<30 {
					return &usageError{fmt.Sprintf("--readahead: invalid size %q", readahead)}
				}
				o.MaxReadAhead = int(n)
			}
			if err := o.Validate(); err != nil {
				return &usageError{err.Error()}
			}
			dir := args[0]
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				if err == nil {
					err = errors.New("not a directory")
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "shoal: mount: %s: %v\n", dir, reason(err))
				return &exitError{ExitFail}
			}
			if daemon && os.Getenv(daemonFDEnv) == "" {
				return daemonize(cmd, dir)
			}
			return runMount(cmd, &t, dir, o, opts, metricsListen)
		},
	}
	targetFlags(cmd, &t, false)
	f := cmd.Flags()
	f.BoolVarP(&daemon, "daemon", "d", false, "return once mounted and serve in the background")
	f.DurationVar(&o.AttrTimeout, "attr-timeout", fusefs.DefaultAttrTimeout, "how long the kernel trusts attributes")
	f.DurationVar(&o.EntryTimeout, "entry-timeout", fusefs.DefaultEntryTimeout, "how long the kernel trusts a name lookup")
	f.DurationVar(&o.NegativeTimeout, "negative-timeout", 0, "how long the kernel remembers that a name does not exist")
	f.BoolVar(&o.NoAttrCache, "no-attr-cache", false, "ask Shoal on every stat and lookup (attribute and entry timeouts 0)")
	f.BoolVar(&o.AllowOther, "allow-other", false, "let other users use the mount (FUSE allow_other)")
	f.BoolVarP(&o.ReadOnly, "read-only", "r", false, "mount read-only (changes fail with EROFS)")
	f.BoolVar(&o.Writeback, "writeback", false, "kernel writeback cache: batches small writes; O_APPEND across mounts may then overwrite")
	f.StringVar(&readahead, "readahead", "128K", "kernel readahead window")
	f.StringVar(&buffer, "buffer-memory", "64M", "memory for buffered writes before they are uploaded (SDK write buffer)")
	f.StringVar(&blk, "block-cache", "256M", "memory for cached blocks (SDK block cache)")
	f.StringVar(&o.FSName, "fsname", "shoal", "source name shown by df and /proc/mounts")
	f.BoolVar(&o.Debug, "debug", false, "log every FUSE request to stderr")
	f.StringVar(&metricsListen, "metrics-listen", "", "HOST:PORT serving /metrics (FUSE request latencies), /healthz and /readyz; off by default")
	return cmd
}

// runMount mounts in this process and serves until unmounted or
// cancelled (SIGINT/SIGTERM cancel cmd's context).
func runMount(cmd *cobra.Command, t *target, dir string, o fusefs.Options, opts []shoal.Option, metricsListen string) error {
	ready := readyPipe()
	fail := func(err error) error {
		fmt.Fprintf(cmd.ErrOrStderr(), "shoal: mount: %s: %s\n", dir, reason(err))
		if ready != nil {
			fmt.Fprintf(ready, "%s\n", reason(err))
			ready.Close()
		}
		return &exitError{ExitFail}
	}
	if o.Debug {
		o.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if metricsListen != "" {
		// Bound before mounting, so a port that cannot be had fails the
		// mount (and a daemon's exit code says so).
		log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
		set := metrics.New(metrics.Options{Role: "mount", Version: version(), Logger: log, Surfaces: []string{}})
		stop, err := serveMetrics(metricsListen, set, log)
		if err != nil {
			return fail(fmt.Errorf("--metrics-listen: %w", err))
		}
		defer stop()
		o.Observe = set.MountDone
	}
	// The kernel applies the caller's umask before it asks to create.
	opts = append(opts, shoal.WithUmask(0))
	if t.fs != "" {
		opts = append(opts, shoal.WithFS(t.fs))
	}
	ctx := context.WithoutCancel(cmd.Context()) // the client outlives the signal
	var c *shoal.Client
	var err error
	if t.remote() {
		if t.token != "" {
			opts = append(opts, shoal.WithToken(t.token))
		}
		c, err = shoal.Dial(ctx, t.addr, opts...)
	} else {
		c, err = shoal.OpenLocal(ctx, t.dir, opts...)
	}
	if err != nil {
		return fail(err)
	}
	m, err := fusefs.New(dir, c, o)
	if err != nil {
		c.Close()
		return fail(err)
	}
	if ready != nil {
		fmt.Fprintln(ready, "ok")
		ready.Close()
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "shoal: mounted %s at %s\n", t.String(), dir)
	}
	done := make(chan struct{})
	go func() { m.Wait(); close(done) }()
	select {
	case <-done:
	case <-cmd.Context().Done():
		if err := m.Unmount(); err != nil {
			// Files are still open: detach now, finish when they close.
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "shoal: mount: %s: unmount: %v\n", dir, err)
			}
		}
		<-done
	}
	if err := c.Close(); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "shoal: mount: %s: close: %s\n", dir, reason(err))
		return &exitError{ExitFail}
	}
	return nil
}

// readyPipe returns the readiness descriptor of a daemonized child, or nil.
func readyPipe() *os.File {
	s := os.Getenv(daemonFDEnv)
	if s == "" {
		return nil
	}
	fd, err := strconv.Atoi(s)
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), "ready")
}

// daemonize starts this command again in a new session with a pipe for
// readiness, and returns once the child mounted (exit 0) or failed (exit
// 1, with the child's reason).
func daemonize(cmd *cobra.Command, dir string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	child := exec.Command(exe, os.Args[1:]...)
	child.Env = append(os.Environ(), daemonFDEnv+"=3")
	child.ExtraFiles = []*os.File{w}
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		w.Close()
		r.Close()
		fmt.Fprintf(cmd.ErrOrStderr(), "shoal: mount: %s: %v\n", dir, err)
		return &exitError{ExitFail}
	}
	w.Close()
	defer r.Close()
	line, err := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "ok" {
		fmt.Fprintf(cmd.ErrOrStderr(), "shoal: mounted at %s (pid %d)\n", dir, child.Process.Pid)
		child.Process.Release()
		return nil
	}
	if line == "" && err != nil {
		line = "the mount process exited before mounting"
		if err != io.EOF {
			line = err.Error()
		}
	}
	_ = child.Wait()
	fmt.Fprintf(cmd.ErrOrStderr(), "shoal: mount: %s: %s\n", dir, line)
	return &exitError{ExitFail}
}

func newUmountCmd() *cobra.Command {
	var lazy bool
	cmd := &cobra.Command{
		Use:   "umount [-l] MOUNTPOINT",
		Short: "Unmount a FUSE-mounted Shoal filesystem",
		Long: "Umount unmounts MOUNTPOINT. It fails with 'device or resource busy' while files\n" +
			"are open there; -l detaches it at once and finishes when they are closed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := unmount(dir, lazy); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "shoal: umount: %s: %v\n", dir, err)
				return &exitError{ExitFail}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&lazy, "lazy", "l", false, "detach now, finish when no file is open (umount -l)")
	return cmd
}

// unmount unmounts dir: with umount(2) as root, else with fusermount3.
func unmount(dir string, lazy bool) error {
	if os.Geteuid() == 0 {
		flags := 0
		if lazy {
			flags = unix.MNT_DETACH
		}
		err := unix.Unmount(dir, flags)
		if errors.Is(err, unix.EINVAL) {
			return errors.New("not a mount point")
		}
		return err
	}
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	out, err := exec.Command("fusermount3", append(args, dir)...).CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return errors.New(msg)
		}
		return err
	}
	return nil
}
