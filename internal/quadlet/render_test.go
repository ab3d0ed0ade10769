package quadlet

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func baseSpec() Spec {
	d := config.Default()
	return Spec{
		Name:        "demo",
		Owner:       "alice",
		Image:       d.Container.Image,
		CPUs:        d.Container.CPUs,
		Memory:      d.Container.Memory,
		TasksMax:    int(d.Container.TasksMax),
		Created:     time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
		ToolVersion: "0.1.0",
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Spec)
	}{
		{"default", func(*Spec) {}},
		{"small", func(s *Spec) { s.CPUs = 1; s.Memory = 512 << 20 }},
		{"fractional-cpus", func(s *Spec) { s.CPUs = 0.5; s.Memory = 1536 << 20; s.TasksMax = 512 }},
		{"syncthing", func(s *Spec) { s.Syncthing = true }},
		{"tailnet", func(s *Spec) { s.Tailnet = true }},
		{"headscale-notify", func(s *Spec) {
			s.Tailnet, s.Notify, s.LoginServer = true, true, "http://10.99.0.1:8080"
		}},
		{"activity", func(s *Spec) { s.ActivityDir = "/home/alice/.local/state/devbox-quadlet/activity/demo" }},
		{"registry-image-long-name", func(s *Spec) {
			s.Name = "a" + strings.Repeat("b-", 30) + "cd"
			s.Owner = "bob"
			s.Image = config.ImageRef("registry.example.org:5000/team/devbox@sha256:" + strings.Repeat("0f", 32))
			s.Created = time.Date(2027, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.edit(&s)
			files, err := Render(s)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.name, files)

			// Deterministic: a second render is byte-identical.
			again, _ := Render(s)
			for i := range files {
				if !bytes.Equal(files[i].Content, again[i].Content) {
					t.Errorf("%s: second render differs", files[i].Name)
				}
			}
			checkRoundTrip(t, s, files)
		})
	}
}

// checkGolden compares files with testdata/quadlet/NAME.golden, which
// -update rewrites.
func checkGolden(t *testing.T, name string, files []File) {
	t.Helper()
	var got bytes.Buffer
	for _, f := range files {
		got.WriteString("==> " + f.Name + " <==\n")
		got.Write(f.Content)
	}
	golden := filepath.Join("..", "..", "testdata", "quadlet", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/quadlet -update)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("render differs from %s:\n--- got ---\n%s\n--- want ---\n%s", golden, got.Bytes(), want)
	}
}

// checkRoundTrip: each of files, rendered from s, has the header and comes
// back unchanged through go-systemd's deserializer and serializer, and the
// container file parses back into s.
func checkRoundTrip(t *testing.T, s Spec, files []File) {
	t.Helper()
	for _, f := range files {
		if !bytes.HasPrefix(f.Content, []byte(Header)) {
			t.Errorf("%s: missing generated-file header", f.Name)
		}
		opts, err := unit.DeserializeOptions(bytes.NewReader(f.Content))
		if err != nil {
			t.Fatalf("%s: deserialize: %v", f.Name, err)
		}
		reserialized := serialize(opts)
		if !bytes.Equal(reserialized, f.Content) {
			t.Errorf("%s: round trip differs:\n%s", f.Name, reserialized)
		}
	}
	back, err := Parse(files[0].Content)
	if err != nil {
		t.Fatal(err)
	}
	s.Created = s.Created.UTC()
	if back != s {
		t.Errorf("Parse(Render(s)) = %+v, want %+v", back, s)
	}
}

func TestRenderRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Spec)
	}{
		{"bad name", func(s *Spec) { s.Name = "../x" }},
		{"newline in image", func(s *Spec) { s.Image = "localhost/x\nExecStartPre=/bin/evil" }},
		{"newline in owner", func(s *Spec) { s.Owner = "alice\n[Service]" }},
		{"empty version", func(s *Spec) { s.ToolVersion = "" }},
		{"zero cpus", func(s *Spec) { s.CPUs = 0 }},
		{"tiny memory", func(s *Spec) { s.Memory = 1 }},
		{"zero tasks", func(s *Spec) { s.TasksMax = 0 }},
		{"newline in login server", func(s *Spec) { s.Tailnet, s.LoginServer = true, "http://x\nExecStartPre=/bin/evil" }},
		{"login server without tailnet", func(s *Spec) { s.LoginServer = "http://10.99.0.1:8080" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.edit(&s)
			files, err := Render(s)
			if err == nil {
				t.Fatalf("Render accepted %+v:\n%s", s, files[0].Content)
			}
			if !errdefs.Is(err, errdefs.Usage) {
				t.Errorf("error class of %v is not usage", err)
			}
		})
	}
}
