package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

// ledgerOptions is what `devbox-quadlet ledger check|repair` works from.
type ledgerOptions struct {
	DryRun bool
	JSON   bool
	// Passwd lists the host's users: those with a uid of 1000 or more, and
	// those named under [users] in the config, are scanned.
	Passwd string
	// QuadletDir is where a user's quadlet files are, under their home.
	QuadletDir string
}

func ledgerCommand(env *Env) *cli.Command {
	sub := func(name, usage string, dryRun bool) *cli.Command {
		return &cli.Command{
			Name:  name,
			Usage: usage,
			Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the agent's report as JSON (schema 1)"}},
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return errdefs.Errorf(errdefs.Usage, "ledger %s takes no arguments, got %q", name, c.Args().First())
				}
				cfg, err := loadConfig(c, env)
				if err != nil {
					return err
				}
				if env.UID != 0 {
					return withHint(errdefs.Errorf(errdefs.Usage, "ledger %s reads every user's quadlet directory, which only root may", name),
						"run it as root: `sudo devbox-quadlet ledger %s`", name)
				}
				ag, err := hostAgent(c, env, cfg)
				if err != nil {
					return err
				}
				if ag == nil {
					return withHint(errdefs.Errorf(errdefs.AgentMissing, "ledger %s: there is no host agent to check", name),
						"the ledger lives in the host agent; see `systemctl status devbox-quadlet-agent`")
				}
				defer ag.Close()
				return ledgerRun(c.Context, env, cfg, ag, ledgerOptions{
					DryRun: dryRun, JSON: c.Bool("json"), Passwd: "/etc/passwd", QuadletDir: ".config/containers/systemd",
				})
			},
		}
	}
	return &cli.Command{
		Name:  "ledger",
		Usage: "check or repair the host agent's ledger against the containers that exist (root)",
		Description: "Scans every user's ~/.config/containers/systemd for devbox containers (users with a uid\n" +
			"of 1000 or more, and those under [users] in the config) and hands what it found to the\n" +
			"host agent, which drops entries whose container is gone and adds containers it lacks.\n" +
			"A ledger file the agent cannot read is moved aside and rebuilt. See docs/agent.md.",
		Subcommands: []*cli.Command{
			sub("check", "show what a repair would change, and change nothing", true),
			sub("repair", "drop the entries whose container is gone, add what the ledger lacks", false),
		},
	}
}

// ledgerRun scans the users' quadlet directories and asks the agent to
// check or repair its ledger against what was found.
func ledgerRun(ctx context.Context, env *Env, cfg config.Config, ag Agent, o ledgerOptions) error {
	obs := agentproto.Observed{Schema: 1, Scanned: env.Now().UTC(), Containers: []agentproto.ObservedContainer{}}
	users, err := scanUsers(o.Passwd, cfg, func(f string, a ...any) { warnf(env, f, a...) })
	if err != nil {
		return err
	}
	for _, u := range users {
		obs.Containers = append(obs.Containers, scanQuadlets(u, filepath.Join(u.home, o.QuadletDir), func(f string, a ...any) { warnf(env, f, a...) })...)
	}
	fmt.Fprintf(env.Stderr, "devbox-quadlet: found %d containers in the quadlet directories of %d users\n", len(obs.Containers), len(users))
	rep, err := ag.Repair(ctx, obs, o.DryRun)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(env.Stdout, rep)
	}
	printRepair(env.Stdout, rep)
	return nil
}

// scanUser is one user whose quadlet directory is scanned.
type scanUser struct {
	name string
	uid  uint32
	home string
}

// scanUsers lists the users to scan: every passwd entry with a uid of 1000
// or more (but nobody's 65534), and every user named under [users].
func scanUsers(passwd string, cfg config.Config, warn func(string, ...any)) ([]scanUser, error) {
	f, err := os.Open(passwd)
	if err != nil {
		return nil, errdefs.Errorf(errdefs.System, "read the users: %w", err)
	}
	defer f.Close()
	byName := map[string]scanUser{}
	var users []scanUser
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 7 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		uid, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			continue
		}
		u := scanUser{name: fields[0], uid: uint32(uid), home: fields[5]}
		byName[u.name] = u
		if _, listed := cfg.Users[u.name]; listed || (uid >= 1000 && uid != 65534) {
			users = append(users, u)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, errdefs.Errorf(errdefs.System, "read the users: %w", err)
	}
	for name := range cfg.Users {
		if _, ok := byName[name]; !ok {
			warn("[users.%s] is in the config but not in %s: not scanned", name, passwd)
		}
	}
	sort.Slice(users, func(i, j int) bool { return users[i].name < users[j].name })
	return users, nil
}

