package agentd

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devbox-quadlet/devbox-quadlet/internal/manpage"
)

var update = flag.Bool("update", false, "rewrite contrib/man/devbox-quadlet-agent.8")

// TestManPageIsCurrent keeps contrib/man/devbox-quadlet-agent.8, which `make
// install` installs, equal to ManPage. After changing a flag or the page's
// text, regenerate it with `go generate ./internal/agentd` (this test with
// -update) and commit it.
func TestManPageIsCurrent(t *testing.T) {
	path := filepath.Join("..", "..", "contrib", "man", "devbox-quadlet-agent.8")
	want := manpage.Render(ManPage())
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; generate it with `go generate ./internal/agentd`", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("contrib/man/devbox-quadlet-agent.8 is not what ManPage generates; regenerate it with `go generate ./internal/agentd` and commit it")
	}
}

// TestManPageListsEveryFlag: the OPTIONS section is the flag set's.
func TestManPageListsEveryFlag(t *testing.T) {
	page := string(manpage.Render(ManPage()))
	fs, _ := newFlagSet(nil)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(page, `\fB\-\-`+strings.ReplaceAll(f.Name, "-", `\-`)+`\fR`) {
			t.Errorf("the man page does not list --%s", f.Name)
		}
	})
}
