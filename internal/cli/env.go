// Package cli is the devbox-quadlet command line: one file per verb that
// turns flags into options, calls one method of internal/lifecycle and
// prints the result as text or --json, with exit codes and fix-it hints.
package cli

import (
	"context"
	"io"
	"os"
	"os/user"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentclient"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/journal"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"github.com/devbox-quadlet/devbox-quadlet/internal/podman"
	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
)

// Version is the tool version, written into every unit's labels. Release
// builds set it with -ldflags "-X .../internal/cli.Version=...".
var Version = "0.1.0-dev"

// Systemd and Podman are what the verbs need from the user's systemd
// manager and podman: the lifecycle's own interfaces.
type (
	Systemd = lifecycle.Systemd
	Podman  = lifecycle.Podman
)

// Journal is what the verbs need from the user journal.
type Journal interface {
	Logs(ctx context.Context, q journal.Query, stdout, stderr io.Writer) error
	Tail(ctx context.Context, unit string, n int) []string
}

// Env is everything a verb may touch outside its own arguments. main builds
// the real one; unit tests build one with fakes and a temporary home.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	UserName       string
	UID            int
	Home           string
	DialSystemd    func(ctx context.Context, env *Env) (Systemd, error)
	Podman         Podman
	Journal        Journal
	DefaultConfig  string // the host configuration path, config.DefaultPath outside tests
	// PayloadAlive reports whether a unit's container payload is running,
	// from its cgroup (see sd.PayloadAlive).
	PayloadAlive func(controlGroup string) (bool, error)
	// SendJournal writes a structured journal entry (the reaper's warnings).
	SendJournal func(msg string, fields map[string]string) error
	// TerminalDir holds the terminals the reaper writes warnings to (/dev/pts).
	TerminalDir string
	// Executable is this binary's path, for the reaper timer's ExecStart=.
	Executable func() (string, error)
	// DialAgent connects to the host agent's bus; nil means never (tests).
	DialAgent func(ctx context.Context) (Agent, error)
	// CgroupRoot is where cgroup v2 is mounted; list reads memory.current
	// from it instead of making a D-Bus call per container.
	CgroupRoot string
	// StartSettle is how long after a start job create and start wait
	// before checking that the container stayed up.
	StartSettle time.Duration
	// TraceFrom, when set, turns on timing traces (trace.go) measured
	// from this moment.
	TraceFrom time.Time
	// Stdin is where destroy reads its confirmation; StdinIsTerminal says
	// whether it is a terminal (destroy never prompts a script).
	Stdin           io.Reader
	StdinIsTerminal func() bool
	// LockDir holds the user's lock; empty means /run/user/UID/devbox-quadlet
	// (see lockUser). LockTimeout bounds the wait for it (0: DefaultLockTimeout).
	LockDir     string
	LockTimeout time.Duration
	// ExportTimeout bounds one `podman volume export` of a home (0:
	// DefaultExportTimeout), so a hung podman cannot hold up the user.
	ExportTimeout time.Duration
}

// DefaultEnv is the environment of the running process.
func DefaultEnv() *Env {
	e := &Env{
		Stdout:        os.Stdout,
		Stderr:        os.Stderr,
		Getenv:        os.Getenv,
		Now:           time.Now,
		UID:           os.Getuid(),
		Podman:        podman.Client{},
		DefaultConfig: config.DefaultPath,
		Journal:       journal.Runner{},
		PayloadAlive:  func(cg string) (bool, error) { return sd.PayloadAlive("/sys/fs/cgroup", cg) },
		StartSettle:   time.Second,
		SendJournal:   journal.Send,
		TerminalDir:   "/dev/pts",
		Executable:    os.Executable,
		CgroupRoot:    "/sys/fs/cgroup",
		Stdin:         os.Stdin,
		StdinIsTerminal: func() bool {
			_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
			return err == nil
		},
		DialAgent: func(ctx context.Context) (Agent, error) {
			c, err := agentclient.Dial(ctx)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		DialSystemd: func(ctx context.Context, env *Env) (Systemd, error) {
			return sd.ConnectUser(ctx, sd.UserBusAddress(env.Getenv, env.UID))
		},
	}
	if u, err := user.LookupId(strconv.Itoa(e.UID)); err == nil {
		e.UserName, e.Home = u.Username, u.HomeDir
	}
	if h := os.Getenv("HOME"); h != "" {
		e.Home = h
	}
	if e.UserName == "" {
		e.UserName = os.Getenv("USER")
	}
	if os.Getenv("DEVBOX_QUADLET_TRACE") != "" {
		e.TraceFrom = processStart(time.Now())
		e.tracef("start-up done")
	}
	return e
}
