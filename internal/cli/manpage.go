package cli

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"github.com/devbox-quadlet/devbox-quadlet/internal/manpage"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

// ManPage is devbox-quadlet(1). Its COMMANDS and OPTIONS come from the
// command definitions, its EXIT STATUS from errdefs and its FILES from the
// Layout, so the page cannot drift from the binary; the prose around them
// is written here. contrib/man/devbox-quadlet.1 is its output, kept equal by
// TestGeneratedFilesAreCurrent. Nothing in the binary calls it.
func ManPage() manpage.Page {
	app := newApp(&Env{})
	return manpage.Page{
		Name: app.Name, Section: "1", Source: "devbox-quadlet", Manual: "User Commands",
		Comment: "Generated from internal/cli/manpage.go by `go generate ./internal/cli`; do not edit.",
		Sections: []manpage.Section{
			{Title: "NAME", Blocks: []manpage.Block{manpage.Para(app.Name + " - " + app.Usage)}},
			{Title: "SYNOPSIS", Blocks: []manpage.Block{manpage.Lines{
				"`devbox-quadlet` [`--config` *FILE*] *COMMAND* [*OPTIONS*] [*NAME*]",
				"`devbox-quadlet completion` {`bash`|`zsh`|`fish`}",
				"`devbox-quadlet` {`--help`|`--version`}",
			}}},
			{Title: "DESCRIPTION", Blocks: manDescription()},
			{Title: "COMMANDS", Blocks: manCommands(app)},
			{Title: "OPTIONS", Blocks: manOptions(app)},
			{Title: "EXIT STATUS", Blocks: manExitStatus()},
			{Title: "ENVIRONMENT", Blocks: manEnvironment()},
			{Title: "FILES", Blocks: manFiles()},
			{Title: "EXAMPLES", Blocks: manExamples()},
			{Title: "SEE ALSO", Blocks: []manpage.Block{manpage.Para(
				"`devbox-quadlet-agent`(8), `podman-systemd.unit`(5), `podman-volume`(1), `podman-secret`(1), " +
					"`systemctl`(1), `journalctl`(1), `loginctl`(1), `systemd.timer`(5)."),
				manpage.Para("The README and the documents under docs/ (lifecycle.md, reaper.md, secrets.md, agent.md, " +
					"image-contract.md) are installed in *PREFIX*`/share/doc/devbox-quadlet/`."),
			}},
		},
	}
}

func manDescription() []manpage.Block {
	return []manpage.Block{
		manpage.Para("`devbox-quadlet` gives each developer on a shared host their own dev containers. Each is a " +
			"rootless podman quadlet unit in the developer's own systemd user manager: `create` *NAME* writes " +
			"`devbox-`*NAME*`.container` and `devbox-`*NAME*`-home.volume` into the user's quadlet directory, " +
			"reloads the user manager and starts `devbox-`*NAME*`.service`, all over D-Bus. systemd does the " +
			"supervision, limits, logs and restarts, so `systemctl --user status devbox-`*NAME* and " +
			"`journalctl --user -u devbox-`*NAME* work as for any unit."),
		manpage.Para("A create that fails undoes its earlier steps; one that was killed is cleaned up by the next " +
			"`create` or `destroy`. The user's files live in the volume `devbox-`*NAME*`-home`, mounted at " +
			"`/home/dev`, which survives stop, start, restart and reboots; the container's root file system is " +
			"recreated on every start. `destroy` archives the home first and `restore` brings it back."),
		manpage.Para("`stop` is `systemctl --user disable --now` for a generated unit: the container stays stopped " +
			"across reboots, and `start` makes it come back after them again. A plain `systemctl --user stop` " +
			"stops it only until the next boot."),
		manpage.Para("Where the host agent, `devbox-quadlet-agent`(8), is installed, it keeps the host-wide " +
			"ledger: unique names, the global cap of running containers, host resource admission, and each " +
			"user's Tailscale auth key, which it hands over through a pipe. Without it the command runs " +
			"standalone and says so; `[agent] mode` in the configuration decides whether that is allowed. " +
			"An agent that is installed but failing never turns into standalone: `create`, `start`, " +
			"`restart` and `rotate-key` exit 9 naming its unit's state, while `stop` and `destroy`, which " +
			"only give back, go on with a warning. A " +
			"systemd user timer runs `devbox-quadlet reap`, which stops idle containers and destroys " +
			"long-stopped ones after a warning."),
		manpage.Para("Container names: " + policy.NameRule + ". Results go to standard output; errors go to " +
			"standard error as what happened and why, followed by a `hint:` line saying what to do next. " +
			"`--json` output carries `\"schema\": 1` and only ever gains fields."),
	}
}

