package cli

import (
	"github.com/spf13/cobra"

	shoal "github.com/shoalfs/shoal"
)

// fsEnv is what every "shoal fs" subcommand shares: the data directory.
type fsEnv struct{ dir string }

func newFSCmd() *cobra.Command {
	env := &fsEnv{}
	cmd := &cobra.Command{
		Use:   "fs",
		Short: "Work with files in a local Shoal filesystem (ls, put, get, ...)",
		Long: "Work with files in a local Shoal filesystem, opened from its data directory.\n" +
			"Remote paths are relative to the filesystem root; a leading \"/\" is optional.\n" +
			"Only one process at a time may open a data directory.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	dataFlag(cmd, &env.dir, true)
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
		r := newReporter(cmd)
		c, closeClient, err := openLocal(cmd, e.dir)
		if err != nil {
			r.fail(e.dir, err)
			return r.err()
		}
		usageErr := fn(cmd, c, r, args)
		if err := closeClient(); err != nil {
			r.fail(e.dir, err)
		}
		if usageErr != nil {
			return usageErr
		}
		return r.err()
	}
}
