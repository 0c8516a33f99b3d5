package cli

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal/internal/health"
	"github.com/shoalfs/shoal/internal/metrics"
)

// logFlags are the logging and metrics flags of the long-running commands
// (server, meta, worker): --log-format, --slow-request and
// --metrics-listen (docs/metrics.md). --log-level stays each command's own.
type logFlags struct {
	format        string
	slow          time.Duration
	metricsListen string
}

func (l *logFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&l.format, "log-format", "text", "text or json (one object a line)")
	f.DurationVar(&l.slow, "slow-request", metrics.DefaultSlowRequest, "log requests slower than this at warn, with their timing (0 never)")
	f.StringVar(&l.metricsListen, "metrics-listen", "", "extra HOST:PORT serving /metrics, /healthz and /readyz (the block HTTP port serves them too)")
}

// slowRequest is the Config value for --slow-request: 0 on the command
// line means never, which the configs spell as negative.
func (l *logFlags) slowRequest() time.Duration {
	if l.slow <= 0 {
		return -1
	}
	return l.slow
}

// logger builds the process logger at level to w in --log-format.
func (l *logFlags) logger(w io.Writer, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, &usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch l.format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, &usageError{fmt.Sprintf("--log-format %q: want text or json", l.format)}
}

// serveMetrics serves /metrics, /healthz and /readyz of a process without
// a server.Server (the gateway) on addr, until the returned func.
func serveMetrics(addr string, set *metrics.Set, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	h := health.New()
	hs := &http.Server{
		Handler:           h.Handle(http.NotFoundHandler(), map[string]http.Handler{"/metrics": set.Handler()}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go hs.Serve(ln)
	return func() { h.Drain(); hs.Close() }, nil
}
