package agentd

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/manpage"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

//go:generate go test -run ^TestManPageIsCurrent$ -update

// ManPage is devbox-quadlet-agent(8). Its OPTIONS come from the agent's
// flag set, its EXIT STATUS from errdefs and its FILES from the constants
// the agent uses; the prose around them is written here.
// contrib/man/devbox-quadlet-agent.8 is its output, kept equal by
// TestManPageIsCurrent. Nothing in the agent calls it.
func ManPage() manpage.Page {
	return manpage.Page{
		Name: "devbox-quadlet-agent", Section: "8", Source: "devbox-quadlet", Manual: "System Administration",
		Comment: "Generated from internal/agentd/manpage.go by `go generate ./internal/agentd`; do not edit.",
		Sections: []manpage.Section{
			{Title: "NAME", Blocks: []manpage.Block{manpage.Para(
				"devbox-quadlet-agent - the devbox-quadlet host agent: ledger, caps, admission and auth keys on the system bus")}},
			{Title: "SYNOPSIS", Blocks: []manpage.Block{manpage.Lines{
				"`devbox-quadlet-agent` [`--config` *FILE*] [`--state-dir` *DIR*] [`--check-config`]",
				"`devbox-quadlet-agent --version`",
			}}},
			{Title: "DESCRIPTION", Blocks: agentDescription()},
			{Title: "OPTIONS", Blocks: agentOptions()},
			{Title: "EXIT STATUS", Blocks: agentExitStatus()},
			{Title: "ENVIRONMENT", Blocks: agentEnvironment()},
			{Title: "FILES", Blocks: agentFiles()},
			{Title: "SEE ALSO", Blocks: []manpage.Block{manpage.Para(
				"`devbox-quadlet`(1), `systemd.exec`(5) (`ImportCredential=`, `StateDirectory=`), `systemd-creds`(1), " +
					"`dbus-daemon`(1), `sysusers.d`(5), `busctl`(1)."),
				manpage.Para("`agent.md` and `secrets.md` in *PREFIX*`/share/doc/devbox-quadlet/`: the methods, who may " +
					"call them, the ledger's repair and the 1Password setup."),
			}},
		},
	}
}

func agentDescription() []manpage.Block {
	return []manpage.Block{
		manpage.Para("Rootless per-user systemd managers cannot see each other, so every rule that spans users lives " +
			"in one trusted place: `devbox-quadlet-agent`, a system service that owns the name `" + agentproto.BusName +
			"` on the system D-Bus. It keeps the host-wide ledger of containers in its state directory and, for " +
			"`devbox-quadlet`(1), admits a create or a start against unique names, the global cap of running " +
			"containers and the host's CPUs and memory; it hands each caller their own Tailscale auth key (from a " +
			"1Password service account or per-user files) through a pipe, and deletes a caller's tailnet device " +
			"through the Tailscale API when a destroy could not log it out."),
		manpage.Para("The caller is never an argument: every method asks the bus daemon for the caller's uid and " +
			"works on that user's entries only. Received file descriptors are always closed, and auth-key and " +
			"Tailscale API calls are rate limited per user. `[agent] allowed_group` in the configuration limits " +
			"who may call at all."),
		manpage.Para("It is not run by hand. D-Bus activation starts `devbox-quadlet-agent.service` on the first " +
			"call; the unit runs as the system user `devbox-quadlet`, takes its secrets with `ImportCredential=` " +
			"and runs `devbox-quadlet-agent --check-config` first, so a configuration the agent cannot use fails " +
			"the start with the file, line and key in the journal. An admin checks a new configuration the same " +
			"way before installing it: `sudo -u devbox-quadlet devbox-quadlet-agent --check-config --config` *FILE*."),
		manpage.Para("Root and admins check or repair the ledger against the containers that exist with " +
			"`devbox-quadlet ledger check` and `devbox-quadlet ledger repair`."),
	}
}

