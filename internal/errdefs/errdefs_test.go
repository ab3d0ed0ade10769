package errdefs

import (
	"errors"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain", errors.New("boom"), 1},
		{"usage", fmt.Errorf("bad name: %w", Usage), 2},
		{"not found wrapped twice", fmt.Errorf("destroy: %w", fmt.Errorf("x: %w", NotFound)), 3},
		{"exists", Exists, 4},
		{"user cap", UserCap, 5},
		{"host cap", HostCap, 6},
		{"secret", Secret, 7},
		{"system", System, 8},
		{"agent", AgentMissing, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
