// Command devbox-quadlet manages personal dev containers as rootless podman
// quadlet units in the invoking user's systemd. See internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/devbox-quadlet/devbox-quadlet/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args, cli.DefaultEnv())
	stop()
	os.Exit(code)
}
