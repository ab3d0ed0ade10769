package policy

import (
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// CheckUserCap decides whether a user who owns the containers in existing may
// create one more under a cap of max (R-11, per-user part). The refusal names
// the cap and the containers, so the user can pick one to destroy.
func CheckUserCap(user string, existing []string, max int) error {
	if len(existing) < max {
		return nil
	}
	return errdefs.Errorf(errdefs.UserCap, "%s has %d of %d containers allowed per user: %s",
		user, len(existing), max, strings.Join(existing, ", "))
}
