package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	shoal "github.com/shoalfs/shoal"

	"github.com/shoalfs/shoal/internal/bench"
	"github.com/shoalfs/shoal/internal/console"
	"github.com/shoalfs/shoal/internal/load"
	"github.com/shoalfs/shoal/internal/server"
)

type serveRole int

const (
	roleServer serveRole = iota
	roleMeta
	roleWorker
)

// newServerCmd builds `shoal server`, `shoal meta` or `shoal worker`: one
// flag set, each role using the flags that concern it.
func newServerCmd(role serveRole) *cobra.Command {
	var (
		cfg        server.Config
		tokensFile string
		logLevel   string
		metaAddrs  string
		logs       logFlags
		capacity   string
	)
	cmd := &cobra.Command{Args: cobra.NoArgs}
	switch role {
	case roleServer:
		cfg.Roles = server.RoleAll
		cmd.Use = "server --data DIR [--listen HOST:PORT] [--worker-listen HOST:PORT] [--tokens FILE]"
		cmd.Short = "Run a Shoal server: the meta and worker roles in one process"
		cmd.Long = "Run the meta role (gRPC API: namespaces, sessions, admin; --listen) and the worker\n" +
			"role (block transfer over HTTP; --worker-listen) in one process, on the embedded\n" +
			"engine and block directory in --data, or on the engine at --meta URL and the block store\n" +
			"at --store URL (etcd, PostgreSQL, S3: docs/storage.md; --data then holds only the lock and the S3 root key).\n" +
			"Both listen on 127.0.0.1 unless told otherwise;\n" +
			"listening beyond loopback requires --tokens. SIGTERM or SIGINT stops it cleanly:\n" +
			"in-flight requests finish, the engine is closed. Clients connect with --addr\n" +
			"(shoal fs --addr HOST:PORT ...) or shoal.Dial in Go."
		cmd.Example = "  shoal server --data ./data\n" +
			"  shoal server --data /srv/shoal --listen 0.0.0.0:7700 --worker-listen 0.0.0.0:7701 --tokens /etc/shoal/tokens\n" +
			"  shoal server --meta postgres://shoal@db:5432/shoal --store 's3://blocks/shoal?endpoint=http://minio:9000'"
	case roleMeta:
		cfg.Roles = server.RoleMeta
		cmd.Use = "meta [--data DIR | --meta URL] [--worker-url URL] [--listen HOST:PORT] [--tokens FILE]"
		cmd.Short = "Run the meta role alone (gRPC API over the engine in --data or at --meta)"
		cmd.Long = "Run only the meta role. Block transfer is served by workers elsewhere, which hold\n" +
			"leases in the engine (shoal worker --meta): clients are told the live workers, and the\n" +
			"garbage collector deletes blocks through them (with --token when the workers have\n" +
			"tokens). --worker-url names workers to announce and collect through besides, or\n" +
			"before any lease exists."
		cmd.Example = "  shoal meta --data /srv/meta --worker-url http://10.0.0.6:7701 --tokens tokens --listen 0.0.0.0:7700"
	case roleWorker:
		cfg.Roles = server.RoleWorker
		cmd.Use = "worker [--data DIR | --store URL] --meta HOST:PORT [--worker-listen HOST:PORT] [--tokens FILE]"
		cmd.Short = "Run the worker role alone (block transfer over HTTP from --data or --store)"
		cmd.Long = "Run only the worker role: serve the blocks under --data/blocks over HTTP. The\n" +
			"filesystem registry comes from the meta server given with --meta (with --token when\n" +
			"it has tokens), with which the worker keeps a lease so clients place blocks on it\n" +
			"(docs/cluster.md) and meta's garbage collector deletes blocks through it."
		cmd.Example = "  shoal worker --data /srv/blocks --meta 10.0.0.5:7700 --worker-listen 0.0.0.0:7701 --tokens tokens --token PEER"
	}
	f := cmd.Flags()
	dataFlag(cmd, &cfg.DataDir, false)
	if role != roleWorker {
		f.StringVar(&cfg.MetaURL, "meta", "", "metadata engine URL: badger:///DIR (default: DIR/meta under --data), etcd://HOST:2379[,HOST:2379]/PREFIX, postgres://USER@HOST:5432/DB (docs/storage.md)")
	}
	if role != roleMeta {
		f.StringVar(&cfg.StoreURL, "store", "", "block store URL: file:///DIR (default: DIR/blocks under --data), s3://BUCKET/PREFIX?endpoint=URL (docs/storage.md)")
	}
	if role != roleWorker {
		f.StringVar(&cfg.Listen, "listen", server.DefaultListen, "gRPC API address (HOST:PORT)")
		f.DurationVar(&cfg.SessionTTL, "session-ttl", 30*time.Second, "a client session ends this long after its last heartbeat")
		f.DurationVar(&cfg.GCInterval, "gc-interval", server.DefaultGCInterval, "period of session expiry and garbage collection")
		f.StringSliceVar(&cfg.WorkerURLs, "worker-url", nil, "block server URL announced to clients and used by the collector when no worker holds a lease (repeatable; default this process's worker, or the live workers' leases)")
		f.StringVar(&capacity, "capacity", "", "byte quota per filesystem, such as 500GiB: df shows it and writes past it fail with ENOSPC (default none: df shows the room on the data directory's disk)")
	}
	if role != roleMeta {
		f.StringVar(&cfg.WorkerListen, "worker-listen", server.DefaultWorkerListen, "block HTTP address (HOST:PORT)")
		f.StringVar(&cfg.WorkerID, "worker-id", "", "this worker's id in the worker registry, its place on the ring: keep it across restarts (default: its block address HOST:PORT)")
		f.DurationVar(&cfg.LeaseTTL, "lease-ttl", server.DefaultLeaseTTL, "the worker's lease lapses this long after its last heartbeat (docs/cluster.md)")
		f.StringVar(&cfg.WorkerAdvertise, "worker-advertise", "", "block URL clients reach this worker at, http://HOST:PORT, when it is not --worker-listen's address (behind a proxy or NAT, or when clients cannot resolve this host's name, which 0.0.0.0 announces)")
	}
	if role == roleWorker {
		f.StringVar(&metaAddrs, "meta", "", "meta server address(es), HOST:PORT[,HOST:PORT]")
	}
	if role != roleServer {
		f.StringVar(&cfg.PeerToken, "token", "", "token this role presents to the other (env SHOAL_TOKEN)")
	}
	if role == roleServer {
		s3Flags(cmd, &cfg.S3)
	}
	if role != roleWorker {
		f.StringVar(&cfg.WebListen, "web-listen", webDefault(role), "web console address (HOST:PORT; \"\" disables it; docs/console.md)")
	}
	f.StringVar(&tokensFile, "tokens", "", "tokens file: "+server.TokenFileFormat)
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate (PEM) for both listeners")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key (PEM)")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "how long in-flight requests may take once stopping")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error (to stderr)")
	logs.register(cmd)

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
			return &usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", logLevel)}
		}
		if capacity != "" {
			n, err := bench.ParseSize(capacity)
			if err != nil || n <= 0 {
				return &usageError{fmt.Sprintf("--capacity %q: want a size such as 500GiB", capacity)}
			}
			cfg.Capacity = uint64(n)
		}
		cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl}))
		cfg.Version = version()
		var err error
		if cfg.Logger, err = logs.logger(cmd.ErrOrStderr(), logLevel); err != nil {
			return err
		}
		cfg.MetricsListen, cfg.SlowRequest = logs.metricsListen, logs.slowRequest()
		for _, a := range strings.Split(metaAddrs, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cfg.MetaAddrs = append(cfg.MetaAddrs, a)
			}
		}
		if cfg.PeerToken == "" {
			cfg.PeerToken = envToken()
		}
		r := newReporter(cmd)
		if tokensFile != "" {
			toks, err := server.LoadTokens(tokensFile)
			if err != nil {
				r.fail(tokensFile, err)
				return &exitError{ExitUsage}
			}
			if len(toks) == 0 {
				r.failf(tokensFile, "no tokens in the file (%s)", server.TokenFileFormat)
				return &exitError{ExitUsage}
			}
			cfg.Tokens = toks
		}
		// The console's default address being taken (another server on
		// this machine) only disables it; an address asked for must work.
		cfg.WebOptional = !cmd.Flags().Changed("web-listen")
		cfg.Console = newConsole
		cfg.LoadClient = loadClient
		s3FromEnv(cmd, &cfg.S3)
		cfg.S3.Handler = s3Handler(&cfg.S3, cfg.Logger)
		srv, err := server.New(cfg)
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "shoal: %s: %v\n", cmd.Name(), err)
			return &exitError{ExitFail}
		}
		srv.Banner(cmd.OutOrStdout())
		if err := srv.Run(cmd.Context()); err != nil {
			r.fail("", err)
			return r.err()
		}
		fmt.Fprintf(cmd.OutOrStdout(), "shoal %s: stopped\n", cmd.Name())
		return nil
	}
	return cmd
}

// webDefault is --web-listen's default: the console comes with `shoal
// server`; a meta role run alone serves it only when asked.
func webDefault(role serveRole) string {
	if role == roleServer {
		return console.DefaultListen
	}
	return ""
}

// newConsole is server.Config.Console: the web console over the server's
// own API (internal/console).
func newConsole(c server.ConsoleConfig) (server.Console, error) {
	return console.New(console.Options{
		Addr:   c.Addr,
		TLS:    c.TLS,
		Tokens: c.Tokens,
		Logger: c.Logger,
		Info: console.Info{
			Roles:   c.Roles,
			DataDir: c.DataDir,
			Engine:  c.Engine,
			Store:   c.Store,
			S3:      c.S3,
			Metrics: c.Metrics,
		},
	})
}

// loadClient is server.Config.LoadClient: the worker's load jobs read
// through a shoal.Client dialled to the meta servers, as any client does.
func loadClient(ctx context.Context, addrs, fsName, token string) (func(context.Context) load.FS, func() error, error) {
	c, err := shoal.Dial(ctx, addrs, shoal.WithFS(fsName), shoal.WithToken(token))
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context) load.FS { return load.Unrooted(c.WithContext(ctx)) }, c.Close, nil
}
