package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/server"
)

// benchServer is a server Run started in this process (Options.Server).
type benchServer struct {
	addr    string
	dataDir string
	cancel  context.CancelFunc
	done    chan error
}

// startServer runs internal/server on dataDir with every role, on
// loopback ports the kernel picks: the same code `shoal server` runs, so
// the figures are the server's, with the client in another goroutine
// instead of another process.
func startServer(ctx context.Context, dataDir string, log io.Writer) (*benchServer, error) {
	logger := slog.New(slog.DiscardHandler)
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := server.New(server.Config{
		DataDir:      dataDir,
		Listen:       "127.0.0.1:0",
		WorkerListen: "127.0.0.1:0",
		Version:      "bench",
		Logger:       logger,
	})
	if err != nil {
		return nil, fserr.E("bench", dataDir, err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := &benchServer{addr: srv.Addr(), dataDir: dataDir, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- srv.Run(rctx) }()
	return b, nil
}

// stop shuts the server down gracefully and waits for it.
func (b *benchServer) stop() error {
	b.cancel()
	err := <-b.done
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
