package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

// completeWith runs `devbox-quadlet __complete words...` and returns the mode
// line and the candidate words, without their descriptions.
func completeWith(t *testing.T, h *harness, words ...string) (string, []string) {
	t.Helper()
	if code := h.run(append([]string{completeCommandName}, words...)...); code != 0 || h.errOut.Len() > 0 {
		t.Fatalf("__complete %q: exit %d, stderr %q", words, code, h.errOut)
	}
	lines := strings.Split(strings.TrimSuffix(h.out.String(), "\n"), "\n")
	var cands []string
	for _, l := range lines[1:] {
		word, _, _ := strings.Cut(l, "\t")
		cands = append(cands, word)
	}
	return lines[0], cands
}

func TestComplete(t *testing.T) {
	h := newHarness(t)
	// Names come from the quadlet directory the Layout resolves, here under
	// an XDG_CONFIG_HOME, and from the archives in the state directory.
	h.vars["XDG_CONFIG_HOME"] = filepath.Join(h.env.Home, "xdg")
	qdir := filepath.Join(h.env.Home, "xdg", "containers", "systemd")
	for _, f := range []string{"devbox-demo.container", "devbox-demo-home.volume", "devbox-dev-api.container"} {
		if err := writeNew(qdir, f, nil); err != nil {
			t.Fatal(err)
		}
	}
	archive := reaper.ArchiveName("gone", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err := writeNew(filepath.Join(h.env.Home, ".local", "state", "devbox-quadlet", "archives"), archive, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		words []string
		mode  string
		want  []string
	}{
		{"a verb prefix completes to the verbs it starts", []string{"sto"}, "words", []string{"stop"}},
		{"two verbs share a prefix", []string{"re"}, "words", []string{"reap", "restore", "restart", "render"}},
		{"hidden verbs are not offered", []string{"__"}, "words", nil},
		{"a verb that takes a NAME offers the user's containers", []string{"stop", ""}, "words", []string{"demo", "dev-api"}},
		{"the names are filtered by what is typed", []string{"logs", "dev-"}, "words", []string{"dev-api"}},
		{"a verb takes one NAME only", []string{"stop", "demo", ""}, "words", nil},
		{"flags before the NAME are skipped", []string{"logs", "--tail", "5", "-f", ""}, "words", []string{"demo", "dev-api"}},
		{"a flag's value is not a NAME", []string{"logs", "--tail", ""}, "words", nil},
		{"global flags come before the verb", []string{"--config", "/c.toml", "status", "d"}, "words", []string{"demo", "dev-api"}},
		{"--config takes a file", []string{"--config", ""}, "files", nil},
		{"--config=FILE in one word takes a file", []string{"--config=/et"}, "files", nil},
		{"bash's split of --config=FILE takes a file", []string{"--config", "=", "/et"}, "files", nil},
		{"create takes a new name: nothing to offer", []string{"create", ""}, "words", nil},
		{"render likewise", []string{"render", ""}, "words", nil},
		{"restore offers the archived names", []string{"restore", ""}, "words", []string{"gone"}},
		{"restore --from takes a file", []string{"restore", "--from", ""}, "files", nil},
		{"a dash offers the verb's flags", []string{"destroy", "--"}, "words", []string{"--yes", "--no-archive", "--keep-volume", "--json", "--help"}},
		{"a short flag prefix", []string{"logs", "-"}, "words", []string{"--follow", "-f", "--tail", "-n", "--since", "--timestamps", "-t", "--all", "--help", "-h"}},
		{"the app's own flags", []string{"--"}, "words", []string{"--config", "--help", "--version"}},
		{"after -- every word is a NAME", []string{"stop", "--", "-"}, "words", nil},
		{"a verb with subcommands offers them", []string{"config", ""}, "words", []string{"validate"}},
		{"config validate takes a file", []string{"config", "validate", ""}, "files", nil},
		{"completion offers the shells", []string{"completion", ""}, "words", []string{"bash", "zsh", "fish"}},
		{"ledger offers check and repair", []string{"ledger", ""}, "words", []string{"check", "repair"}},
		{"list takes no argument", []string{"list", ""}, "words", nil},
		{"help offers the verbs", []string{"help", "ro"}, "words", []string{"rotate-key"}},
		{"an unknown verb has nothing to offer", []string{"bogus", ""}, "words", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode, got := completeWith(t, h, tc.words...)
			if mode != tc.mode || !slices.Equal(got, tc.want) {
				t.Errorf("__complete %q = %s %q, want %s %q", tc.words, mode, got, tc.mode, tc.want)
			}
		})
	}
}

func TestCompleteIsQuietWithoutAHome(t *testing.T) {
	h := newHarness(t)
	h.env.Home = "" // no home and no XDG_CONFIG_HOME: nothing to list, and no guess relative to the working directory
	if mode, got := completeWith(t, h, "stop", ""); mode != "words" || got != nil {
		t.Errorf("got %s %q, want words and nothing", mode, got)
	}
	h.env.Home = filepath.Join(t.TempDir(), "missing")
	if mode, got := completeWith(t, h, "start", ""); mode != "words" || got != nil {
		t.Errorf("a home without a quadlet directory: got %s %q, want words and nothing", mode, got)
	}
	// A quadlet directory that cannot be read is no error either.
	h.env.Home = t.TempDir()
	qdir := filepath.Join(h.env.Home, ".config", "containers", "systemd")
	if err := os.MkdirAll(filepath.Dir(qdir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(qdir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	if mode, got := completeWith(t, h, "status", ""); mode != "words" || got != nil {
		t.Errorf("an unreadable quadlet directory: got %s %q, want words and nothing", mode, got)
	}
}

// TestEveryVerbArgumentIsClassified makes a new verb decide what its
// argument completes to: the table below fails until it is listed.
func TestEveryVerbArgumentIsClassified(t *testing.T) {
	want := map[string]argKind{
		"create": argNone, "render": argNone, "list": argNone, "reap": argNone,
		"config": argNone, "ledger": argNone, "completion": argNone,
		"restore": argArchived,
		"start":   argContainer, "stop": argContainer, "restart": argContainer, "status": argContainer,
		"logs": argContainer, "destroy": argContainer, "rotate-key": argContainer, "keepalive": argContainer,
	}
	for _, cmd := range visible(newApp(&Env{}).Commands) {
		kind, ok := want[cmd.Name]
		if !ok {
			t.Errorf("verb %q is not in this test: say what its argument (%q) completes to", cmd.Name, cmd.ArgsUsage)
			continue
		}
		if got := argKindOf(cmd); got != kind {
			t.Errorf("argKindOf(%s) = %d, want %d", cmd.Name, got, kind)
		}
	}
}

func TestCompletionPrintsTheScripts(t *testing.T) {
	h := newHarness(t)
	for _, s := range completionScripts() {
		if code := h.run("completion", s.Shell); code != 0 || h.out.String() != s.Script {
			t.Errorf("completion %s: exit %d, %d bytes, want the %d-byte script", s.Shell, code, h.out.Len(), len(s.Script))
		}
		if !strings.Contains(s.Script, completeCommandName) {
			t.Errorf("the %s script does not call %s", s.Shell, completeCommandName)
		}
	}
	if code := h.run("completion", "bash", "extra"); code != 2 {
		t.Errorf("completion bash extra: exit %d, want 2", code)
	}
}
