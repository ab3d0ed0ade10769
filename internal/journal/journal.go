// Package journal reads a container's log from the user journal by running
// journalctl, and builds journalctl's arguments for the logs verb.
package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"

	sdjournal "github.com/coreos/go-systemd/v22/journal"
)

// Query says which part of a container's log to read.
type Query struct {
	Unit       string // devbox-NAME.service
	Container  string // devbox-NAME: podman's journald log driver tags each line with CONTAINER_NAME
	Tail       int    // last N lines; 0 means all
	Since      string // passed to journalctl --since as it is
	Follow     bool
	Timestamps bool
	Everything bool // include systemd's and podman's own lines about the unit
}

// Args returns journalctl's arguments for q. It is pure, so the mapping from
// flags to journalctl is table-tested.
func Args(q Query) []string {
	args := []string{"--user", "--unit", q.Unit, "--no-pager"}
	if !q.Everything {
		// ANDed with --unit: only the payload's own output, not systemd's
		// "Started ..." or podman's events for the unit.
		args = append(args, "CONTAINER_NAME="+q.Container)
	}
	switch {
	case !q.Everything:
		// JSON, rendered by Render: podman's journald driver keeps each
		// line's own newline in MESSAGE, which "--output cat" would double.
		args = append(args, "--output", "json", "--output-fields", "MESSAGE,CONTAINER_PARTIAL_MESSAGE")
	case q.Timestamps:
		args = append(args, "--output", "short-iso")
	default:
		args = append(args, "--output", "cat")
	}
	if q.Tail > 0 {
		args = append(args, "--lines", strconv.Itoa(q.Tail))
	}
	if q.Since != "" {
		args = append(args, "--since", q.Since)
	}
	if q.Follow {
		args = append(args, "--follow")
	}
	return args
}

// Runner runs journalctl.
type Runner struct {
	Path string // "journalctl" means look it up in PATH
}

func (r Runner) path() string {
	if r.Path == "" {
		return "journalctl"
	}
	return r.Path
}

// Logs runs journalctl for q, streaming the result to stdout, until it ends
// or ctx is cancelled (Ctrl-C on `logs -f`), which is not an error.
func (r Runner) Logs(ctx context.Context, q Query, stdout, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, r.path(), Args(q)...)
	cmd.Stderr = stderr
	var err error
	if q.Everything {
		cmd.Stdout = stdout
		err = cmd.Run()
	} else {
		pipe, perr := cmd.StdoutPipe()
		if perr != nil {
			return errdefs.Errorf(errdefs.System, "journalctl: %w", perr)
		}
		if err = cmd.Start(); err == nil {
			rerr := Render(pipe, stdout, q.Timestamps)
			err = cmd.Wait()
			if err == nil {
				err = rerr
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return errdefs.Errorf(errdefs.System, "journalctl: %w", err)
	}
	return nil
}

// entry is the part of a journalctl JSON record that Render prints.
type entry struct {
	Message  json.RawMessage `json:"MESSAGE"`
	Partial  string          `json:"CONTAINER_PARTIAL_MESSAGE"`
	Realtime string          `json:"__REALTIME_TIMESTAMP"`
}

// Render turns journalctl's JSON records into the container's own output:
// each MESSAGE as written, with its newline, and an ISO timestamp first if
// asked. MESSAGE is a string, or an array of bytes when it is not UTF-8.
func Render(r io.Reader, w io.Writer, timestamps bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e entry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		msg := decodeMessage(e.Message)
		if e.Partial != "true" && !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		if timestamps {
			if us, err := strconv.ParseInt(e.Realtime, 10, 64); err == nil {
				msg = time.UnixMicro(us).UTC().Format(time.RFC3339Nano) + " " + msg
			}
		}
		if _, err := io.WriteString(w, msg); err != nil {
			return err
		}
	}
	return sc.Err()
}

func decodeMessage(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b []byte
	var nums []int
	if json.Unmarshal(raw, &nums) == nil {
		for _, n := range nums {
			b = append(b, byte(n))
		}
	}
	return string(b)
}

// Tail returns the last n lines the journal has for unit, the payload's and
// systemd's own, for error messages about a failed start. podman's event
// lines ("container died ...") are left out: a payload that fails at once
// makes several, and they would push its own last words out of the n.
func (r Runner) Tail(ctx context.Context, unit string, n int) []string {
	var out bytes.Buffer
	args := []string{"--user", "--unit", unit, "--no-pager", "--output", "json",
		"--output-fields", "MESSAGE,SYSLOG_IDENTIFIER", "--lines", strconv.Itoa(4 * n)}
	cmd := exec.CommandContext(ctx, r.path(), args...)
	cmd.Stdout = &out
	if cmd.Run() != nil {
		return nil
	}
	return TailLines(&out, n)
}

// TailLines reads journalctl's JSON records and returns the last n
// messages, one line each, without podman's own event records.
func TailLines(r io.Reader, n int) []string {
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e struct {
			Message json.RawMessage `json:"MESSAGE"`
			Ident   string          `json:"SYSLOG_IDENTIFIER"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Ident == "podman" {
			continue
		}
		lines = append(lines, strings.TrimRight(decodeMessage(e.Message), "\n"))
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// Send writes a structured entry (MESSAGE plus fields such as MESSAGE_ID)
// to the journal over its native socket, or the message to stderr where
// there is no journal. The reaper's warnings use it.
func Send(msg string, fields map[string]string) error {
	if !sdjournal.Enabled() {
		_, err := fmt.Fprintln(os.Stderr, msg)
		return err
	}
	return sdjournal.Send(msg, sdjournal.PriNotice, fields)
}
