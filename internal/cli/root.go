// Package cli implements the shoal command line: the cobra command tree
// that cmd/shoal runs. Each command group lives in its own file and every
// command writes only to cmd.OutOrStdout and cmd.ErrOrStderr, so the whole
// tree runs in-process in tests.
//
// Exit codes are part of the interface: 0 success; 1 an operation failed
// (each failure reported as "shoal: <cmd>: <path>: <reason>" on stderr,
// and commands given several paths go on with the rest, like coreutils);
// 2 a usage error (bad flags, wrong argument count, an unparsable mode).
// fsck additionally exits 1 when it found problems and 2 when it could not
// run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/fserr"
)

// Version is the release version, set at link time with
// -ldflags "-X github.com/shoalfs/shoal/internal/cli.Version=v1.2.3".
// When unset the module version from the build info is used.
var Version = ""

// Exit codes.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

// exitError ends a command with a given exit code after the command has
// already told the user what went wrong.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// New returns the root command. To add a command group, add one line to
// the block marked below.
func New() *cobra.Command {
	root := &cobra.Command{
		Use:   "shoal",
		Short: "Shoal: a POSIX filesystem, S3 API and KV store over durable engines",
		Long: "Shoal is one storage system with several doors onto the same data.\n" +
			"This binary holds every role; each is a subcommand.",
		SilenceErrors: true, // Run prints errors itself, with exit codes
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: true,
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	// shoal --version prints what "shoal version" does.
	root.Version = version()
	root.SetVersionTemplate(versionLine())

	// Command groups. Adding one is one line here.
	root.AddCommand(newFSCmd())
	root.AddCommand(newFsckCmd())
	root.AddCommand(newVersionCmd())
	root.AddCommand(newBenchCmd())
	root.AddCommand(newServerCmd(roleServer), newServerCmd(roleMeta), newServerCmd(roleWorker))
	root.AddCommand(newGatewayCmd())
	root.AddCommand(newS3Cmd())
	root.AddCommand(newAdminCmd())
	root.AddCommand(newStatusCmd())
	root.AddCommand(newAgentCmd())
	root.AddCommand(newKVCmd())
	root.AddCommand(newLoadCmd())
	root.AddCommand(newMountCmd(), newUmountCmd())

	return root
}

// Run executes the command line args (without the program name) and
// returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := New()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		name := "shoal"
		if cmd != nil {
			name = cmd.CommandPath()
		}
		fmt.Fprintf(stderr, "%s: %s\n", name, ue.msg)
		return ExitUsage
	}
	// Anything not reported by a command itself is cobra rejecting the
	// command line, or a command rejecting its arguments.
	name := "shoal"
	if cmd != nil {
		name = cmd.CommandPath()
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", name)
	return ExitUsage
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of shoal",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(cmd.OutOrStdout(), versionLine())
			return nil
		},
	}
}

// versionLine is the output of "shoal version" and "shoal --version".
func versionLine() string {
	return fmt.Sprintf("shoal %s %s %s/%s\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// dataFlag registers --data on cmd, defaulting to $SHOAL_DATA or ./data.
// Commands that open a local data directory share it.
func dataFlag(cmd *cobra.Command, dir *string, persistent bool) {
	def := os.Getenv("SHOAL_DATA")
	if def == "" {
		def = "./data"
	}
	flags := cmd.Flags()
	if persistent {
		flags = cmd.PersistentFlags()
	}
	flags.StringVar(dir, "data", def, "data directory of the local filesystem (env SHOAL_DATA)")
}

// reporter collects the failures of one command: each is printed at once
// and the command exits 1 at the end.
type reporter struct {
	cmd    *cobra.Command
	name   string // the command's name in messages: "ls", "fsck"
	failed bool
}

func newReporter(cmd *cobra.Command) *reporter {
	return &reporter{cmd: cmd, name: cmd.Name()}
}

// fail reports err about the user-given path p (which may be empty).
func (r *reporter) fail(p string, err error) {
	r.failed = true
	if msg, ok := addrReason(err); ok {
		// The message names every address itself.
		fmt.Fprintf(r.cmd.ErrOrStderr(), "shoal: %s: %s\n", r.name, msg)
		return
	}
	if p != "" {
		fmt.Fprintf(r.cmd.ErrOrStderr(), "shoal: %s: %s: %s\n", r.name, p, reason(err))
	} else {
		fmt.Fprintf(r.cmd.ErrOrStderr(), "shoal: %s: %s\n", r.name, reason(err))
	}
}

// failf reports a failure described by a message rather than an error.
func (r *reporter) failf(p, format string, args ...any) {
	r.fail(p, errors.New(fmt.Sprintf(format, args...)))
}

// err is the command's result: nil, or exit status 1 after failures.
func (r *reporter) err() error {
	if r.failed {
		return &exitError{ExitFail}
	}
	return nil
}

// reason is the part of a message a shell user acts on. For kinds whose
// errno text says it all (ENOENT, EEXIST, ...) that text alone, like
// coreutils; otherwise the whole error, whose detail (the holder of a
// busy lock, the object that failed its checksum) matters.
func reason(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	var fe *fserr.Error
	if !errors.As(err, &fe) {
		return err.Error()
	}
	switch k := fserr.KindOf(err); k {
	case fserr.NotExist, fserr.Exist, fserr.NotDir, fserr.IsDir, fserr.NotEmpty,
		fserr.Permission, fserr.NotPermitted, fserr.NoData, fserr.Loop,
		fserr.NameTooLong, fserr.TooManyLinks, fserr.CrossDevice, fserr.ReadOnly,
		fserr.NoSpace, fserr.TooBig, fserr.NotSupported, fserr.TextBusy:
		return k.String()
	case fserr.Busy:
		// The innermost cause names the holder; the layers above it only
		// repeat the directory the message already shows.
		for {
			var inner *fserr.Error
			if !errors.As(fe.Err, &inner) {
				break
			}
			fe = inner
		}
		if fe.Err != nil {
			return k.String() + ": " + fe.Err.Error()
		}
		return k.String()
	}
	return err.Error()
}

// remote turns a user-given remote path into an SDK name: a leading "/"
// is optional, trailing slashes and "." / ".." elements are resolved
// lexically, and the root is ".".
func remote(p string) string {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" {
		return "."
	}
	return c
}

// remoteJoin joins a directory name and an entry name.
func remoteJoin(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// displayJoin joins a user-given path and an entry name for display.
func displayJoin(p, name string) string {
	if p == "" || strings.HasSuffix(p, "/") {
		return p + name
	}
	return p + "/" + name
}
