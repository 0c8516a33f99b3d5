package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/data"
	"github.com/shoalfs/shoal/internal/inproc"
	"github.com/shoalfs/shoal/internal/metrics"
	"github.com/shoalfs/shoal/internal/server"
)

// newGatewayCmd builds `shoal gateway`: the S3 gateway alone, over a
// running meta server reached with shoal.Dial.
func newGatewayCmd() *cobra.Command {
	var (
		cfg              server.S3Config
		addr, token, fs  string
		tlsCert, tlsKey  string
		logLevel         string
		shutdownDeadline time.Duration
		logs             logFlags
	)
	cmd := &cobra.Command{
		Use:   "gateway --addr HOST:PORT [--s3-listen HOST:PORT] [--s3-access-key KEY --s3-secret-key SECRET]",
		Short: "Run the S3 gateway alone, over a running Shoal server",
		Long: "Serve the S3 API over the filesystem of the server at --addr (buckets are top-level\n" +
			"directories, keys are paths). The root key pair (acting as root) comes from\n" +
			"--s3-access-key/--s3-secret-key or SHOAL_S3_ACCESS_KEY/SHOAL_S3_SECRET_KEY; without\n" +
			"them a pair is generated for this run and printed. With tokens on the server, pass a\n" +
			"super token (--token) so the gateway may act as each request's identity.",
		Example: "  shoal gateway --addr 127.0.0.1:7700 --s3-listen 127.0.0.1:9000",
		Args:    cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "", "meta server address(es), HOST:PORT[,HOST:PORT] (env SHOAL_ADDR)")
	f.StringVar(&token, "token", "", "bearer token for the server (env SHOAL_TOKEN)")
	f.StringVar(&fs, "fs", "", "filesystem to serve (default \"default\")")
	f.StringVar(&tlsCert, "tls-cert", "", "TLS certificate (PEM) for the S3 listener")
	f.StringVar(&tlsKey, "tls-key", "", "TLS private key (PEM)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error (to stderr)")
	f.DurationVar(&shutdownDeadline, "shutdown-timeout", server.DefaultShutdownTimeout, "how long in-flight requests may take once stopping")
	s3Flags(cmd, &cfg)
	logs.register(cmd)

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		log, err := logs.logger(cmd.ErrOrStderr(), logLevel)
		if err != nil {
			return err
		}
		s3FromEnv(cmd, &cfg)
		if addr == "" {
			addr = strings.TrimSpace(os.Getenv("SHOAL_ADDR"))
		}
		if addr == "" {
			return &usageError{"gateway needs the server's address: --addr HOST:PORT"}
		}
		if token == "" {
			token = envToken()
		}
		if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
			return &usageError{"--s3-access-key and --s3-secret-key go together"}
		}
		if (tlsCert == "") != (tlsKey == "") {
			return &usageError{"--tls-cert and --tls-key go together"}
		}
		generated := false
		if cfg.AccessKey == "" {
			a, s := make([]byte, 10), make([]byte, 20)
			rand.Read(a)
			rand.Read(s)
			cfg.AccessKey, cfg.SecretKey = "SHOAL"+strings.ToUpper(hex.EncodeToString(a))[:15], hex.EncodeToString(s)
			generated = true
		}
		r := newReporter(cmd)
		fail := func(err error) error {
			fmt.Fprintf(cmd.ErrOrStderr(), "shoal: gateway: %v\n", err)
			return &exitError{ExitFail}
		}
		opts := []shoal.Option{shoal.WithLogger(log)}
		if token != "" {
			opts = append(opts, shoal.WithToken(token))
		}
		if fs != "" {
			opts = append(opts, shoal.WithFS(fs))
		}
		ctx := cmd.Context()
		c, err := shoal.Dial(ctx, addr, opts...)
		if err != nil {
			return fail(err)
		}
		gw, closer, err := s3Gateway(ctx, c, &cfg, cfg.AccessKey, cfg.SecretKey, log)
		if err != nil {
			c.Close()
			return fail(err)
		}
		defer closer.Close() // closes c too
		obs := metrics.New(metrics.Options{Role: "gateway", Version: version(), Logger: log, SlowRequest: logs.slowRequest()})
		if err := obs.Register(metrics.CacheCollector(func() []data.Stats { return []data.Stats{inproc.DataStats(c)} })); err != nil {
			return fail(err)
		}
		if logs.metricsListen != "" {
			stopMetrics, err := serveMetrics(logs.metricsListen, obs, log)
			if err != nil {
				return fail(err)
			}
			defer stopMetrics()
		}
		hs := &http.Server{Handler: obs.S3(gw), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		if tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(tlsCert, tlsKey)
			if err != nil {
				return fail(err)
			}
			hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fail(err)
		}
		scheme := "http"
		if hs.TLSConfig != nil {
			scheme = "https"
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "shoal gateway %s\n  s3:        %s://%s (access key %s)\n  meta:      %s\n", version(), scheme, ln.Addr(), cfg.AccessKey, addr)
		if generated {
			fmt.Fprintf(out, "  s3 keys:   AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s (generated for this run)\n", cfg.AccessKey, cfg.SecretKey)
		}
		errc := make(chan error, 1)
		go func() {
			var err error
			if hs.TLSConfig != nil {
				err = hs.ServeTLS(ln, "", "")
			} else {
				err = hs.Serve(ln)
			}
			errc <- err
		}()
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), shutdownDeadline)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				hs.Close()
			}
			<-errc
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				r.fail("", err)
				return r.err()
			}
		}
		fmt.Fprintf(out, "shoal gateway: stopped\n")
		return nil
	}
	return cmd
}
