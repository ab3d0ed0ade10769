package devboxinit

import (
	"strings"
	"testing"
	"time"
)

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{
			name: "no variables at all: no tailnet, production paths and defaults",
			env:  map[string]string{},
			check: func(t *testing.T, c Config) {
				if c.Tailnet() || c.ActivityDir != "" || c.NotifySocket != "" {
					t.Errorf("got %+v", c)
				}
				if c.StateDir != DefaultStateDir || c.Socket != DefaultSocket || c.UpTimeout != DefaultUpTimeout ||
					c.ReadyTimeout != DefaultReadyTimeout || c.ActivityInterval != DefaultActivityInterval {
					t.Errorf("defaults: got %+v", c)
				}
			},
		},
		{
			name: "the unit's variables are taken as they are",
			env: map[string]string{
				EnvAuthKeyFile: "/run/secrets/tailscale-authkey", EnvHostname: "demo",
				EnvTags: "tag:devcontainer,tag:alice-container", EnvLoginServer: "https://hs.example.net",
				EnvSyncthing: "1", EnvActivityDir: "/run/devbox/activity", EnvNotifySocket: "@/org/freedesktop/notify",
			},
			check: func(t *testing.T, c Config) {
				if !c.Tailnet() || c.Hostname != "demo" || c.Tags != "tag:devcontainer,tag:alice-container" ||
					c.LoginServer != "https://hs.example.net" || !c.Syncthing || c.ActivityDir != "/run/devbox/activity" ||
					c.NotifySocket != "@/org/freedesktop/notify" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "DEVBOX_SYNCTHING other than 1 is off",
			env:  map[string]string{EnvSyncthing: "yes"},
			check: func(t *testing.T, c Config) {
				if c.Syncthing {
					t.Error("Syncthing on")
				}
			},
		},
		{
			name: "durations as Go durations or whole seconds",
			env:  map[string]string{EnvUpTimeout: "90", EnvReadyTimeout: "2m", EnvActivityInterval: "500ms"},
			check: func(t *testing.T, c Config) {
				if c.UpTimeout != 90*time.Second || c.ReadyTimeout != 2*time.Minute || c.ActivityInterval != 500*time.Millisecond {
					t.Errorf("got %v %v %v", c.UpTimeout, c.ReadyTimeout, c.ActivityInterval)
				}
			},
		},
		{name: "a zero timeout is refused", env: map[string]string{EnvUpTimeout: "0"}, wantErr: "DEVBOX_INIT_UP_TIMEOUT"},
		{name: "a malformed interval is refused", env: map[string]string{EnvActivityInterval: "soon"}, wantErr: "DEVBOX_ACTIVITY_INTERVAL"},
		{name: "a key without a hostname is refused", env: map[string]string{EnvAuthKeyFile: "/k"}, wantErr: EnvHostname},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
