package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/agent"
)

// newAgentCmd is `shoal agent`: the per-user daemon the Python SDK talks
// to. The Python package starts it by itself; running it by hand is for
// debugging and for service managers.
func newAgentCmd() *cobra.Command {
	var (
		socket   string
		idle     time.Duration
		linger   time.Duration
		parallel int
		logLevel string
		logs     logFlags
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the local agent that serves the Python SDK over a Unix socket",
		Long: "shoal agent serves Shoal to local processes of this user (the Python package `shoal`)\n" +
			"over a Unix socket, with payloads in shared memory. One agent serves every process of\n" +
			"the user and shares one client and cache per filesystem; it exits after --idle-timeout\n" +
			"with no connection. The socket defaults to $" + agent.SocketEnv + ", else\n" +
			"$XDG_RUNTIME_DIR/shoal/agent.sock, else /tmp/shoal-<uid>/agent.sock.\n" +
			"Metrics are off unless --metrics-listen or $" + agent.MetricsEnv + " names an address\n" +
			"(the Python package starts the agent with its own environment).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logs.logger(cmd.ErrOrStderr(), logLevel)
			if err != nil {
				return err
			}
			metricsAt := logs.metricsListen
			if !cmd.Flags().Changed("metrics-listen") {
				metricsAt = os.Getenv(agent.MetricsEnv)
			}
			a, err := agent.New(agent.Config{
				Socket:        socket,
				IdleTimeout:   idle,
				ClientLinger:  linger,
				Parallel:      parallel,
				Logger:        logger,
				SlowRequest:   logs.slowRequest(),
				MetricsListen: metricsAt,
				Version:       version(),
			})
			if errors.Is(err, agent.ErrRunning) {
				fmt.Fprintf(cmd.ErrOrStderr(), "shoal: agent: already running on %s\n", socketOr(socket))
				return nil
			}
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "shoal: agent: %v\n", err)
				return &exitError{code: ExitFail}
			}
			if at := a.MetricsAddr(); at != "" {
				logger.Info("agent: serving", "socket", a.Socket(), "pid", os.Getpid(), "metrics", "http://"+at+"/metrics")
			} else {
				logger.Info("agent: serving", "socket", a.Socket(), "pid", os.Getpid())
			}
			if err := a.Run(cmd.Context()); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "shoal: agent: %v\n", err)
				return &exitError{code: ExitFail}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&socket, "socket", "", "Unix socket path (default: per-user, see above)")
	f.DurationVar(&idle, "idle-timeout", 10*time.Minute, "exit after this long with no connection (negative: never)")
	f.DurationVar(&linger, "client-linger", time.Minute, "keep an unused filesystem client (and its cache) open this long")
	f.IntVar(&parallel, "parallel", 16, "how many entries of one preadv/pwritev batch run at once")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	logs.register(cmd)
	f.Lookup("metrics-listen").Usage = "HOST:PORT serving /metrics, /healthz and /readyz (default $" + agent.MetricsEnv + ", else none)"
	return cmd
}

func socketOr(s string) string {
	if s == "" {
		return agent.DefaultSocket()
	}
	return s
}
