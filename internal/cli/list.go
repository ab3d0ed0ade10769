package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
)

func listCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list your dev containers",
		Description: "Reads your quadlet directory and asks systemd for every container's state in\n" +
			"one D-Bus call.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON (schema 1)"},
			&cli.BoolFlag{Name: "all", Usage: "admins: every user's containers, from the host agent's ledger"},
		},
		Action: func(c *cli.Context) error { return runList(c, env) },
	}
}

// listResult is the --json output of list. Fields may be added, never renamed.
type listResult struct {
	Schema     int           `json:"schema"`
	Mode       string        `json:"mode"`
	Containers []listedEntry `json:"containers"`
}

type listedEntry struct {
	Name        string  `json:"name"`
	Unit        string  `json:"unit"`
	State       string  `json:"state"`
	ActiveState string  `json:"active_state"`
	SubState    string  `json:"sub_state"`
	Owner       string  `json:"owner"`
	Image       string  `json:"image"`
	CPUs        float64 `json:"cpus"`
	MemoryMax   int64   `json:"memory_max"`
	Created     string  `json:"created"`
	Volume      string  `json:"volume"`
	// MemoryCurrent is read from the unit's cgroup; null when not running.
	MemoryCurrent *uint64 `json:"memory_current"`
	Autostart     bool    `json:"autostart"`
	// Reaper is the idle clock as of the last sweep.
	Reaper reaperView `json:"reaper"`
	// Tailnet is what the container's init last reported (its address);
	// null when it is not running or reports nothing.
	Tailnet *tailnetView `json:"tailnet"`
}

// memoryCurrent reads memory.current of a running unit from the cgroup file
// system. systemd puts user services in app.slice of the user manager, so the
// path is known without asking; that keeps list at one D-Bus call.
func memoryCurrent(env *Env, unit string) *uint64 {
	uid := strconv.Itoa(env.UID)
	p := filepath.Join(env.CgroupRoot, "user.slice", "user-"+uid+".slice", "user@"+uid+".service", "app.slice", unit, "memory.current")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return nil
	}
	return &v
}

func runList(c *cli.Context, env *Env) error {
	if _, err := args(c); err != nil {
		return err
	}
	if err := requireUser(env); err != nil {
		return err
	}
	cfg, err := loadConfig(c, env)
	if err != nil {
		return err
	}
	if c.Bool("all") {
		// The ledger is the agent's: without it there is nothing to show.
		ag, err := hostAgent(c, env, cfg)
		if err != nil {
			return err
		}
		if ag != nil {
			defer ag.Close()
		}
		return listAll(c, env, ag)
	}
	ag, down := agentView(c, env, cfg)
	if ag != nil {
		defer ag.Close()
	}
	env.tracef("read the config and asked for the host agent")
	res, err := listOwn(c, env, cfg, ag, down)
	if err != nil {
		return err
	}
	env.tracef("read autostart links, reaper records and memory use")
	if c.Bool("json") {
		return writeJSON(env.Stdout, res)
	}
	return printList(env, res, ag, down)
}

// listAll is `list --all`: the host agent's ledger, for admins.
func listAll(c *cli.Context, env *Env, ag Agent) error {
	if ag == nil {
		return withHint(errdefs.Errorf(errdefs.AgentMissing, "list --all needs the host agent, and this host runs standalone"),
			"install the agent (the NixOS module does) or drop --all")
	}
	l, err := ag.List(c.Context, true)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSON(env.Stdout, l)
	}
	printLedger(env, l)
	return nil
}

// listOwn reads the caller's containers: their files, their units' states
// in one call, and for the running ones memory use and tailnet address.
func listOwn(c *cli.Context, env *Env, cfg config.Config, ag Agent, down error) (listResult, error) {
	res := listResult{Schema: 1, Mode: modeOf(ag, down), Containers: []listedEntry{}}
	specs, err := ownContainers(env)
	if err != nil || len(specs) == 0 {
		return res, err
	}
	env.tracef("parsed %d container files", len(specs))
	sys, err := dial(c, env)
	if err != nil {
		return res, err
	}
	defer sys.Close()
	env.tracef("connected to the user manager")
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = quadlet.ServiceUnit(s.Name)
	}
	states, err := sys.Units(c.Context, names)
	if err != nil {
		return res, err
	}
	env.tracef("read %d units' state in one call", len(states))
	byName := map[string]sd.UnitState{}
	for _, st := range states {
		byName[st.Name] = st
	}
	m := newManager(c, env, cfg)
	for _, s := range specs {
		res.Containers = append(res.Containers, listedEntryOf(env, m, s, byName[quadlet.ServiceUnit(s.Name)]))
	}
	return res, nil
}

func listedEntryOf(env *Env, m *lifecycle.Manager, s quadlet.Spec, st sd.UnitState) listedEntry {
	created := ""
	if !s.Created.IsZero() {
		created = s.Created.UTC().Format(time.RFC3339)
	}
	e := listedEntry{
		Name: s.Name, Unit: quadlet.ServiceUnit(s.Name), State: lifecycle.StateWord(st),
		ActiveState: st.ActiveState, SubState: st.SubState, Owner: s.Owner,
		Image: string(s.Image), CPUs: float64(s.CPUs), MemoryMax: int64(s.Memory),
		Created: created, Volume: quadlet.VolumeName(s.Name),
		Autostart: m.Layout.AutostartEnabled(s.Name),
		Reaper:    m.ViewOf(s.Name),
	}
	if e.State == "running" {
		e.MemoryCurrent = memoryCurrent(env, quadlet.ServiceUnit(s.Name))
		m.Layout.NoteSpec(s)
		e.Tailnet = tailnetViewOf(m, s.Name, true)
	}
	return e
}

// printList is list's table.
func printList(env *Env, res listResult, ag Agent, down error) error {
	if len(res.Containers) == 0 {
		fmt.Fprintf(env.Stderr, "no containers (%s); create one with `devbox-quadlet create NAME`\n", modeLine(ag, down))
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tADDRESS\tAUTOSTART\tCPUS\tMEMORY\tMEM USE\tREAPER\tCREATED\tIMAGE")
	for _, e := range res.Containers {
		use, auto := "-", "no"
		if e.MemoryCurrent != nil {
			use = config.Size(*e.MemoryCurrent).String()
		}
		if e.Autostart {
			auto = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.State, e.Tailnet.brief(), auto, config.CPUs(e.CPUs), config.Size(e.MemoryMax), use, e.Reaper.Brief(), e.Created, e.Image)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "mode: %s\n", modeLine(ag, down))
	return nil
}