// maxQuadletFile bounds what is read of a user's file: ours are a few KiB.
const maxQuadletFile = 1 << 20

// scanQuadlets finds u's devbox containers in dir. It runs as root in
// directories users control, so it reads only regular files that u owns,
// does not follow symbolic links, and cannot be made to wait on a FIFO.
func scanQuadlets(u scanUser, dir string, warn func(string, ...any)) []agentproto.ObservedContainer {
	paths, _ := filepath.Glob(filepath.Join(dir, quadlet.Prefix+"*.container"))
	var out []agentproto.ObservedContainer
	for _, p := range paths {
		file := filepath.Base(p)
		name := strings.TrimSuffix(strings.TrimPrefix(file, quadlet.Prefix), ".container")
		if policy.ValidateName(name) != nil {
			continue // not one of ours (a volume unit's name, a stray file)
		}
		data, err := readOwnedFile(p, u.uid)
		if err != nil {
			warn("skipped %s: %v", p, err)
			continue
		}
		spec, err := quadlet.Parse(data)
		if err != nil {
			warn("skipped %s: %v", p, err)
			continue
		}
		if spec.Name != "" && spec.Name != name {
			warn("skipped %s: its label names the container %q", p, spec.Name)
			continue
		}
		out = append(out, agentproto.ObservedContainer{Name: name, UID: u.uid, User: u.name, CPUs: float64(spec.CPUs), Memory: int64(spec.Memory), Created: spec.Created})
	}
	return out
}

// readOwnedFile reads a regular file owned by uid, without following a
// symbolic link or blocking on a FIFO.
func readOwnedFile(path string, uid uint32) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, err
	}
	switch {
	case st.Mode&syscall.S_IFMT != syscall.S_IFREG:
		return nil, fmt.Errorf("not a regular file")
	case st.Uid != uid:
		return nil, fmt.Errorf("owned by uid %d, not by the directory's user (uid %d)", st.Uid, uid)
	case st.Size > maxQuadletFile:
		return nil, fmt.Errorf("%d bytes, larger than a container file", st.Size)
	}
	return io.ReadAll(io.LimitReader(f, maxQuadletFile))
}

// printRepair prints the agent's report for a person.
func printRepair(w io.Writer, r agentproto.RepairReport) {
	would := func(did, will string) string {
		if r.DryRun {
			return will
		}
		return did
	}
	if r.Rebuilt {
		if r.DryRun {
			fmt.Fprintln(w, "the ledger file cannot be read: a repair would move it aside and rebuild it from the containers found")
		} else {
			fmt.Fprintf(w, "the ledger file could not be read: moved it to %s and rebuilt it from the containers found\n", r.MovedTo)
		}
	}
	for _, c := range r.Removed {
		fmt.Fprintf(w, "%-13s %-20s %-10s %s\n", would("removed", "would remove"), c.Name, c.User, c.Why)
	}
	for _, c := range r.Added {
		fmt.Fprintf(w, "%-13s %-20s %-10s %s\n", would("added", "would add"), c.Name, c.User, c.Why)
	}
	for _, c := range r.Skipped {
		fmt.Fprintf(w, "%-13s %-20s %-10s %s\n", "skipped", c.Name, c.User, c.Why)
	}
	fmt.Fprintf(w, "%d entries %s as they are\n", r.Kept, would("kept", "would stay"))
	if r.DryRun && (len(r.Removed) > 0 || len(r.Added) > 0 || r.Rebuilt) {
		fmt.Fprintln(w, "`devbox-quadlet ledger repair` makes these changes")
	}
}
