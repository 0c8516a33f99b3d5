package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/s3/shoalfs"
)

// newS3Cmd is `shoal s3`: S3 settings kept in the namespace, changed
// without going through the S3 API (which has no public-bucket call).
func newS3Cmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "s3",
		Short: "S3 gateway settings stored in the filesystem",
	}
	cmd.AddCommand(newS3PublicCmd())
	return cmd
}

func newS3PublicCmd() *cobra.Command {
	var t target
	cmd := &cobra.Command{
		Use:   "public BUCKET [on|off]",
		Short: "Show, or allow or forbid, anonymous reads of a bucket",
		Long: "Anonymous (unsigned) S3 requests may read objects of a bucket marked public;\n" +
			"every other anonymous request is refused. Without on|off, print the setting.",
		Args: cobra.RangeArgs(1, 2),
	}
	targetFlags(cmd, &t, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		bucket := args[0]
		var set, public bool
		if len(args) == 2 {
			switch args[1] {
			case "on":
				set, public = true, true
			case "off":
				set = true
			default:
				return &usageError{fmt.Sprintf("want on or off, not %q", args[1])}
			}
		}
		if err := t.resolve(cmd); err != nil {
			return err
		}
		c, closeClient, err := t.open(cmd)
		if err != nil {
			newReporter(cmd).fail(t.String(), err)
			return &exitError{ExitFail}
		}
		defer closeClient()
		b, err := shoalfs.New(cmd.Context(), c, shoalfs.Options{UploadTTL: -1})
		if err == nil {
			defer b.Close()
			if set {
				err = b.SetPublic(cmd.Context(), bucket, public)
			} else {
				public, err = b.BucketPublic(cmd.Context(), bucket)
			}
		}
		if err != nil {
			newReporter(cmd).fail(bucket, err)
			return &exitError{ExitFail}
		}
		state := "private"
		if public {
			state = "public"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", bucket, state)
		return nil
	}
	return cmd
}
