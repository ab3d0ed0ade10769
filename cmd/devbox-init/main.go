// Command devbox-init is the dev container's init: PID 1 in every devbox
// container. It joins the tailnet, publishes code-server and Syncthing on
// it, reports readiness to systemd and sessions to the reaper. See
// internal/devboxinit and docs/image-contract.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/devbox-quadlet/devbox-quadlet/internal/devboxinit"
)

func main() {
	cfg, err := devboxinit.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "devbox-init: %v\n", err)
		os.Exit(2)
	}
	// PID 1 gets no default action for signals it does not handle:
	// without these handlers SIGTERM would be ignored.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := devboxinit.Run(ctx, cfg, os.Environ())
	stop()
	os.Exit(code)
}
