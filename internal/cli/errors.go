package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// withHint adds what to do next to err (errdefs.WithHint).
func withHint(err error, format string, args ...any) error {
	return errdefs.WithHint(err, format, args...)
}

// printError writes err to w as "devbox-quadlet: <what and why>" followed by a
// hint line when one is known.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "devbox-quadlet: %s\n", errdefs.OneLine(err.Error()))
	if hint := errdefs.Hint(err); hint != "" {
		fmt.Fprintf(w, "hint: %s\n", hint)
	} else if hint := defaultHint(err); hint != "" {
		fmt.Fprintf(w, "hint: %s\n", hint)
	}
}

func defaultHint(err error) string {
	switch errdefs.ExitCode(err) {
	case 2:
		return "see `devbox-quadlet --help` for usage"
	case 8:
		return "check `systemctl --user status` and `journalctl --user -xe`"
	}
	return ""
}

// exitCodeHelp is the R-09 table, shown in --help.
func exitCodeHelp() string {
	var b strings.Builder
	b.WriteString("EXIT CODES:\n   0  ok\n")
	for _, c := range errdefs.Classes {
		fmt.Fprintf(&b, "   %d  %s\n", c.ExitCode(), c.Description())
	}
	b.WriteString("   1  anything else\n")
	return b.String()
}
