package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReplace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "f.json")
	for _, content := range []string{"one", "two, longer"} {
		if err := Replace(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); string(got) != content {
			t.Errorf("content = %q, want %q", got, content)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := Replace(filepath.Join(p, "under-a-file"), nil); err == nil {
		t.Error("Replace under a regular file succeeded")
	}
}
