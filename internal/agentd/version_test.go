package agentd_test

import (
	"testing"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentd"
	"github.com/devbox-quadlet/devbox-quadlet/internal/cli"
)

// TestVersionMatchesTheCLI: the two binaries report one version. Release
// builds set both with -X (Makefile, nix/package.nix); this keeps the
// defaults, which a plain `go build` reports, in step.
func TestVersionMatchesTheCLI(t *testing.T) {
	if agentd.Version != cli.Version {
		t.Errorf("agentd.Version = %q, cli.Version = %q", agentd.Version, cli.Version)
	}
}
