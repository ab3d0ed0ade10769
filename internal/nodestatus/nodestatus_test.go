package nodestatus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := Status{State: StateUp, Hostname: "demo", DNSName: "demo.ts.test.", IPs: []string{"100.64.0.1"},
		Services: map[string]int{"code-server": 8080}, Updated: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	if err := Write(dir, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := Read(dir)
	if err != nil || !ok || got.State != want.State || got.DNSName != want.DNSName || got.Services["code-server"] != 8080 || !got.Updated.Equal(want.Updated) {
		t.Fatalf("Read = %+v, %v, %v", got, ok, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("Write left %d files, want only %s", len(entries), FileName)
	}
	info, _ := os.Stat(filepath.Join(dir, FileName))
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", info.Mode().Perm())
	}
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content *string
		ok      bool
		wantErr string
	}{
		{"missing", nil, false, ""},
		{"garbage", ptr("{not json"), false, "status file"},
		{"too big", ptr(`{"state":"up","message":"` + strings.Repeat("x", MaxSize) + `"}`), false, "more than"},
		{"minimal", ptr(`{"state":"off"}`), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != nil {
				if err := os.WriteFile(filepath.Join(dir, FileName), []byte(*tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, ok, err := Read(dir)
			if ok != tc.ok || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Read: ok %v, err %v; want ok %v, error containing %q", ok, err, tc.ok, tc.wantErr)
			}
		})
	}
}

func TestAddress(t *testing.T) {
	for _, tc := range []struct {
		s    Status
		want string
	}{
		{Status{DNSName: "demo.ts.test.", IPs: []string{"100.64.0.1"}}, "demo.ts.test"},
		{Status{IPs: []string{"100.64.0.1"}}, "100.64.0.1"},
		{Status{}, ""},
	} {
		if got := tc.s.Address(); got != tc.want {
			t.Errorf("%+v.Address() = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func ptr(s string) *string { return &s }
