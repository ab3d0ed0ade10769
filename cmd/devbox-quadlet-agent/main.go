// Command devbox-quadlet-agent is the devbox-quadlet host agent: admission,
// the host-wide ledger and auth keys on the system bus. It is a binary of
// its own so that only it links the 1Password SDK, and it does not link the
// CLI (internal/agentd is its shell). See docs/agent.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := agentd.Run(ctx, os.Args, agentd.DefaultEnv())
	stop()
	os.Exit(code)
}
