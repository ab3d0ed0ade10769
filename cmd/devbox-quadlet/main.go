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
	// SIGHUP is what a dropped SSH session sends: it must roll back a
	// create like Ctrl-C does, not kill it half-way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := cli.Run(ctx, os.Args, cli.DefaultEnv())
	stop()
	os.Exit(code)
}
