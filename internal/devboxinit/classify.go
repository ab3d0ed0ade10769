package devboxinit

import (
	"github.com/devbox-quadlet/devbox-quadlet/internal/nodestatus"

	"strings"
)

// Reasons a start failed, as written to the status file's "reason". The
// host maps each to a hint; keep the words stable.
const (
	ReasonKeyRefused         = nodestatus.ReasonKeyRefused         // the control server refused the auth key
	ReasonControlUnreachable = nodestatus.ReasonControlUnreachable // no answer from the control server
	ReasonTailscaleFailed    = nodestatus.ReasonTailscaleFailed    // anything else in tailscaled or tailscale
	ReasonServiceFailed      = nodestatus.ReasonServiceFailed      // code-server or Syncthing never listened, or serve failed
)

// keyRefused are substrings (lower case) of the errors a control server
// returns for a key it will not take. Where they come from:
//   - Tailscale's control server, relayed by `tailscale up` as "backend
//     error: ...": "invalid key: API key k... not valid", "invalid key:
//     unable to validate API key", "invalid key: API key does not exist"
//     (tailscale/tailscale issues 9715, 6215, 17047), and for tags the key
//     may not carry "requested tags [...] are invalid or not permitted".
//   - headscale v0.26.1 (hscontrol/auth.go, hscontrol/db/preauth_keys.go),
//     seen against a real headscale: "handling register with auth key:
//     AuthKey not found", "authkey expired", "authkey already used"; also
//     in the source: "invalid authkey", "invalid pre auth key",
//     "AuthKey tag is invalid".
//   - `tailscale up` printing a login URL means control ignored the key
//     and wants an interactive login, which nobody will do.
var keyRefused = []string{
	"invalid key",
	"authkey not found",
	"authkey expired",
	"auth key expired",
	"authkey already used",
	"invalid authkey",
	"invalid pre auth key",
	"authkey tag is invalid",
	"are invalid or not permitted",
	"key has been revoked",
	"unauthorized",
	"to authenticate, visit",
}

// controlUnreachable are substrings (lower case) of Go's network errors
// as tailscaled reports them in its last login error ("fetch control key:
// Get ...: dial tcp ...: connect: connection refused", "failed to resolve
// ...") and of `tailscale up` giving up: "timeout waiting for Tailscale
// service to enter a Running state" is what it prints when control never
// answers (seen against a closed port and an unresolvable name).
var controlUnreachable = []string{
	"connection refused",
	"connection reset",
	"no route to host",
	"network is unreachable",
	"i/o timeout",
	"context deadline exceeded",
	"no such host",
	"failed to resolve",
	"server misbehaving",
	"tls handshake",
	"x509:",
	"fetch control key",
	"timeout waiting for tailscale service",
	"did not return within",
}

// Failure is a classified start failure.
type Failure struct {
	Reason  string
	Message string // one line, never the key
}

// loginErrorPrefix starts tailscaled's login-state health warning, which
// `tailscale status --json` lists under "Health".
const loginErrorPrefix = "The last login error was: "

// ClassifyUp classifies a failed `tailscale up` from its combined output
// and, when there was one, the Health list of `tailscale status --json`
// taken right after (only its login error is used: the other warnings,
// about DERP or DNS, say nothing about the key).
func ClassifyUp(output string, health []string) Failure {
	var loginErr string
	for _, h := range health {
		if _, e, ok := strings.Cut(h, loginErrorPrefix); ok {
			loginErr = strings.TrimSpace(e)
		}
	}
	text := strings.ToLower(output + "\n" + loginErr)
	reason := ReasonTailscaleFailed
	switch {
	case containsAny(text, keyRefused):
		reason = ReasonKeyRefused
	case containsAny(text, controlUnreachable):
		reason = ReasonControlUnreachable
	}
	// The hint is for a person at a shell; the login error below is
	// what `tailscale status` would have shown them.
	msg, _, _ := strings.Cut(mainLine(output), `; check health with "tailscale status"`)
	if loginErr != "" && !strings.Contains(msg, loginErr) {
		if msg == "" {
			msg = loginErr
		} else {
			msg += "; last login error: " + loginErr
		}
	}
	if msg == "" {
		msg = "failed without output"
	}
	return Failure{Reason: reason, Message: OneLine("tailscale up: " + msg)}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// mainLine picks the informative line of a CLI's output: the "backend
// error:" line that carries control's answer, else the first line that
// starts with "Error:" or "error", else the last non-empty line.
func mainLine(out string) string {
	var last, errLine string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if e, ok := strings.CutPrefix(l, "backend error: "); ok {
			return e
		}
		if errLine == "" && (strings.HasPrefix(l, "Error:") || strings.HasPrefix(strings.ToLower(l), "error")) {
			errLine = l
		}
		last = l
	}
	if errLine != "" {
		return errLine
	}
	return last
}

// maxMessage bounds a status message, which the host prints in a table.
const maxMessage = 300

// OneLine makes s fit the status file and a STATUS= line: control
// characters become spaces, runs of spaces collapse, anything that looks
// like a secret is masked, and the result is cut to maxMessage bytes.
func OneLine(s string) string {
	s = Redact(s)
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			r = ' '
		}
		if r == ' ' {
			if space || b.Len() == 0 {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
	}
	out := strings.TrimRight(b.String(), " ")
	if len(out) > maxMessage {
		cut := maxMessage - len("…")
		for cut > 0 && !utf8Start(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return out
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// Redact masks what could be an auth key in text that devbox-init prints
// or writes. devbox-init never reads the key, so it cannot look for it;
// instead it masks Tailscale keys ("tskey-...") and any run of 32 or more
// letters and digits (headscale's keys are 48 hex digits). Node and
// machine keys in tailscale's errors are masked too, which costs nothing.
func Redact(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		if strings.HasPrefix(s[i:], "tskey-") {
			j := i + len("tskey-")
			for j < len(s) && (isAlnum(s[j]) || s[j] == '-' || s[j] == '_') {
				j++
			}
			b.WriteString("tskey-[redacted]")
			i = j
			continue
		}
		if isAlnum(s[i]) {
			j := i
			for j < len(s) && isAlnum(s[j]) {
				j++
			}
			if j-i >= 32 {
				b.WriteString("[redacted]")
			} else {
				b.WriteString(s[i:j])
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