// agentOptions lists the flags of newFlagSet, as --help prints them.
func agentOptions() []manpage.Block {
	fs, _ := newFlagSet(io.Discard)
	var blocks []manpage.Block
	fs.VisitAll(func(f *flag.Flag) {
		placeholder, usage := flag.UnquoteUsage(f)
		tag := "`--" + f.Name + "`"
		if placeholder != "" {
			tag += " *" + placeholder + "*"
		}
		blocks = append(blocks, manpage.Item{Tag: tag, Text: []string{manpage.Sentence(usage)}})
	})
	return append(blocks, manpage.Item{Tag: "`--help`, `-h`", Text: []string{"Print the usage and exit."}})
}

func agentExitStatus() []manpage.Block {
	code := func(c *errdefs.Class) string { return fmt.Sprintf("`%d`", c.ExitCode()) }
	return []manpage.Block{
		manpage.Para("The codes are those of `devbox-quadlet`(1); the agent returns these:"),
		manpage.Item{Tag: "`0`", Text: []string{"Stopped by SIGTERM or SIGINT; or `--check-config` found the " +
			"configuration good; or `--version` or `--help`."}},
		manpage.Item{Tag: code(errdefs.Usage), Text: []string{"Bad flags or arguments, or a configuration the " +
			"agent cannot use: the message names the file, line and key, or the backend and the missing credential."}},
		manpage.Item{Tag: code(errdefs.System), Text: []string{"The system bus: the agent cannot connect, export " +
			"its object or own its name (another agent owns it), or it lost the connection. systemd restarts it."}},
		manpage.Item{Tag: "`1`", Text: []string{"Anything else."}},
	}
}

func agentEnvironment() []manpage.Block {
	item := func(name, text string) manpage.Block {
		return manpage.Item{Tag: "`" + name + "`", Text: []string{text}}
	}
	return []manpage.Block{
		item("DEVBOX_QUADLET_CONFIG", "The configuration file, when `--config` names none."),
		item("STATE_DIRECTORY", "Set by systemd from `StateDirectory=`: the ledger's directory when "+
			"`--state-dir` names none."),
		item("CREDENTIALS_DIRECTORY", "Set by systemd from `ImportCredential=`: where the credentials `"+
			secrets.CredentialName+"` and `"+TailnetSecretCredential+"` are read."),
		item(secrets.TokenEnv, "The 1Password service-account token, after the credential and `[secrets] token_file`."),
		item("DBUS_SYSTEM_BUS_ADDRESS", "The system bus, when not the default."),
	}
}

func agentFiles() []manpage.Block {
	item := func(path, text string) manpage.Block {
		return manpage.Item{Tag: manpage.Placeholders(path, "USER", "PREFIX"), Text: []string{text}}
	}
	return []manpage.Block{
		item(config.DefaultPath, "The host's configuration: `[caps]`, `[host]`, `[agent]`, `[users.`*NAME*`]`, "+
			"`[secrets]` and `[tailnet]` (see `devbox-quadlet`(1) and the README)."),
		item(DefaultStateDir+"/"+ledgerFile, "The ledger, in the state directory (mode 0700, owned by the agent's user)."),
		item(strings.ReplaceAll(AgentKeyTemplate, "{user}", "USER"), "Each user's auth key for the `file` "+
			"backend, readable by the agent's user only, when `[secrets] path` names no other template."),
		item("/etc/credstore/"+secrets.CredentialName, "The 1Password service-account token, imported as a credential."),
		item("/etc/credstore/"+TailnetSecretCredential, "The Tailscale OAuth client secret of the device-deletion fallback."),
		item("PREFIX/lib/systemd/system/devbox-quadlet-agent.service", "The unit: `Type=dbus`, sandboxed, with a start-rate limit."),
		item("PREFIX/share/dbus-1/system-services/"+agentproto.BusName+".service", "Its D-Bus activation file."),
		item("/etc/dbus-1/system.d/"+agentproto.BusName+".conf", "Its bus policy: only root and the agent's user "+
			"may own the name. Under *PREFIX*`/share/dbus-1/system.d/` for any prefix but `/usr/local`."),
		item("PREFIX/lib/sysusers.d/devbox-quadlet.conf", "The agent's system user, made by `systemd-sysusers`(8)."),
	}
}
