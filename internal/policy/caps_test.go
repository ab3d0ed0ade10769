package policy

import (
	"strings"
	"testing"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

func TestCheckUserCap(t *testing.T) {
	tests := []struct {
		name     string
		existing []string
		max      int
		ok       bool
	}{
		{"none", nil, 5, true},
		{"below", []string{"a1", "a2", "a3", "a4"}, 5, true},
		{"at cap", []string{"a1", "a2", "a3", "a4", "a5"}, 5, false},
		{"over cap after lowering it", []string{"a1", "a2", "a3"}, 2, false},
		{"cap of one", []string{"only"}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckUserCap("alice", tt.existing, tt.max)
			if tt.ok != (err == nil) {
				t.Fatalf("CheckUserCap = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errdefs.Is(err, errdefs.UserCap) {
					t.Errorf("class of %v is not user cap", err)
				}
				for _, n := range tt.existing {
					if !strings.Contains(err.Error(), n) {
						t.Errorf("%q does not list %s", err, n)
					}
				}
			}
		})
	}
}
