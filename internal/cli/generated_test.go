package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/devbox-quadlet/devbox-quadlet/internal/manpage"
)

var update = flag.Bool("update", false, "rewrite the files under contrib/ that this package generates")

// repoRoot is the repository, from this package's directory.
const repoRoot = "../.."

// generatedFiles is every file under contrib/ that this package generates,
// by its path in the repository: what `make install` installs, so what
// users get is what the code says.
func generatedFiles(t *testing.T) map[string][]byte {
	t.Helper()
	return map[string][]byte{
		"contrib/man/devbox-quadlet.1": manpage.Render(ManPage()),
	}
}

// TestGeneratedFilesAreCurrent keeps the committed man page equal to what
// the code generates. After changing a verb, a flag or the man page's text,
// regenerate with
//
//	go generate ./internal/cli
//
// (which runs this test with -update) and commit the result.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	files := generatedFiles(t)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		want := files[p]
		full := filepath.Join(repoRoot, p)
		if *update {
			if err := os.WriteFile(full, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(full)
		if err != nil {
			t.Errorf("%s: %v; generate it with `go generate ./internal/cli`", p, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what the code generates (%s); regenerate it with `go generate ./internal/cli` and commit it", p, firstDifference(got, want))
		}
	}
}

// firstDifference names the first line where got and want differ.
func firstDifference(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			return fmt.Sprintf("line %d: committed %s, generated %s", i+1, quoteLine(gl, i < len(g)), quoteLine(wl, i < len(w)))
		}
	}
	return "same lines"
}

func quoteLine(s string, present bool) string {
	if !present {
		return "the end of the file"
	}
	return fmt.Sprintf("%q", s)
}
