package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
)

func statusCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:        "status",
		Usage:       "show one dev container: state, limits, usage, restarts, volume and unit file",
		ArgsUsage:   "NAME",
		Description: "Reads the unit's and the service's properties from systemd over D-Bus.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON (schema 1)"},
			&cli.BoolFlag{Name: "all", Usage: "admins: look NAME up in the host agent's ledger, whoever owns it"},
		},
		Action: func(c *cli.Context) error { return runStatus(c, env) },
	}
}

// statusResult is the --json output of status. Fields may be added, never renamed.
type statusResult struct {
	Schema        int     `json:"schema"`
	Mode          string  `json:"mode"`
	Name          string  `json:"name"`
	Unit          string  `json:"unit"`
	State         string  `json:"state"`
	ActiveState   string  `json:"active_state"`
	SubState      string  `json:"sub_state"`
	Result        string  `json:"result"`
	Since         string  `json:"since,omitempty"`
	Autostart     bool    `json:"autostart"`
	Owner         string  `json:"owner"`
	Image         string  `json:"image"`
	Created       string  `json:"created,omitempty"`
	CPUs          float64 `json:"cpus"`
	MemoryMax     int64   `json:"memory_max"`
	TasksMax      int64   `json:"tasks_max"`
	MemoryCurrent *uint64 `json:"memory_current"` // null when systemd has no data (stopped)
	CPUUsageNSec  *uint64 `json:"cpu_usage_nsec"`
	Restarts      uint32  `json:"restarts"`
	Volume        string  `json:"volume"`
	UnitFile      string  `json:"unit_file"`
	Syncthing     bool    `json:"syncthing"`
	// Secret, Hostname and Tags describe the tailnet side; Secret is empty
	// for a container created without an auth key.
	Secret   string `json:"secret"`
	Hostname string `json:"tailnet_hostname,omitempty"`
	Tags     string `json:"tailnet_tags,omitempty"`
	// Reaper is the idle clock as of the last sweep.
	Reaper reaperView `json:"reaper"`
	// Tailnet is what the container's init last reported; null when it
	// is not running or reports nothing.
	Tailnet *tailnetView `json:"tailnet"`
}

func counter(v uint64) *uint64 {
	if v == sd.Unset {
		return nil
	}
	return &v
}

func runStatus(c *cli.Context, env *Env) error {
	t, err := openTarget(c, env)
	if err != nil {
		return err
	}
	name, m := t.name, newManager(c, env, t.cfg)
	if c.Bool("all") {
		// The ledger is the agent's: without it there is nothing to show.
		ag, err := hostAgent(c, env, t.cfg)
		if err != nil {
			return err
		}
		if ag != nil {
			defer ag.Close()
		}
		return statusAll(c, env, ag, name)
	}
	if _, err := existing(env, name); err != nil {
		return err
	}
	// Only this container's file: parsing every one would make status
	// slower the more containers the user has.
	spec, err := readSpec(env, name)
	if err != nil {
		return err
	}
	// Only for the mode line: a broken agent is a warning here.
	ag, down := agentView(c, env, t.cfg)
	if ag != nil {
		ag.Close()
	}
	sys, err := dial(c, env)
	if err != nil {
		return err
	}
	defer sys.Close()
	unit := quadlet.ServiceUnit(name)
	st, err := sys.ServiceStatus(c.Context, unit)
	if err != nil {
		return err
	}
	res := statusResultOf(env, m, spec, st, modeOf(ag, down))
	if c.Bool("json") {
		return writeJSON(env.Stdout, res)
	}
	printStatus(env, res, spec, st, modeLine(ag, down))
	if st.LoadState != "loaded" {
		return errdefs.Errorf(errdefs.System, "status %s: systemd has not loaded %s (load state %q)", name, unit, st.LoadState)
	}
	return nil
}

// statusResultOf puts together what status shows: the unit's state and
// counters from systemd, the rest from the container file and the state
// directory.
func statusResultOf(env *Env, m *lifecycle.Manager, spec quadlet.Spec, st sd.Status, mode string) statusResult {
	name, unit := spec.Name, quadlet.ServiceUnit(spec.Name)
	res := statusResult{
		Schema: 1, Mode: mode, Name: name, Unit: unit,
		State: lifecycle.StateWord(st.UnitState), ActiveState: st.ActiveState, SubState: st.SubState, Result: st.Result,
		Autostart: m.Layout.AutostartEnabled(name), Owner: spec.Owner, Image: string(spec.Image),
		CPUs: float64(spec.CPUs), MemoryMax: int64(st.MemoryMax), TasksMax: int64(st.TasksMax),
		MemoryCurrent: counter(st.MemoryCurrent), CPUUsageNSec: counter(st.CPUUsageNSec),
		Restarts: st.NRestarts, Volume: quadlet.VolumeName(name),
		UnitFile:  filepath.Join(env.QuadletDir(), quadlet.ContainerFile(name)),
		Syncthing: spec.Syncthing,
	}
	res.Reaper = m.ViewOf(name)
	res.Tailnet = tailnetViewOf(m, name, res.State == "running")
	if spec.Tailnet {
		res.Secret, res.Hostname, res.Tags = quadlet.SecretName(name), name, quadlet.Tags(spec.Owner)
	}
	if st.MemoryMax == sd.Unset {
		res.MemoryMax = int64(spec.Memory)
	}
	if !st.Since.IsZero() {
		res.Since = st.Since.UTC().Format(time.RFC3339)
	}
	if !spec.Created.IsZero() {
		res.Created = spec.Created.UTC().Format(time.RFC3339)
	}
	return res
}

