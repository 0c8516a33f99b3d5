package cli

import (
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var (
		opts    bench.Options
		bigSize string
		fioSize string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "bench --data DIR | --addr ADDR [--data DIR] | --server --data DIR | --mount MOUNTPOINT [--addr ADDR] [--data DIR]",
		Short: "Measure Shoal against the host filesystem on the same disk, locally or through a server",
		Long: "Run the benchmark suite: each workload against Shoal (through the Go SDK, in DIR/shoal)\n" +
			"and against the host filesystem (through the os package, in DIR/host), so every figure\n" +
			"is printed beside the physical limit of the disk holding DIR, with the ratio and the target.\n" +
			"DIR/shoal and DIR/host must not exist; both are removed afterwards unless --keep.\n" +
			"Workloads: big (one big file, 1 MiB I/O), small (1,000 files of 128 KiB),\n" +
			"meta (44,400 empty files in 111 directories: create, stat; readdir of 10,000 entries).\n" +
			"Through a server: --addr ADDR runs the same workloads through shoal.Dial against a\n" +
			"running server (in a directory of its own, removed afterwards; host figures only with\n" +
			"--data), and --server --data DIR starts a server in this process on DIR/server\n" +
			"(loopback, ports picked by the kernel) and measures through it. Both add the clients\n" +
			"workload (create and stat from 4 and 16 separate clients, each its own session) and\n" +
			"print the loopback TCP limit beside every throughput figure.\n" +
			"Through a mount: --mount MOUNTPOINT runs the big, small and meta workloads with plain\n" +
			"file calls on MOUNTPOINT/shoal-bench (a `shoal mount`), beside the FUSE ceiling: a\n" +
			"passthrough mount (go-fuse loopback) of DIR/ceiling-src at DIR/ceiling (DIR a temporary\n" +
			"directory without --data), interleaved in the same run, then fio jobs (sequential 1 MiB\n" +
			"write and read, 4 KiB random read; 4 jobs, iodepth 32, libaio, buffered) on both, and\n" +
			"issue 12's JuiceFS figures beside each; with --addr (the server the mount uses) the Go\n" +
			"SDK reads the big file in-process too, for the mount/SDK ratio.\n" +
			"Progress goes to stderr, the report to stdout.",
		Example: "  shoal bench --data /mnt/nvme/tmp\n" +
			"  shoal bench --data /tmp/b --workload meta --repeat 5 --json\n" +
			"  shoal bench --server --data /mnt/nvme/tmp\n" +
			"  shoal bench --addr 127.0.0.1:7700 --workload clients\n" +
			"  shoal bench --mount /mnt/shoal --addr 127.0.0.1:7700 --data /mnt/nvme/tmp",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			size, err := bench.ParseSize(bigSize)
			if err != nil {
				return err
			}
			opts.BigSize = size
			if opts.FioSize, err = bench.ParseSize(fioSize); err != nil {
				return err
			}
			for i, w := range opts.Workloads {
				opts.Workloads[i] = strings.ToLower(strings.TrimSpace(w))
			}
			check := opts
			check.EnsureDefaults()
			if err := check.Validate(); err != nil {
				return err // a usage error: exit 2
			}
			opts.Log = cmd.ErrOrStderr()
			if opts.Mount != "" {
				rep, err := bench.RunMount(cmd.Context(), opts)
				return reportBench(cmd, asJSON, rep, rep != nil && len(rep.Results)+len(rep.Fio) > 0, err)
			}
			rep, err := bench.Run(cmd.Context(), opts)
			return reportBench(cmd, asJSON, rep, rep != nil && len(rep.Results) > 0, err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Dir, "data", "", "directory on the disk to measure; DIR/shoal (or DIR/server) and DIR/host are created in it")
	f.StringVar(&opts.Addr, "addr", "", "benchmark the running server(s) at HOST:PORT[,HOST:PORT] through shoal.Dial")
	f.BoolVar(&opts.Server, "server", false, "start a server in this process on DIR/server and benchmark through it over loopback")
	f.StringVar(&opts.Mount, "mount", "", "benchmark the mounted Shoal filesystem at MOUNTPOINT through the kernel, beside a FUSE passthrough ceiling")
	f.StringVar(&fioSize, "fio-size", "256MiB", "with --mount: file size of each of fio's 4 jobs (0 with --fio-runtime 0: no fio)")
	f.DurationVar(&opts.FioRuntime, "fio-runtime", 10*time.Second, "with --mount: the most each fio job runs")
	f.IntSliceVar(&opts.ClientCounts, "clients", []int{4, 16}, "numbers of separate clients for the clients workload")
	f.IntVar(&opts.Repeat, "repeat", 3, "runs of each workload per target; the report shows median, min and max")
	f.StringVar(&bigSize, "big-size", "1GiB", "size of the big file")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringSliceVar(&opts.Workloads, "workload", nil, "workloads to run: "+strings.Join(bench.AllWorkloads, ",")+" (default all; clients only through a server)")
	f.IntVar(&opts.Threads, "threads", 4, "goroutines for the small-file and metadata workloads")
	f.Float64Var(&opts.Scale, "scale", 1, "multiply every file size and count by this (0.1 for a quick look)")
	f.BoolVar(&opts.Keep, "keep", false, "keep DIR/shoal and DIR/host afterwards")
	cmd.AddCommand(newBenchKVCmd())
	cmd.AddCommand(newBenchS3Cmd())
	cmd.AddCommand(newBenchPeersCmd())
	return cmd
}

// benchReport is what the bench commands print.
type benchReport interface {
	WriteJSON(w io.Writer) error
	WriteText(w io.Writer) error
}

// reportBench ends a bench command: the run's error in full (its detail,
// such as which directory exists or which file a workload failed on, is
// what the user acts on), then the report, which a failed run prints too
// when it measured anything.
func reportBench(cmd *cobra.Command, asJSON bool, rep benchReport, measured bool, runErr error) error {
	r := newReporter(cmd)
	if runErr != nil {
		r.failf("", "%v", runErr)
	}
	if !measured {
		return r.err()
	}
	var err error
	if asJSON {
		err = rep.WriteJSON(cmd.OutOrStdout())
	} else {
		err = rep.WriteText(cmd.OutOrStdout())
	}
	if err != nil {
		r.fail("", err)
	}
	return r.err()
}
