package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal"
)

func newFsckCmd() *cobra.Command {
	var t target
	var loc storageFlags
	var verifyData, asJSON bool
	cmd := &cobra.Command{
		Use:   "fsck [--data DIR [--meta URL] [--store URL] | --addr HOST:PORT] [--fs NAME] [--verify-data] [--json]",
		Short: "Verify every invariant of a filesystem",
		Long: "Verify the metadata invariants (every entry points at a live inode, link\n" +
			"counts match, every slice reference is accounted for) and the block store (no\n" +
			"missing or orphan blocks; with --verify-data, every block's checksum).\n" +
			"With --addr the server checks the metadata and this process the blocks.\n" +
			"Exit status: 0 clean, 1 problems found, 2 fsck could not run.",
		Args: cobra.NoArgs,
	}
	targetFlags(cmd, &t, false)
	loc.register(cmd, false)
	cmd.Flags().BoolVar(&verifyData, "verify-data", false, "read every block and check its CRC (slow)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		w := cmd.OutOrStdout()
		opfail := func(p string, err error) error {
			newReporter(cmd).fail(p, err)
			return &exitError{ExitUsage}
		}
		if err := t.resolve(cmd); err != nil {
			return err
		}
		if err := loc.check(&t); err != nil {
			return err
		}
		// Checking a directory that does not exist would create an empty
		// filesystem and call it clean. With both URLs given the
		// directory holds only the lock.
		if !t.remote() && (loc.meta == "" || loc.store == "") {
			if _, err := os.Stat(t.dir); err != nil {
				return opfail(t.dir, osReason(err))
			}
		}
		var c *shoal.Client
		var closeClient func() error
		var err error
		if loc.meta != "" || loc.store != "" {
			opts := []shoal.Option{shoal.WithStorage(loc.meta, loc.store), shoal.WithGCInterval(0)}
			if t.fs != "" {
				opts = append(opts, shoal.WithFS(t.fs))
			}
			var lc *shoal.Client
			if lc, err = shoal.OpenLocal(cmd.Context(), t.dir, opts...); err == nil {
				c, closeClient = lc.WithContext(cmd.Context()), lc.Close
			}
		} else {
			c, closeClient, err = t.open(cmd)
		}
		if err != nil {
			return opfail(t.String(), err)
		}
		problems, err := c.Check(verifyData)
		st, serr := c.StatFS()
		if cerr := closeClient(); err == nil {
			err = cerr
		}
		if err != nil {
			return opfail(t.String(), err)
		}
		if asJSON {
			out := struct {
				Clean      bool     `json:"clean"`
				Problems   []string `json:"problems"`
				Inodes     *int64   `json:"inodes,omitempty"`
				UsedBytes  *int64   `json:"used_bytes,omitempty"`
				VerifyData bool     `json:"verify_data"`
			}{Clean: len(problems) == 0, Problems: problems, VerifyData: verifyData}
			if out.Problems == nil {
				out.Problems = []string{}
			}
			if serr == nil {
				inodes, used := int64(st.UsedInodes), int64(st.UsedBytes)
				out.Inodes, out.UsedBytes = &inodes, &used
			}
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return opfail("", err)
			}
		} else {
			for _, p := range problems {
				fmt.Fprintln(w, p)
			}
			switch {
			case len(problems) > 0:
				fmt.Fprintf(w, "fsck: %d problem%s\n", len(problems), map[bool]string{true: "s"}[len(problems) != 1])
			case serr == nil:
				fmt.Fprintf(w, "fsck: clean, %d inodes, %d bytes used\n", int64(st.UsedInodes), int64(st.UsedBytes))
			default:
				fmt.Fprintln(w, "fsck: clean")
			}
		}
		if len(problems) > 0 {
			return &exitError{ExitFail}
		}
		return nil
	}
	return cmd
}
