package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/bench"
)

// newBenchKVCmd is `shoal bench kv`: the KV tables workload of issue 5.
func newBenchKVCmd() *cobra.Command {
	var (
		o      bench.KVOptions
		asJSON bool
		prof   benchProfiles
	)
	cmd := &cobra.Command{
		Use:   "kv [--addr HOST:PORT]",
		Short: "Measure the KV tables: set, get, multi_get and scan through the server",
		Long: "Measure the KV tables through the Go SDK and gRPC on loopback with many concurrent\n" +
			"clients (50 by default) and 100-byte values: set (durable: committed in the engine\n" +
			"before the reply, without fsync), get, multi_get of 100 sort keys and a full-table scan.\n" +
			"Without --addr a server runs in this process on --data (default a temporary directory).\n" +
			"When redis-server and redis-benchmark are installed, Redis is measured the same way\n" +
			"(without persistence) and printed beside. Progress goes to stderr, the report to stdout.",
		Example: "  shoal bench kv\n  shoal bench kv --addr 127.0.0.1:7700 --token $SUPER --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			check := o
			check.EnsureDefaults()
			if err := check.Validate(); err != nil {
				return err
			}
			if o.Token == "" {
				o.Token = envToken()
			}
			o.Log = cmd.ErrOrStderr()
			stop, err := prof.start()
			if err != nil {
				return err
			}
			rep, err := bench.RunKV(cmd.Context(), o)
			err = errors.Join(err, stop())
			return reportBench(cmd, asJSON, rep, rep != nil && len(rep.Results) > 0, err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", "", "measure the server at host:port instead of one started in this process")
	f.StringVar(&o.Token, "token", "", "bearer token for --addr (creating the bench table needs a super token; env SHOAL_TOKEN)")
	f.StringVar(&o.Dir, "data", "", "data directory of the in-process server (default: a temporary directory)")
	f.IntVar(&o.Clients, "clients", 50, "concurrent clients")
	f.IntVar(&o.Conns, "conns", 2, "client connections (shoal.Dial) the clients share (HTTP/2 batches the calls of many clients on one connection: 1-4 measured fastest here, 8 and 16 slower)")
	f.IntVar(&o.ValueSize, "value-size", 100, "bytes per value")
	f.IntVar(&o.Ops, "ops", 200000, "sets, then gets; the sets fill the table the scan reads")
	f.IntVar(&o.MultiGetOps, "multiget-ops", 20000, "multi_get calls")
	f.IntVar(&o.ScanSplits, "scan-splits", 4, "unordered scanners reading the table at once")
	f.BoolVar(&o.Redis, "redis", true, "also run redis-benchmark when Redis is installed")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	prof.addFlags(f)
	return cmd
}
