package cli

import (
	"encoding/json"
	"io"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return errdefs.Errorf(errdefs.System, "write output: %w", err)
	}
	return nil
}
