//go:build tools

// Package tailnet pins the real Tailscale and headscale programs the test bed
// builds for its tailnet: the control server (headscale), the node daemon
// (tailscaled) and its CLI (tailscale). It is a separate module so the
// product's go.mod does not grow; headscale's go.mod chooses the
// tailscale.com version (the newest needs a newer Go than the test bed has).
package tailnet

import (
	_ "github.com/juanfont/headscale/cmd/headscale"
	_ "tailscale.com/cmd/tailscale"
	_ "tailscale.com/cmd/tailscaled"
)
