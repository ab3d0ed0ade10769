// Command devbox-quadlet-agent is the devbox-quadlet host agent: admission,
// the host-wide ledger and auth keys on the system bus. It is a binary of
// its own so that only it links the 1Password SDK. See docs/agent.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentd"
	"github.com/devbox-quadlet/devbox-quadlet/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := cli.DefaultEnv()
	env.AgentBackends = agentd.Backends(cli.Version)
	code := cli.RunAgent(ctx, os.Args, env)
	stop()
	os.Exit(code)
}