func manCommands(app *cli.App) []manpage.Block {
	blocks := []manpage.Block{manpage.Para("Every command takes `--help`. Flags may also follow *NAME*, as in " +
		"`devbox-quadlet create demo --cpus 1`.")}
	for _, cmd := range visible(app.Commands) {
		blocks = append(blocks, commandItem(cmd))
	}
	return blocks
}

// commandItem is cmd's entry: its usage and description, then its flags
// (without the --help every command has) and its subcommands below it.
func commandItem(cmd *cli.Command) manpage.Item {
	it := manpage.Item{Tag: "`" + cmd.Name + "`" + argsTag(cmd.ArgsUsage), Text: []string{manpage.Sentence(cmd.Usage)}}
	if cmd.Description != "" {
		it.Text = append(it.Text, strings.Split(cmd.Description, "\n\n")...)
	}
	if subs := visible(cmd.Subcommands); len(subs) > 0 {
		names := make([]string, len(subs))
		for i, s := range subs {
			names[i] = "`" + s.Name + "`"
		}
		it.Tag += " {" + strings.Join(names, "|") + "}"
		for _, s := range subs {
			it.Items = append(it.Items, commandItem(s))
		}
	}
	for _, f := range cmd.Flags {
		it.Items = append(it.Items, flagItem(f))
	}
	return it
}

// argsTag sets the upper-case words of an ArgsUsage ("NAME", "[FILE]") as
// placeholders.
func argsTag(argsUsage string) string {
	if argsUsage == "" {
		return ""
	}
	var b strings.Builder
	inWord := false
	for _, r := range argsUsage {
		upper := unicode.IsUpper(r) || (inWord && r == '-')
		if upper != inWord {
			b.WriteByte('*')
			inWord = upper
		}
		b.WriteRune(r)
	}
	if inWord {
		b.WriteByte('*')
	}
	return " " + b.String()
}

// flagItem is a flag's entry: "--tail N, -n N", its usage and its default.
func flagItem(f cli.Flag) manpage.Item {
	placeholder, usage := flagPlaceholder(f)
	var names []string
	for _, n := range f.Names() {
		dashes := "--"
		if len(n) == 1 {
			dashes = "-"
		}
		tag := "`" + dashes + n + "`"
		if takesValue(f) {
			tag += " *" + placeholder + "*"
		}
		names = append(names, tag)
	}
	text := manpage.Sentence(usage)
	if d, ok := f.(cli.DocGenerationFlag); ok && d.TakesValue() {
		if v := d.GetValue(); v != "" && v != "0" {
			text += fmt.Sprintf(" The default is %s.", v)
		}
	}
	return manpage.Item{Tag: strings.Join(names, ", "), Text: []string{text}}
}

func manOptions(app *cli.App) []manpage.Block {
	blocks := []manpage.Block{manpage.Para("These come before the *COMMAND*.")}
	for _, f := range flagsOf(rootCommand(app)) {
		blocks = append(blocks, flagItem(f))
	}
	return blocks
}

func manExitStatus() []manpage.Block {
	blocks := []manpage.Block{manpage.Item{Tag: "`0`", Text: []string{"Success."}}}
	for _, c := range errdefs.Classes {
		// As written: "systemd or podman failure" keeps its lower case.
		blocks = append(blocks, manpage.Item{Tag: fmt.Sprintf("`%d`", c.ExitCode()), Text: []string{c.Description() + "."}})
	}
	return append(blocks, manpage.Item{Tag: "`1`", Text: []string{
		"Anything else: an internal error, which is a bug in devbox-quadlet and is reported as one."}})
}

// manLayout is the Layout of a user whose home is ~ and who sets no XDG
// variable, with container NAME's unit noted as recording the default
// state directory, so that no path is looked up on disk. Its uid is 0, so
// that the lock's /run/user/0 can say UID.
func manLayout() *lifecycle.Layout {
	l := lifecycle.NewLayout("~", 0, func(string) string { return "" }, "")
	l.LockDir = strings.Replace(l.LockDir, "/run/user/0/", "/run/user/UID/", 1)
	l.NoteSpec(quadlet.Spec{Name: "NAME", ActivityDir: l.NewActivityDir("NAME")})
	return l
}

