package config

import (
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// TestAgentAndCapsDefaults: the bounds of R-29 are on without a config file.
func TestAgentAndCapsDefaults(t *testing.T) {
	c := Default()
	if c.Caps.MaxCPUsPerContainer != 16 || c.Caps.MaxMemoryPerContainer != 64<<30 || time.Duration(c.Caps.ReservationTimeout) != 5*time.Minute {
		t.Errorf("caps defaults: %+v", c.Caps)
	}
	if c.Agent.AllowedGroup != "" || c.Agent.AuthKeyBurst != 5 || time.Duration(c.Agent.AuthKeyInterval) != 30*time.Second {
		t.Errorf("agent defaults: %+v", c.Agent)
	}
}

func TestAgentAndCapsKeys(t *testing.T) {
	cfg, err := Parse([]byte(`[caps]
max_cpus_per_container = 8
max_memory_per_container = "32G"
reservation_timeout = "2m"

[agent]
allowed_group = "devbox"
auth_key_burst = 3
auth_key_interval = "1m"
`), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Caps.MaxCPUsPerContainer != 8 || cfg.Caps.MaxMemoryPerContainer != 32<<30 || time.Duration(cfg.Caps.ReservationTimeout) != 2*time.Minute {
		t.Errorf("caps: %+v", cfg.Caps)
	}
	if cfg.Agent.AllowedGroup != "devbox" || cfg.Agent.AuthKeyBurst != 3 || time.Duration(cfg.Agent.AuthKeyInterval) != time.Minute {
		t.Errorf("agent: %+v", cfg.Agent)
	}
}

func TestAgentAndCapsInvalid(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"timeout too short", "[caps]\nreservation_timeout = \"5s\"\n", "line 2: caps.reservation_timeout: 5s is out of range: want from 10s to 1h"},
		{"timeout too long", "[caps]\nreservation_timeout = \"2h\"\n", "caps.reservation_timeout: 2h is out of range"},
		{"cpu maximum below the default", "[container]\ncpus = 4\n[caps]\nmax_cpus_per_container = 2\n", "line 4: caps.max_cpus_per_container: 2 is below container.cpus (4)"},
		{"memory maximum below the default", "[caps]\nmax_memory_per_container = \"1G\"\n", "caps.max_memory_per_container: 1GiB is below container.memory (4GiB)"},
		{"no CPUs", "[caps]\nmax_cpus_per_container = 0\n", "out of range"},
		{"bad group", "[agent]\nallowed_group = \"dev box\"\n", "invalid group name"},
		{"no burst", "[agent]\nauth_key_burst = 0\n", "invalid count"},
		{"no interval", "[agent]\nauth_key_interval = \"0s\"\n", "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data), "t.toml")
			if err == nil || !errdefs.Is(err, errdefs.Usage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want a usage error saying %q", err, tt.want)
			}
		})
	}
}
