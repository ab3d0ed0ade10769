package errdefs

import (
	"errors"
	"fmt"
	"strings"
)

// hinted adds the third part of an R-09 message, what to do next. The CLI
// prints it on a "hint:" line under the error.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// WithHint returns err with a hint of what to do next; nil stays nil. The
// hint never appears in err's text.
func WithHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: fmt.Sprintf(format, args...)}
}

// Hint is the outermost hint in err's chain, or "".
func Hint(err error) string {
	var h *hinted
	if errors.As(err, &h) {
		return h.hint
	}
	return ""
}

// OneLine keeps a message on one line: control characters from user input
// are already quoted by %q, but wrapped tool output may still carry line
// breaks.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
