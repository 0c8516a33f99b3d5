package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/progress"
)

// loadFlags are the flags every `shoal load` command shares.
type loadFlags struct {
	t     target
	json  bool
	watch bool
	every time.Duration
}

// newLoadCmd is `shoal load`: load jobs (docs/datasets.md, "Load jobs").
func newLoadCmd() *cobra.Command {
	f := &loadFlags{}
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Load jobs: prefetch a path into the workers' caches (submit, progress, stop, list)",
		Long: "A load job reads every regular file under a path through the cache, split across the\n" +
			"workers by the ring (each loads the files it owns), so later reads are served from the\n" +
			"cache (docs/datasets.md). Jobs live in the engine: they survive restarts and keep their\n" +
			"id (load-N). Submitting a path that has a running job returns that job. Over --data (no\n" +
			"workers) this process runs the job while it runs: use --watch, or it resumes at the next\n" +
			"`shoal load` command. Submit and stop need a super token when the server has tokens.",
		Example: "  shoal load submit /datasets/imagenet --bandwidth 200MiB/s --watch\n" +
			"  shoal load progress load-3 --watch\n" +
			"  shoal load progress /datasets/imagenet --json\n" +
			"  shoal load stop /datasets/imagenet\n" +
			"  shoal load list",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	targetFlags(cmd, &f.t, true)
	pf := cmd.PersistentFlags()
	pf.BoolVar(&f.json, "json", false, "print JSON (with --watch: one object per line)")
	pf.DurationVar(&f.every, "interval", time.Second, "how often --watch polls")

	var bandwidth string
	var o shoal.LoadOptions
	submit := &cobra.Command{
		Use:   "submit PATH",
		Short: "Start a load job of PATH (or return the one running for it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if bandwidth != "" {
				bw, err := parseSize(strings.TrimSuffix(strings.TrimSuffix(bandwidth, "/s"), "ps"))
				if err != nil {
					return &usageError{fmt.Sprintf("--bandwidth: %v (want e.g. 200MiB/s)", err)}
				}
				o.Bandwidth = bw
			}
			return f.run(cmd, func(c *shoal.Client, w io.Writer) error {
				j, err := c.SubmitLoad(args[0], o)
				if err != nil {
					return err
				}
				if f.watch {
					return f.watchJob(cmd.Context(), c, w, j.ID)
				}
				return f.print(w, j)
			})
		},
	}
	submit.Flags().StringVar(&bandwidth, "bandwidth", "", "bound each worker's reads for the job (e.g. 200MiB/s; default none)")
	submit.Flags().BoolVar(&o.Verify, "verify", false, "read every file twice and compare lengths and CRC32C (the second read comes from the cache)")
	submit.Flags().BoolVar(&o.SkipCached, "skip-cached", false, "skip files the owning worker's cache already holds")
	submit.Flags().BoolVar(&f.watch, "watch", false, "follow the job's progress until it ends")

	prog := &cobra.Command{
		Use:   "progress JOB|PATH",
		Short: "Show a job's progress: files and bytes done/total, throughput, failures, ETA",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *shoal.Client, w io.Writer) error {
				j, err := c.LoadProgress(args[0])
				if err != nil {
					return err
				}
				if f.watch {
					return f.watchJob(cmd.Context(), c, w, j.ID)
				}
				return f.print(w, j)
			})
		},
	}
	prog.Flags().BoolVar(&f.watch, "watch", false, "follow the job until it ends (a live bar on a terminal, a line per --interval otherwise)")

	stop := &cobra.Command{
		Use:   "stop JOB|PATH",
		Short: "Stop a job on every worker (what it loaded stays cached)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *shoal.Client, w io.Writer) error {
				j, err := c.StopLoad(args[0])
				if err != nil {
					return err
				}
				return f.print(w, j)
			})
		},
	}
	var running bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the load jobs, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *shoal.Client, w io.Writer) error {
				js, err := c.ListLoads(running)
				if err != nil {
					return err
				}
				if f.json {
					if js == nil {
						js = []shoal.LoadJob{}
					}
					return json.NewEncoder(w).Encode(js)
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATE\tFILES\tBYTES\tFAILED\tCREATED\tPATH")
				for _, j := range js {
					fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s/%s\t%d\t%s\t%s\n", j.ID, j.State, j.DoneFiles, j.Files,
						progress.Bytes(j.DoneBytes), progress.Bytes(j.Bytes), j.FailedFiles, j.Created.Local().Format(time.DateTime), j.Path)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&running, "running", false, "only the running jobs")
	cmd.AddCommand(submit, prog, stop, list)
	return cmd
}

func (f *loadFlags) run(cmd *cobra.Command, fn func(c *shoal.Client, w io.Writer) error) error {
	if err := f.t.resolve(cmd); err != nil {
		return err
	}
	c, closeFn, err := f.t.open(cmd)
	if err != nil {
		return err
	}
	defer closeFn()
	return fn(c, cmd.OutOrStdout())
}

func (f *loadFlags) print(w io.Writer, j shoal.LoadJob) error {
	if f.json {
		return json.NewEncoder(w).Encode(j)
	}
	fmt.Fprintf(w, "%s  %s  %s\n", j.ID, j.State, j.Path)
	fmt.Fprintln(w, loadLine(j, time.Now()))
	if j.Err != "" {
		fmt.Fprintf(w, "error: %s\n", j.Err)
	}
	for _, fl := range j.Failures {
		fmt.Fprintf(w, "failed: %s: %s\n", fl.Path, fl.Err)
	}
	if n := j.FailedFiles - int64(len(j.Failures)); n > 0 {
		fmt.Fprintf(w, "... and %d more failures\n", n)
	}
	return nil
}

// loadLine is the one-line summary: files, the byte bar with throughput
// and ETA (since the job was created), failures.
func loadLine(j shoal.LoadJob, now time.Time) string {
	end := now
	if !j.Ended.IsZero() {
		end = j.Ended
	}
	total := j.Bytes
	files := fmt.Sprintf("%d/%d", j.DoneFiles, j.Files)
	if !j.Listed && j.State == shoal.LoadRunning {
		total, files = -1, fmt.Sprintf("%d/%d+", j.DoneFiles, j.Files) // the walk is still finding files
	}
	return fmt.Sprintf("files %s  failed %d  %s", files, j.FailedFiles, progress.Render("", j.DoneBytes, total, end.Sub(j.Created)))
}

// watchJob polls job id until it ends: a redrawn line on a terminal, a
// line (or a JSON object) per poll otherwise, then the final summary.
func (f *loadFlags) watchJob(ctx context.Context, c *shoal.Client, w io.Writer, id string) error {
	tty := isTerminal(w) && !f.json
	every := f.every
	if every <= 0 {
		every = time.Second
	}
	for {
		j, err := c.LoadProgress(id)
		if err != nil {
			return err
		}
		switch {
		case j.State != shoal.LoadRunning:
			if tty {
				fmt.Fprint(w, "\r\033[K")
			}
			if err := f.print(w, j); err != nil {
				return err
			}
			if j.State == shoal.LoadFailed {
				return fmt.Errorf("load job %s failed: %d files failed", j.ID, j.FailedFiles)
			}
			return nil
		case f.json:
			if err := json.NewEncoder(w).Encode(j); err != nil {
				return err
			}
		case tty:
			fmt.Fprintf(w, "\r\033[K%s %s", j.ID, loadLine(j, time.Now()))
		default:
			fmt.Fprintf(w, "%s %s\n", j.ID, loadLine(j, time.Now()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}
