package cli

import (
	"github.com/spf13/cobra"

	shoal "github.com/shoalfs/shoal"
)

// fsEnv is what every "shoal fs" subcommand shares: where the
// filesystem is.
type fsEnv struct{ target }

func newFSCmd() *cobra.Command {
	env := &fsEnv{}
	cmd := &cobra.Command{
		Use:   "fs",
		Short: "Work with files in a Shoal filesystem (ls, put, get, ...)",
		Long: "Work with files in a Shoal filesystem: a local data directory (--data DIR, one\n" +
			"process at a time) or a running server (--addr HOST:PORT[,HOST:PORT...]).\n" +
			"Given neither: $SHOAL_ADDR, else $SHOAL_DATA, else a server listening on\n" +
			defaultAddr + "; without one the command fails and says so.\n" +
			"--fs NAME picks a filesystem other than \"default\"; --token authenticates to a\n" +
			"server that has tokens. Remote paths are relative to the filesystem root; a\n" +
			"leading \"/\" is optional.",
		Example: "  shoal fs --data ./data ls /\n" +
			"  shoal fs --addr 127.0.0.1:7700 put big.bin /in/\n" +
			"  SHOAL_ADDR=10.0.0.5:7700 SHOAL_TOKEN=... shoal fs --fs models ls -l /",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	targetFlags(cmd, &env.target, true)
	cmd.AddCommand(
		newLsCmd(env), newStatCmd(env), newTreeCmd(env), newDuCmd(env), newDfCmd(env),
		newPutCmd(env), newGetCmd(env), newCatCmd(env),
		newMkdirCmd(env), newRmCmd(env), newMvCmd(env), newLnCmd(env), newTouchCmd(env), newTruncateCmd(env),
		newChmodCmd(env), newChownCmd(env), newXattrCmd(env),
	)
	return cmd
}

// fsFunc is the body of an fs subcommand. It reports operation failures
// through r and returns an error only for a usage error.
type fsFunc func(cmd *cobra.Command, c *shoal.Client, r *reporter, args []string) error

// run opens the data directory around fn.
func (e *fsEnv) run(fn fsFunc) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := e.resolve(cmd); err != nil {
			return err
		}
		r := newReporter(cmd)
		c, closeClient, err := e.open(cmd)
		if err != nil {
			r.fail(e.String(), err)
			return r.err()
		}
		usageErr := fn(cmd, c, r, args)
		if err := closeClient(); err != nil {
			r.fail(e.String(), err)
		}
		if usageErr != nil {
			return usageErr
		}
		return r.err()
	}
}
