package cli

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/bench"
	"github.com/shoalfs/shoal/internal/server"
)

// newBenchPeersCmd is `shoal bench peers`: Shoal beside versitygw and
// Redis in one run (issue 13 item 6; `make bench-peers`).
func newBenchPeersCmd() *cobra.Command {
	var (
		o      bench.PeersOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "peers [--versitygw PATH] [--data DIR]",
		Short: "Measure Shoal beside versitygw (S3) and Redis (KV) in interleaved rounds of one run",
		Long: "Run the S3 workloads (4 KiB PUT/GET and 1 MiB PUT/GET at --clients, listing at 1) against\n" +
			"an in-process Shoal server and against versitygw (posix backend, started here on a free\n" +
			"loopback port; `make .cache/bin/versitygw` builds v1.8.0), and the KV workload (set and get\n" +
			"at --kv-clients) against Shoal and redis-server without persistence (started by\n" +
			"redis-benchmark's run when installed), in --rounds interleaved rounds. Prints each figure's\n" +
			"median and range, p50/p99/p999, the peer's, and the ratio; the KV ratios have targets\n" +
			"(set >= 0.5, get >= 0.8). A peer that is missing is reported as not measured.\n" +
			"Progress goes to stderr, the report to stdout.",
		Example: "  make bench-peers\n  shoal bench peers --versitygw .cache/bin/versitygw --rounds 3 --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Handler = s3Handler(&server.S3Config{}, slog.New(slog.DiscardHandler))
			check := o
			check.EnsureDefaults()
			if err := check.Validate(); err != nil {
				return err
			}
			o.Log = cmd.ErrOrStderr()
			rep, err := bench.RunPeers(cmd.Context(), o)
			return reportBench(cmd, asJSON, rep, rep != nil && len(rep.Results) > 0, err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Versitygw, "versitygw", "", "versitygw binary (default .cache/bin/versitygw, then $PATH)")
	f.StringVar(&o.Dir, "data", "", "directory for the servers' data (default: a temporary directory)")
	f.IntVar(&o.Rounds, "rounds", 3, "interleaved rounds (each figure is their median)")
	f.IntVar(&o.Clients, "clients", 16, "concurrent S3 clients (listing runs at 1)")
	f.IntVar(&o.SmallOps, "small-ops", 10000, "4 KiB objects per PUT round (GETs read as many)")
	f.IntVar(&o.LargeOps, "large-ops", 200, "1 MiB objects per PUT round (GETs read as many)")
	f.IntVar(&o.ListKeys, "list-keys", 20000, "keys in the listed bucket")
	f.IntVar(&o.KVClients, "kv-clients", 50, "concurrent KV clients")
	f.IntVar(&o.KVOps, "kv-ops", 100000, "KV sets, then gets, per round")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
