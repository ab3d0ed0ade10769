package agentproto

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// ForgetResult is what ForgetDevice did.
type ForgetResult string

// The results of ForgetDevice. Their words are the start of the reply's wire
// form, which docs/agent.md documents and older clients read.
const (
	// ForgetDeleted: the caller's devices of that name were deleted.
	ForgetDeleted ForgetResult = "deleted"
	// ForgetNotFound: the tailnet has no such device of the caller's.
	ForgetNotFound ForgetResult = "not found"
	// ForgetNotConfigured: the agent has no Tailscale API client.
	ForgetNotConfigured ForgetResult = "not configured"
)

// ForgetOutcome is ForgetDevice's reply.
type ForgetOutcome struct {
	Result ForgetResult
	// Devices is how many devices were deleted (ForgetDeleted only).
	Devices int
}

// Gone reports whether the tailnet no longer has the device: destroy's
// tailnet cleanup is then done.
func (o ForgetOutcome) Gone() bool {
	return o.Result == ForgetDeleted || o.Result == ForgetNotFound
}

// String is the outcome's wire form: "deleted N device(s)", "not found" or
// "not configured".
func (o ForgetOutcome) String() string {
	if o.Result == ForgetDeleted {
		return fmt.Sprintf("%s %d device(s)", ForgetDeleted, o.Devices)
	}
	return string(o.Result)
}

// ParseForgetOutcome reads ForgetDevice's reply from its wire form (String).
// Anything else is an errdefs.System error: a reply this client cannot read.
func ParseForgetOutcome(s string) (ForgetOutcome, error) {
	switch ForgetResult(s) {
	case ForgetNotFound, ForgetNotConfigured:
		return ForgetOutcome{Result: ForgetResult(s)}, nil
	}
	if rest, ok := strings.CutPrefix(s, string(ForgetDeleted)+" "); ok {
		if n, ok := strings.CutSuffix(rest, " device(s)"); ok {
			if count, err := strconv.Atoi(n); err == nil && count >= 0 {
				return ForgetOutcome{Result: ForgetDeleted, Devices: count}, nil
			}
		}
	}
	return ForgetOutcome{}, errdefs.Errorf(errdefs.System, "forget device: bad reply from the host agent: %q", s)
}
