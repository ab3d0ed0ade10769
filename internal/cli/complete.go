package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// Shell completion works as podman's and kubectl's do: the scripts that
// `devbox-quadlet completion SHELL` prints are small and fixed, and on each
// TAB they run `devbox-quadlet __complete WORD...`, which answers from the
// command definitions in this package and from the user's own directories.
// So the verbs and flags a shell offers are always the installed binary's,
// and one parser, tested here, serves bash, zsh and fish.
//
// urfave/cli's own mechanism (--generate-bash-completion) is not used: its
// scripts eval the command line as typed, its default completer reads
// os.Args rather than the arguments given to Run, and what it prints
// depends on $0 (zsh or not).

// completeCommandName is the hidden verb the completion scripts call.
const completeCommandName = "__complete"

// completionMode says what the shell should offer.
type completionMode string

const (
	completeWords completionMode = "words" // the candidates given
	completeFiles completionMode = "files" // the shell's own file names
)

// candidate is one word a shell may offer, with what it is.
type candidate struct {
	Word, Description string
}

// completion is the answer to one TAB.
type completion struct {
	Mode       completionMode
	Candidates []candidate // only those that start with the word being completed
}

// argKind is what the one positional argument of a command completes to.
type argKind int

const (
	argNone      argKind = iota // nothing worth offering
	argContainer                // a container in the quadlet directory
	argArchived                 // a destroyed container with an archive
	argFile                     // a file
	argCommand                  // a verb (`help VERB`)
)

// argKindOf says what cmd's argument completes to, from its ArgsUsage:
// NAME is one of the user's containers, except where the verb makes a new
// one or brings back a destroyed one.
func argKindOf(cmd *cli.Command) argKind {
	switch {
	case cmd.Name == "create" || cmd.Name == "render":
		return argNone // a name not yet taken: nothing on disk to offer
	case cmd.Name == "restore":
		return argArchived
	case cmd.Name == "help":
		return argCommand
	case cmd.ArgsUsage == "NAME":
		return argContainer
	case strings.Contains(cmd.ArgsUsage, "FILE"):
		return argFile
	}
	return argNone
}

func completeCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:            completeCommandName,
		Usage:           "print what fits the command line WORD..., for the completion scripts",
		ArgsUsage:       "WORD...",
		Hidden:          true,
		HideHelp:        true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			words := c.Args().Slice()
			if len(words) == 0 {
				words = []string{""}
			}
			writeCompletion(env.Stdout, complete(rootCommand(c.App), words, localNames(env)))
			// A completion never fails: a shell prints nothing rather than an error.
			return nil
		},
	}
}

// rootCommand presents the app as a command, so that the app and its verbs
// are walked alike; it carries the flags urfave adds when it runs.
func rootCommand(app *cli.App) *cli.Command {
	flags := app.Flags
	if app.Version != "" && !app.HideVersion && lookupFlag(flags, "version") == nil {
		flags = append(flags[:len(flags):len(flags)], cli.VersionFlag)
	}
	return &cli.Command{Name: app.Name, Flags: flags, Subcommands: app.Commands, HideHelp: app.HideHelp}
}

// localNames lists names from the user's own directories, as the Layout
// resolves them from this process's environment: never systemd or podman,
// which a TAB must not wait for. Errors mean no names.
func localNames(env *Env) func(argKind) []string {
	return func(kind argKind) []string {
		l := env.layout()
		if !filepath.IsAbs(l.QuadletDir()) || !filepath.IsAbs(l.StateDir()) {
			return nil // no home: nothing of ours to find, and no relative guess
		}
		switch kind {
		case argContainer:
			names, _ := l.ContainerNames()
			return names
		case argArchived:
			return l.ArchivedNames()
		}
		return nil
	}
}

// writeCompletion prints c for the scripts: the mode on the first line, then
// one candidate a line, a tab before its description if it has one.
func writeCompletion(w io.Writer, c completion) {
	fmt.Fprintln(w, c.Mode)
	for _, cand := range c.Candidates {
		if cand.Description == "" {
			fmt.Fprintln(w, cand.Word)
			continue
		}
		fmt.Fprintf(w, "%s\t%s\n", cand.Word, cand.Description)
	}
}

// complete answers one TAB: words are the command line after the program
// name, and the last of them is the word being completed ("" after a
// space). names lists the names of a kind; nothing else is read.
func complete(root *cli.Command, words []string, names func(argKind) []string) completion {
	words = joinEquals(words)
	cur := words[len(words)-1]
	at := walk(root, words[:len(words)-1])
	switch {
	case at.valueOf != nil:
		return flagValue(at.valueOf)
	case !at.dashDash && strings.HasPrefix(cur, "-") && strings.Contains(cur, "="):
		name, _, _ := strings.Cut(strings.TrimLeft(cur, "-"), "=")
		if f := lookupFlag(flagsOf(at.cmd), name); f != nil {
			return flagValue(f)
		}
		return completion{Mode: completeWords}
	case !at.dashDash && strings.HasPrefix(cur, "-"):
		return matching(cur, flagCandidates(flagsOf(at.cmd)))
	case at.positional == 0 && len(visible(at.cmd.Subcommands)) > 0:
		return matching(cur, commandCandidates(at.cmd.Subcommands))
	case at.positional == 0:
		return argCandidates(root, at.cmd, cur, names)
	}
	return completion{Mode: completeWords}
}

