package policy

import (
	"strings"
	"testing"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name  string
		input string
		ok    bool
	}{
		{"simple", "demo", true},
		{"digits and dashes", "a1-b2-c3", true},
		{"shortest", "abc", true},
		{"longest", "a" + strings.Repeat("b", 62), true},
		{"double dash", "a--b", true},
		{"too short", "a", false},
		{"two chars", "ab", false},
		{"empty", "", false},
		{"too long", "a" + strings.Repeat("b", 63), false},
		{"path traversal", "../x", false},
		{"slash", "a/b/c", false},
		{"dot dot", "a..b", false},
		{"newline", "a\nb", false},
		{"trailing newline", "demo\n", false},
		{"nul", "de\x00mo", false},
		{"upper case", "UPPER", false},
		{"mixed case", "Demo", false},
		{"leading dash", "-lead", false},
		{"trailing dash", "trail-", false},
		{"leading digit", "1abc", false},
		{"unit special at", "foo@bar", false},
		{"unit special backslash", `foo\x2dbar`, false},
		{"dot", "foo.service", false},
		{"space", "foo bar", false},
		{"underscore", "foo_bar", false},
		{"unicode", "dém", false},
		{"volume unit of another container", "foo-home-volume", false},
		{"home volume suffix alone", "x-home-volume", false},
		{"home but not volume", "foo-home", true},
		{"volume but not home", "foo-volume", true},
		{"reaper unit", "quadlet-reap", false},
		{"reserved prefix", "quadlet-x", false},
		{"quadlet inside", "myquadlet-x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.input)
			if tt.ok && err != nil {
				t.Fatalf("ValidateName(%q) = %v, want ok", tt.input, err)
			}
			if !tt.ok {
				if err == nil {
					t.Fatalf("ValidateName(%q) = nil, want error", tt.input)
				}
				if !errdefs.Is(err, errdefs.Usage) {
					t.Errorf("error class = %v, want usage", err)
				}
				if !strings.Contains(err.Error(), NameRule) {
					t.Errorf("error %q does not state the rule", err)
				}
				if strings.ContainsAny(err.Error(), "\n\x00") {
					t.Errorf("error %q carries a raw control character", err)
				}
			}
		})
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"demo", "../x", "a\nb", "UPPER", "-lead", "trail-", "a", strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateName(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\x00") {
				t.Fatalf("error for %q carries a raw control character: %q", s, err)
			}
			return
		}
		// Anything accepted must be safe as a file-name component, a unit-name
		// component and a DNS label.
		if len(s) < MinNameLen || len(s) > MaxNameLen {
			t.Fatalf("accepted %q of length %d", s, len(s))
		}
		if strings.ContainsAny(s, "/.\\@ \n\x00") || strings.ToLower(s) != s {
			t.Fatalf("accepted unsafe name %q", s)
		}
		if s[0] < 'a' || s[0] > 'z' || strings.HasSuffix(s, "-") {
			t.Fatalf("accepted %q that breaks the start/end rule", s)
		}
	})
}
