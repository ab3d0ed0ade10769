// Package policy holds the pure rules that decide what a request may do: which
// container names are valid and, later, caps and resource admission.
package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// NameRule is the container-name rule of SPEC R-03, worded for error messages.
const NameRule = "a name is 3-63 characters of a-z, 0-9 and '-', starts with a letter, does not end with '-' or '-home-volume', and does not start with 'quadlet-'"

// Suffixes and prefixes a name may not have, because the units made from it
// would collide with another container's or the tool's own. Quadlet names the
// home volume's unit of container "foo" devbox-foo-home-volume.service, which
// is also the service of a container named "foo-home-volume"; the reaper's
// units are devbox-quadlet-reap.{service,timer}, which a container named
// "quadlet-reap" would shadow. The prefix is reserved whole, for units to come.
const (
	reservedSuffix = "-home-volume"
	reservedPrefix = "quadlet-"
)

// Name length bounds of R-03. The upper bound is also the DNS label limit,
// since the name becomes the container's tailnet hostname.
const (
	MinNameLen = 3
	MaxNameLen = 63
)

// ValidateName checks name against R-03. The rule is a whitelist, so path
// separators, "..", newlines, NUL, upper case and systemd unit-name specials
// ('@', '\\', '.') are all rejected without special cases.
func ValidateName(name string) error {
	if why := nameProblem(name); why != "" {
		return errdefs.Errorf(errdefs.Usage, "invalid container name %q: %s; %s", name, why, NameRule)
	}
	return nil
}

func nameProblem(name string) string {
	switch {
	case len(name) < MinNameLen:
		return fmt.Sprintf("it has %d characters", len(name))
	case len(name) > MaxNameLen:
		return fmt.Sprintf("it has %d characters", len(name))
	case name[0] < 'a' || name[0] > 'z':
		return "it does not start with a letter"
	case name[len(name)-1] == '-':
		return "it ends with '-'"
	case strings.HasSuffix(name, reservedSuffix):
		return "its units would collide with the home volume unit of container " + strconv.Quote(strings.TrimSuffix(name, reservedSuffix))
	case strings.HasPrefix(name, reservedPrefix):
		return "names starting with 'quadlet-' are reserved for devbox-quadlet's own units"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' {
			continue
		}
		return fmt.Sprintf("it contains %q", string(c))
	}
	return ""
}