func argCandidates(root, cmd *cli.Command, cur string, names func(argKind) []string) completion {
	kind := argKindOf(cmd)
	switch kind {
	case argFile:
		return completion{Mode: completeFiles}
	case argCommand:
		return matching(cur, commandCandidates(root.Subcommands))
	case argContainer, argArchived:
		var cands []candidate
		for _, n := range names(kind) {
			cands = append(cands, candidate{Word: n})
		}
		return matching(cur, cands)
	}
	return completion{Mode: completeWords}
}

// position is where the words before the one being completed leave a
// command line.
type position struct {
	cmd        *cli.Command
	positional int      // positional arguments seen after cmd
	valueOf    cli.Flag // the flag whose value is the next word, if any
	dashDash   bool     // after "--", every word is positional
}

// walk follows words as urfave and args() parse them: a verb is the first
// positional word that names a subcommand, a flag that takes a value
// consumes the next word, and flags may follow positional arguments.
func walk(root *cli.Command, words []string) position {
	at := position{cmd: root}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case at.dashDash || w == "-" || !strings.HasPrefix(w, "-"):
			if sub := findCommand(at.cmd.Subcommands, w); sub != nil && at.positional == 0 && !at.dashDash {
				at.cmd = sub
				continue
			}
			at.positional++
		case w == "--":
			at.dashDash = true
		default:
			name, _, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if f := lookupFlag(flagsOf(at.cmd), name); f != nil && takesValue(f) && !hasValue {
				if i+1 == len(words) {
					at.valueOf = f
				}
				i++
			}
		}
	}
	return at
}

// joinEquals undoes bash's split of --flag=value into three words ("=" is
// in COMP_WORDBREAKS), so that walk sees the one word urfave will.
func joinEquals(words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		if words[i] == "=" && len(out) > 0 && strings.HasPrefix(out[len(out)-1], "-") {
			out[len(out)-1] += "="
			if i+1 < len(words) {
				out[len(out)-1] += words[i+1]
				i++
			}
			continue
		}
		out = append(out, words[i])
	}
	return out
}

// flagValue completes the value of f: a file for a FILE placeholder
// (--config FILE, restore --from FILE), nothing otherwise.
func flagValue(f cli.Flag) completion {
	if placeholder, _ := flagPlaceholder(f); placeholder == "FILE" {
		return completion{Mode: completeFiles}
	}
	return completion{Mode: completeWords}
}

// flagsOf is cmd's flags with the --help that urfave adds when it runs cmd.
func flagsOf(cmd *cli.Command) []cli.Flag {
	if cmd.HideHelp || cli.HelpFlag == nil || lookupFlag(cmd.Flags, "help") != nil {
		return cmd.Flags
	}
	return append(cmd.Flags[:len(cmd.Flags):len(cmd.Flags)], cli.HelpFlag)
}

func takesValue(f cli.Flag) bool {
	d, ok := f.(cli.DocGenerationFlag)
	return ok && d.TakesValue()
}

// flagPlaceholder is the name of f's value as its usage quotes it
// ("configuration `FILE`" gives FILE), and the usage without the quotes.
func flagPlaceholder(f cli.Flag) (placeholder, usage string) {
	d, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return "", ""
	}
	usage = d.GetUsage()
	// urfave's convention, as its help prints it: the first `quoted` word
	// names the value.
	if before, rest, ok := strings.Cut(usage, "`"); ok {
		if name, after, ok := strings.Cut(rest, "`"); ok {
			placeholder, usage = name, before+name+after
		}
	}
	if placeholder == "" && d.TakesValue() {
		placeholder = "value"
	}
	return placeholder, usage
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// visible is cmds without the hidden ones.
func visible(cmds []*cli.Command) []*cli.Command {
	var out []*cli.Command
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

func commandCandidates(cmds []*cli.Command) []candidate {
	var out []candidate
	for _, c := range visible(cmds) {
		out = append(out, candidate{Word: c.Name, Description: c.Usage})
	}
	return out
}

func flagCandidates(flags []cli.Flag) []candidate {
	var out []candidate
	for _, f := range flags {
		_, usage := flagPlaceholder(f)
		for _, n := range f.Names() {
			dashes := "--"
			if len(n) == 1 {
				dashes = "-"
			}
			out = append(out, candidate{Word: dashes + n, Description: usage})
		}
	}
	return out
}

// matching keeps the candidates that start with cur; descriptions are
// kept to one line, as the scripts read one candidate a line.
func matching(cur string, cands []candidate) completion {
	c := completion{Mode: completeWords}
	for _, cand := range cands {
		if strings.HasPrefix(cand.Word, cur) {
			cand.Description = strings.Join(strings.Fields(cand.Description), " ")
			c.Candidates = append(c.Candidates, cand)
		}
	}
	return c
}
