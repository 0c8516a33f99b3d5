package cli

import (
	"errors"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/rpc"
	"github.com/shoalfs/shoal/internal/server"
)

// target is where a command finds its filesystem: a local data directory
// (--data) or running servers (--addr), and which filesystem (--fs).
type target struct {
	dir   string
	addr  string
	fs    string
	token string
}

// defaultAddr is where a command looks for a server when told neither
// --addr nor --data (a variable so tests need not touch the real port).
var defaultAddr = server.DefaultListen

// targetFlags registers --data, --addr, --fs and --token on cmd.
func targetFlags(cmd *cobra.Command, t *target, persistent bool) {
	flags := cmd.Flags()
	if persistent {
		flags = cmd.PersistentFlags()
	}
	// No ./data default: a mistyped or forgotten --addr must not put the
	// user's files in a directory of the current one (see resolve).
	flags.StringVar(&t.dir, "data", os.Getenv("SHOAL_DATA"), "open the data directory DIR in this process instead of reaching a server (env SHOAL_DATA)")
	flags.StringVar(&t.addr, "addr", "", "reach a running server: host:port[,host:port...] tried in order (env SHOAL_ADDR; default "+defaultAddr+" when a server listens there)")
	flags.StringVar(&t.fs, "fs", os.Getenv("SHOAL_FS"), "filesystem name (default \"default\"; env SHOAL_FS)")
	flags.StringVar(&t.token, "token", "", "bearer token for --addr, when the server has tokens (env SHOAL_TOKEN)")
}

// usageError is a command-line mistake: exit 2 with the message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// resolve settles local against remote from the flags and environment:
// --data and --addr together are a usage error. Without either flag,
// $SHOAL_ADDR picks a server, else $SHOAL_DATA a data directory, else a
// server listening on defaultAddr; failing all three is a usage error
// saying how to choose, never a silent ./data.
func (t *target) resolve(cmd *cobra.Command) error {
	dataSet := cmd.Flags().Changed("data")
	addrSet := cmd.Flags().Changed("addr")
	if addrSet && strings.TrimSpace(t.addr) == "" {
		return &usageError{"--addr needs host:port[,host:port...]"}
	}
	if dataSet && strings.TrimSpace(t.dir) == "" {
		return &usageError{"--data needs a directory"}
	}
	if addrSet && dataSet {
		return &usageError{"--data and --addr exclude each other: --data opens a local data directory, --addr a running server"}
	}
	if !addrSet && !dataSet {
		switch env := strings.TrimSpace(os.Getenv("SHOAL_ADDR")); {
		case env != "":
			t.addr, t.dir = env, ""
		case t.dir != "": // $SHOAL_DATA
		case listening(defaultAddr):
			t.addr = defaultAddr
		default:
			return &usageError{"no filesystem given, and no server listens on " + defaultAddr + ":\n" +
				"  --addr HOST:PORT (or SHOAL_ADDR) reaches a running server;\n" +
				"  --data DIR (or SHOAL_DATA) opens a local data directory in this process"}
		}
	}
	if t.token == "" {
		t.token = os.Getenv("SHOAL_TOKEN")
	}
	return nil
}

// listening reports whether something accepts connections at addr.
func listening(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
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

// addrReason is the message for a connection that failed because no
// address given answered as the Shoal API (rpc.AddrsError), phrased for
// the command line; ok is false for any other error.
func addrReason(err error) (msg string, ok bool) {
	var list rpc.AddrsError
	if !errors.As(err, &list) {
		var one *rpc.AddrError
		if !errors.As(err, &one) {
			return "", false
		}
		list = rpc.AddrsError{one}
	}
	var b strings.Builder
	for i, a := range list {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(a.Addr + " " + a.Problem)
		if a.Suggest != "" {
			b.WriteString(": did you mean --addr " + a.Suggest + "?")
		}
	}
	return b.String(), true
}
