package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

// These tests run the scripts `make install` installs (completion/) in the
// real shells against a freshly built binary, in a home of two containers
// whose quadlet directory is under XDG_CONFIG_HOME.

var built struct {
	once sync.Once
	dir  string
	err  error
}

// buildCLI builds cmd/devbox-quadlet once for all of this package's tests
// and returns the directory that holds it. `go test` puts its own go first
// on PATH.
func buildCLI(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "devbox-quadlet-bin-")
		if built.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", built.dir, "./cmd/devbox-quadlet")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = &buildError{err: err, out: string(out)}
		}
	})
	if built.err != nil {
		t.Fatalf("build cmd/devbox-quadlet: %v", built.err)
	}
	return built.dir
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// shellHome is a user's environment for a shell: HOME, XDG_CONFIG_HOME with
// the quadlet files of demo and dev-api, an archive of gone in the default
// state directory, and PATH with the binary first.
type shellHome struct {
	dir, bin string
	env      []string
}

func newShellHome(t *testing.T) shellHome {
	t.Helper()
	bin := buildCLI(t)
	dir := t.TempDir()
	qdir := filepath.Join(dir, "xdg", "containers", "systemd")
	for _, f := range []string{"devbox-demo.container", "devbox-demo-home.volume", "devbox-dev-api.container"} {
		if err := writeNew(qdir, f, []byte("[Container]\n")); err != nil {
			t.Fatal(err)
		}
	}
	archive := reaper.ArchiveName("gone", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err := writeNew(filepath.Join(dir, "home", ".local", "state", "devbox-quadlet", "archives"), archive, nil); err != nil {
		t.Fatal(err)
	}
	if err := writeNew(dir, "config.toml", nil); err != nil {
		t.Fatal(err)
	}
	return shellHome{dir: dir, bin: bin, env: []string{
		"HOME=" + filepath.Join(dir, "home"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "xdg"),
		"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin",
		"LC_ALL=C",
	}}
}

// lines runs argv with env and returns its stdout as lines; stderr must be
// empty, as a completion must never print on the user's terminal.
func lines(t *testing.T, env []string, argv ...string) []string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%q: %v, stderr %q", argv, err, stderr.String())
	}
	s := strings.TrimSuffix(string(out), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func needShell(t *testing.T, name string, required bool) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil && required {
		t.Fatalf("%s is not installed", name)
	}
	if err != nil {
		t.Skipf("%s is not installed: its completion script is checked where it is", name)
	}
	return p
}

// shellCase is one TAB: the words of the command line, the last being
// completed, and what the shell should offer.
type shellCase struct {
	name  string
	words []string
	want  []string
}

func shellCases(h shellHome) []shellCase {
	return []shellCase{
		{"a verb prefix", []string{"devbox-quadlet", "sto"}, []string{"stop"}},
		{"the NAME of stop is one of the two containers", []string{"devbox-quadlet", "stop", ""}, []string{"demo", "dev-api"}},
		{"a NAME prefix", []string{"devbox-quadlet", "logs", "-f", "dev-"}, []string{"dev-api"}},
		{"one NAME only", []string{"devbox-quadlet", "stop", "demo", ""}, nil},
		{"restore offers archived names", []string{"devbox-quadlet", "restore", ""}, []string{"gone"}},
		{"--config takes a file", []string{"devbox-quadlet", "--config", filepath.Join(h.dir, "conf")}, []string{filepath.Join(h.dir, "config.toml")}},
		{"a binary named by its path", []string{filepath.Join(h.bin, "devbox-quadlet"), "start", "d"}, []string{"demo", "dev-api"}},
	}
}

const bashDriver = `set -u
[ -z "${BASH_COMPLETION:-}" ] || source "$BASH_COMPLETION"
source "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
_devbox_quadlet
[ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}"
`

func TestBashCompletionScript(t *testing.T) {
	bash := needShell(t, "bash", true)
	h := newShellHome(t)
	script := scriptPath(t, "devbox-quadlet.bash")
	variants := map[string]string{"plain bash": ""}
	// With bash-completion loaded the script takes its words from
	// _get_comp_words_by_ref instead.
	if p := "/usr/share/bash-completion/bash_completion"; fileExists(p) {
		variants["with bash-completion"] = p
	}
	for variant, lib := range variants {
		env := append(slices.Clone(h.env), "BASH_COMPLETION="+lib)
		for _, tc := range shellCases(h) {
			t.Run(variant+"/"+tc.name, func(t *testing.T) {
				got := lines(t, env, append([]string{bash, "-c", bashDriver, "bash", script}, tc.words...)...)
				if !slices.Equal(got, tc.want) {
					t.Errorf("COMPREPLY for %q = %q, want %q", tc.words, got, tc.want)
				}
			})
		}
	}
	t.Run("shellcheck", func(t *testing.T) {
		sc, err := exec.LookPath("shellcheck")
		if err != nil {
			t.Skip("shellcheck is not installed")
		}
		if out, err := exec.Command(sc, "-s", "bash", script).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", script, err, out)
		}
	})
	t.Run("no binary: quietly nothing", func(t *testing.T) {
		env := append(slices.Clone(h.env[:len(h.env)-2]), "PATH=/usr/bin:/bin", "BASH_COMPLETION=")
		if got := lines(t, env, bash, "-c", bashDriver, "bash", script, "devbox-quadlet", "stop", ""); got != nil {
			t.Errorf("COMPREPLY = %q, want nothing", got)
		}
	})
}

// TestZshCompletionScript runs the script's function in real zsh, with the
// completion system's _describe, _files and compdef replaced by functions
// that print what they were given: zsh's completion widgets cannot run
// without a terminal, but the script's own word handling can.
func TestZshCompletionScript(t *testing.T) {
	zsh := needShell(t, "zsh", false)
	h := newShellHome(t)
	script := scriptPath(t, "_devbox-quadlet")
	const driver = `compdef() { :; }
compset() { :; }
_files() { print -r -- "$PREFIX"*(N) }
_describe() { local c; for c in "${(@P)4}"; do print -r -- "${c%%:*}"; done }
source "$1"
shift
words=("$@")
CURRENT=$#
PREFIX=${words[CURRENT]}
_devbox-quadlet || true  # 1: nothing to offer, as completion functions say
`
	for _, tc := range shellCases(h) {
		t.Run(tc.name, func(t *testing.T) {
			got := lines(t, h.env, append([]string{zsh, "-f", "-c", driver, "zsh", script}, tc.words...)...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("candidates for %q = %q, want %q", tc.words, got, tc.want)
			}
		})
	}
}

// TestFishCompletionScript asks real fish, which can complete a command
// line without a terminal (complete -C).
func TestFishCompletionScript(t *testing.T) {
	fish := needShell(t, "fish", false)
	h := newShellHome(t)
	script := scriptPath(t, "devbox-quadlet.fish")
	for _, tc := range shellCases(h) {
		t.Run(tc.name, func(t *testing.T) {
			line := strings.Join(tc.words, " ")
			got := lines(t, h.env, fish, "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, script, line)
			for i, l := range got {
				got[i], _, _ = strings.Cut(l, "\t")
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("completions of %q = %q, want %q", line, got, tc.want)
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// scriptPath is the absolute path of one of completion/'s scripts: the
// shells run in a temporary directory.
func scriptPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("completion", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
