// Command shoal is Shoal's one binary: every role and tool is a
// subcommand (see internal/cli).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoalfs/shoal/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal cancels the running command so it can clean up;
		// restoring the default lets a second one kill a stuck process.
		<-ctx.Done()
		stop()
	}()
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