// printStatus is status's text form.
func printStatus(env *Env, res statusResult, spec quadlet.Spec, st sd.Status, mode string) {
	w := env.Stdout
	fmt.Fprintf(w, "%s (%s)\n", res.Name, res.Unit)
	since := ""
	if !st.Since.IsZero() {
		since = fmt.Sprintf(" since %s (%s ago)", res.Since, env.Now().Sub(st.Since).Round(time.Second))
	}
	fmt.Fprintf(w, "  state:      %s (%s/%s)%s\n", res.State, st.ActiveState, st.SubState, since)
	auto := "no: stopped by devbox-quadlet stop"
	if res.Autostart {
		auto = "yes: starts at boot (default.target.wants)"
	}
	fmt.Fprintf(w, "  autostart:  %s\n", auto)
	fmt.Fprintf(w, "  limits:     cpus %s, memory %s, tasks %d\n", spec.CPUs, config.Size(res.MemoryMax), res.TasksMax)
	mem, cpu := "-", "-"
	if res.MemoryCurrent != nil {
		mem = config.Size(*res.MemoryCurrent).String()
	}
	if res.CPUUsageNSec != nil {
		cpu = (time.Duration(*res.CPUUsageNSec) * time.Nanosecond).Round(time.Millisecond).String()
	}
	fmt.Fprintf(w, "  usage:      memory %s, cpu time %s\n", mem, cpu)
	fmt.Fprintf(w, "  restarts:   %d\n", res.Restarts)
	fmt.Fprintf(w, "  image:      %s\n", res.Image)
	fmt.Fprintf(w, "  created:    %s by %s\n", res.Created, res.Owner)
	fmt.Fprintf(w, "  volume:     %s (mounted at %s)\n", res.Volume, quadlet.HomeMount)
	fmt.Fprintf(w, "  unit file:  %s\n", res.UnitFile)
	fmt.Fprintf(w, "  tailnet:    %s\n", tailnetLine(res, spec.Tailnet))
	if v := res.Tailnet; spec.Tailnet && v != nil {
		fmt.Fprintf(w, "  address:    %s\n", addressLine(v))
	}
	fmt.Fprintf(w, "  reaper:     %s\n", res.Reaper.Line())
	fmt.Fprintf(w, "  mode:       %s\n", mode)
}

func tailnetLine(res statusResult, tailnet bool) string {
	if !tailnet {
		return "none (created without an auth key)"
	}
	return fmt.Sprintf("%s with %s; auth key in podman secret %s", res.Hostname, res.Tags, res.Secret)
}

func addressLine(v *tailnetView) string {
	line := v.State
	if v.Address != "" {
		line += ": " + v.Address
	}
	if len(v.IPs) > 0 {
		line += " (" + strings.Join(v.IPs, ", ") + ")"
	}
	if v.Reason != "" {
		line += ", " + v.Reason
	}
	return line
}

// statusAll shows the host ledger's entry for name, for admins.
func statusAll(c *cli.Context, env *Env, ag Agent, name string) error {
	if ag == nil {
		return withHint(errdefs.Errorf(errdefs.AgentMissing, "status --all needs the host agent, and this host runs standalone"), "drop --all to see your own container")
	}
	l, err := ag.List(c.Context, true)
	if err != nil {
		return err
	}
	for _, e := range l.Entries {
		if e.Name == name {
			if c.Bool("json") {
				return writeJSON(env.Stdout, struct {
					Schema int `json:"schema"`
					agentproto.ListingEntry
				}{1, e})
			}
			fmt.Fprintf(env.Stdout, "%s (owner %s, uid %d)\n  running:  %t\n  limits:   cpus %s, memory %s\n  created:  %s\n",
				e.Name, e.User, e.UID, e.Running, config.CPUs(e.CPUs), config.Size(e.Memory), e.Created.UTC().Format(time.RFC3339))
			return nil
		}
	}
	return errdefs.Errorf(errdefs.NotFound, "no container %q in the host ledger", name)
}