func manFiles() []manpage.Block {
	l := manLayout()
	item := func(path string, text ...string) manpage.Block {
		return manpage.Item{Tag: manpage.Placeholders(path, "NAME", "UID", "STAMP", "PREFIX"), Text: text}
	}
	return []manpage.Block{
		item(config.DefaultPath, "The host's configuration, which `--config` or `$DEVBOX_QUADLET_CONFIG` replace. "+
			"Without it the built-in defaults apply. `devbox-quadlet config validate` checks it."),
		item(l.QuadletDir()+"/"+quadlet.ContainerFile("NAME"), "The container's quadlet file; `"+quadlet.VolumeFile("NAME")+
			"` beside it is its home volume's. `create` writes both, and podman's systemd generator turns them into `"+
			quadlet.ServiceUnit("NAME")+"` and `"+quadlet.VolumeServiceUnit("NAME")+"`. The directory is under "+
			"`$XDG_CONFIG_HOME` instead of `~/.config` when that is set to an absolute path."),
		item(l.WantsDir()+"/"+quadlet.ServiceUnit("NAME"), "The autostart link that `create`, `start` and "+
			"`restart` make and `stop` removes: the container comes back after a reboot while it exists."),
		item("PREFIX/lib/systemd/user/"+reaper.TimerUnit, "The reaper's user timer, installed for every user; it "+
			"runs `"+reaper.ServiceUnit+"`, that is `devbox-quadlet reap`. `create` adapts it with drop-ins named "+
			"`"+reaper.DropInName+"` in `"+l.UserUnitDir()+"` when the configuration asks for another sweep "+
			"interval or file, and writes both units there itself when none are installed."),
		item(l.StateDir()+"/", "The state directory: under `$XDG_STATE_HOME` instead of `~/.local/state` when that "+
			"is set to an absolute path. `create` records it in the container's unit, and later commands, the "+
			"reaper included, use the recorded one."),
		item(l.ActivityDir("NAME")+"/", "The container's activity directory, bind-mounted into it: its session files."),
		item(l.RecordPath("NAME"), "The reaper's record of the container: its idle and stopped clocks and warnings."),
		item(l.ArchiveDir()+"/NAME-STAMP"+reaper.ArchiveSuffix, "An archive of a destroyed container's home, "+
			"with its unit file and record beside it, kept for `[reaper] archive_keep`; what `restore` reads."),
		item(l.IntentPath("NAME"), "The record of a create in progress, so that the next command can clean up after one that was killed."),
		item(l.PendingReleaseDir()+"/", "Names the host agent's ledger must still release."),
		item(l.KeyFile(), "The auth key of the standalone `file` secrets backend when `[secrets] path` names no other file; it must be private to the user."),
		item(l.LockPath(), "The user's lock: one command at a time changes the user's containers."),
	}
}

func manEnvironment() []manpage.Block {
	item := func(name string, text ...string) manpage.Block {
		return manpage.Item{Tag: "`" + name + "`", Text: text}
	}
	return []manpage.Block{
		item("DEVBOX_QUADLET_CONFIG", "The configuration file, when `--config` names none."),
		item("XDG_CONFIG_HOME", "Where the quadlet directory, the user's units and the standalone key file are, "+
			"instead of `~/.config`. Only an absolute path counts; the completion scripts follow the same rule."),
		item("XDG_STATE_HOME", "Where a new container's state directory goes, instead of `~/.local/state`. Only an "+
			"absolute path counts."),
		item("DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR", "How the user's systemd manager is reached: the session "+
			"bus address, else the `bus` socket in the runtime directory, else `/run/user/`*UID*`/bus`, where "+
			"lingering puts it; so a shell from `sudo -u` or `runuser` still reaches its own manager."),
		item("DBUS_SYSTEM_BUS_ADDRESS", "The system bus, where the host agent is."),
		item("HOME, USER", "Who the user is, when the password database does not say."),
		item(string(config.Default().Secrets.Env), "The auth key, for the standalone `env` secrets backend "+
			"(`[secrets] env` names another variable)."),
		item("DEVBOX_QUADLET_TRACE", "When set, each command writes to standard error how many milliseconds "+
			"after its start each step ended."),
	}
}

func manExamples() []manpage.Block {
	return []manpage.Block{manpage.Example(`$ devbox-quadlet create demo --cpus 1 --memory 2G
demo    running    devbox-demo.service
$ devbox-quadlet list
$ devbox-quadlet logs demo --tail 20
$ devbox-quadlet stop demo          # stays stopped across reboots; home kept
$ devbox-quadlet start demo
$ devbox-quadlet keepalive demo --for 8h
$ devbox-quadlet reap --dry-run
$ devbox-quadlet destroy demo       # asks for the name; the home is archived
$ devbox-quadlet restore demo
$ devbox-quadlet render demo --memory 8G   # what create would write
$ source <(devbox-quadlet completion bash)
`)}
}
