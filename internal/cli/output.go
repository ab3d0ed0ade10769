package cli

import (
	"encoding/json"
	"io"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return errdefs.Errorf(errdefs.System, "write output: %w", err)
	}
	return nil
}

// stateWord condenses systemd's active state into the one word users see.
func stateWord(u sd.UnitState) string {
	switch u.ActiveState {
	case "active", "reloading", "refreshing":
		return "running"
	case "activating":
		return "starting"
	case "deactivating":
		return "stopping"
	case "failed":
		return "failed"
	default:
		return "stopped"
	}
}
