package cli

import (
	"log/slog"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/bench"
	"github.com/shoalfs/shoal/internal/server"
)

// newBenchS3Cmd is `shoal bench s3`: the S3 gateway workload of issue 6.
func newBenchS3Cmd() *cobra.Command {
	var (
		o          bench.S3Options
		asJSON     bool
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "s3 [--endpoint URL --access-key KEY --secret-key SECRET | --data DIR]",
		Short: "Measure the S3 gateway: 4 KiB and 1 MiB PUT/GET, a multipart upload, listing",
		Long: "Measure an S3 endpoint with aws-sdk-go-v2 (path-style, checksums only when required,\n" +
			"UNSIGNED-PAYLOAD) and 16 concurrent clients: PUT and GET of 4 KiB objects (ops/s) and of\n" +
			"1 MiB objects (MiB/s), a multipart upload of a 1 GiB object (MiB/s) and listing a\n" +
			"100,000-key bucket page by page (keys/s), each the median of --runs runs, with the\n" +
			"loopback TCP limit beside. Without --endpoint a server runs in this process on --data\n" +
			"(default a temporary directory). The bench bucket (bench-s3-N) is left on a remote\n" +
			"endpoint. Progress goes to stderr, the report to stdout.",
		Example: "  shoal bench s3\n" +
			"  shoal bench s3 --endpoint http://127.0.0.1:9000 --access-key $AK --secret-key $SK --json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Endpoint != "" {
				if o.AccessKey == "" {
					o.AccessKey = os.Getenv("SHOAL_S3_ACCESS_KEY")
				}
				if o.SecretKey == "" {
					o.SecretKey = os.Getenv("SHOAL_S3_SECRET_KEY")
				}
			} else {
				o.Handler = s3Handler(&server.S3Config{}, slog.New(slog.DiscardHandler))
			}
			check := o
			check.EnsureDefaults()
			if err := check.Validate(); err != nil {
				return err
			}
			o.Log = cmd.ErrOrStderr()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			rep, err := bench.RunS3(cmd.Context(), o)
			return reportBench(cmd, asJSON, rep, rep != nil && len(rep.Results) > 0, err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Endpoint, "endpoint", "", "S3 endpoint URL to measure instead of a server started in this process")
	f.StringVar(&o.AccessKey, "access-key", "", "access key for --endpoint (env SHOAL_S3_ACCESS_KEY)")
	f.StringVar(&o.SecretKey, "secret-key", "", "secret key for --endpoint (env SHOAL_S3_SECRET_KEY)")
	f.StringVar(&o.Dir, "data", "", "data directory of the in-process server (default: a temporary directory)")
	f.IntVar(&o.Clients, "clients", 16, "concurrent clients")
	f.IntVar(&o.SmallOps, "small-ops", 20000, "4 KiB objects per PUT run (GET runs read as many)")
	f.IntVar(&o.LargeOps, "large-ops", 400, "1 MiB objects per PUT run (GET runs read as many)")
	f.Int64Var(&o.BigSize, "big-size", 1<<30, "bytes of the multipart object")
	f.Int64Var(&o.PartSize, "part-size", 16<<20, "bytes per part of the multipart object")
	f.IntVar(&o.ListKeys, "list-keys", 100000, "keys in the listed bucket")
	f.IntVar(&o.PageSize, "page-size", 1000, "keys per listing page")
	f.IntVar(&o.Runs, "runs", 3, "runs per figure (the median is reported)")
	f.StringSliceVar(&o.Workloads, "workload", nil, "workloads: small,large,multipart,list (default all)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (client and in-process server) to FILE")
	return cmd
}
