package cli

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	shoal "github.com/shoalfs/shoal"
)

// target is where a command finds its filesystem: a local data directory
// (--data) or running servers (--addr), and which filesystem (--fs).
type target struct {
	dir   string
	addr  string
	fs    string
	token string
}

// targetFlags registers --data, --addr, --fs and --token on cmd.
func targetFlags(cmd *cobra.Command, t *target, persistent bool) {
	dataFlag(cmd, &t.dir, persistent)
	flags := cmd.Flags()
	if persistent {
		flags = cmd.PersistentFlags()
	}
	flags.StringVar(&t.addr, "addr", "", "reach a running server instead of a data directory: host:port[,host:port...] tried in order (env SHOAL_ADDR)")
	flags.StringVar(&t.fs, "fs", os.Getenv("SHOAL_FS"), "filesystem name (default \"default\"; env SHOAL_FS)")
	flags.StringVar(&t.token, "token", "", "bearer token for --addr, when the server has tokens (env SHOAL_TOKEN)")
}

// usageError is a command-line mistake: exit 2 with the message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// resolve settles local against remote from the flags and environment:
// --data and --addr together are a usage error; without either flag,
// $SHOAL_ADDR picks a server, else --data's default applies.
func (t *target) resolve(cmd *cobra.Command) error {
	dataSet := cmd.Flags().Changed("data")
	if t.addr == "" && !dataSet && !cmd.Flags().Changed("addr") {
		t.addr = os.Getenv("SHOAL_ADDR")
	}
	if cmd.Flags().Changed("addr") && strings.TrimSpace(t.addr) == "" {
		return &usageError{"--addr needs host:port[,host:port...]"}
	}
	if t.addr != "" && dataSet {
		return &usageError{"--data and --addr exclude each other: --data opens a local data directory, --addr a running server"}
	}
	if t.token == "" {
		t.token = os.Getenv("SHOAL_TOKEN")
	}
	return nil
}

// remote reports whether the target is a server.
func (t *target) remote() bool { return t.addr != "" }

// String names the target in messages: the directory, or the server
// address with the filesystem name when not the default.
func (t *target) String() string {
	if !t.remote() {
		return t.dir
	}
	if t.fs != "" && t.fs != "default" {
		return t.addr + "/" + t.fs
	}
	return t.addr
}

// open opens the client for cmd. It returns a view bound to cmd's context
// and the function that closes the client (closing a view would release
// nothing).
func (t *target) open(cmd *cobra.Command) (*shoal.Client, func() error, error) {
	var opts []shoal.Option
	if t.fs != "" {
		opts = append(opts, shoal.WithFS(t.fs))
	}
	var c *shoal.Client
	var err error
	if t.remote() {
		if t.token != "" {
			opts = append(opts, shoal.WithToken(t.token))
		}
		c, err = shoal.Dial(cmd.Context(), t.addr, opts...)
	} else {
		c, err = shoal.OpenLocal(cmd.Context(), t.dir, opts...)
	}
	if err != nil {
		return nil, nil, err
	}
	return c.WithContext(cmd.Context()), c.Close, nil
}
