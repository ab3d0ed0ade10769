package journal

import (
	"slices"
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	base := Query{Unit: "devbox-demo.service", Container: "devbox-demo"}
	tests := []struct {
		name string
		edit func(*Query)
		want []string
	}{
		{"plain", func(*Query) {}, []string{"--user", "--unit", "devbox-demo.service", "--no-pager", "CONTAINER_NAME=devbox-demo", "--output", "json", "--output-fields", "MESSAGE,CONTAINER_PARTIAL_MESSAGE"}},
		{"tail", func(q *Query) { q.Tail = 5 }, []string{"--user", "--unit", "devbox-demo.service", "--no-pager", "CONTAINER_NAME=devbox-demo", "--output", "json", "--output-fields", "MESSAGE,CONTAINER_PARTIAL_MESSAGE", "--lines", "5"}},
		{"follow since timestamps", func(q *Query) { q.Follow = true; q.Since = "1 hour ago"; q.Timestamps = true },
			[]string{"--user", "--unit", "devbox-demo.service", "--no-pager", "CONTAINER_NAME=devbox-demo", "--output", "json", "--output-fields", "MESSAGE,CONTAINER_PARTIAL_MESSAGE", "--since", "1 hour ago", "--follow"}},
		{"everything with timestamps", func(q *Query) { q.Everything = true; q.Timestamps = true }, []string{"--user", "--unit", "devbox-demo.service", "--no-pager", "--output", "short-iso"}},
		{"everything", func(q *Query) { q.Everything = true }, []string{"--user", "--unit", "devbox-demo.service", "--no-pager", "--output", "cat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := base
			tt.edit(&q)
			if got := Args(q); !slices.Equal(got, tt.want) {
				t.Errorf("Args = %q\nwant   %q", got, tt.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	in := `{"MESSAGE":"line 1\n","__REALTIME_TIMESTAMP":"1764324000000000"}
{"MESSAGE":"no newline"}
{"MESSAGE":"progress ","CONTAINER_PARTIAL_MESSAGE":"true"}
{"MESSAGE":"done\n"}
{"MESSAGE":[104,105,255,10]}
{"MESSAGE":"\n"}
not json
`
	var out strings.Builder
	if err := Render(strings.NewReader(in), &out, false); err != nil {
		t.Fatal(err)
	}
	if want := "line 1\nno newline\nprogress done\nhi\xff\n\n"; out.String() != want {
		t.Errorf("Render = %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := Render(strings.NewReader(`{"MESSAGE":"x\n","__REALTIME_TIMESTAMP":"1764324000000000"}`+"\n"), &out, true); err != nil {
		t.Fatal(err)
	}
	if want := "2025-11-28T10:00:00Z x\n"; out.String() != want {
		t.Errorf("Render with timestamps = %q, want %q", out.String(), want)
	}
}

// TestTailLinesSkipsPodmanEvents: the payload's last words survive the
// podman events a failing start makes (the e2e suite once lost them).
func TestTailLinesSkipsPodmanEvents(t *testing.T) {
	in := `{"MESSAGE":"failing on purpose: no config\n","SYSLOG_IDENTIFIER":"devbox-exits"}
{"MESSAGE":"2026-11-29 06:50:23 container died e8bc","SYSLOG_IDENTIFIER":"podman"}
{"MESSAGE":"2026-11-29 06:50:24 container remove e8bc","SYSLOG_IDENTIFIER":"podman"}
{"MESSAGE":"devbox-exits.service: Main process exited, code=exited, status=1/FAILURE","SYSLOG_IDENTIFIER":"systemd"}
{"MESSAGE":"devbox-exits.service: Failed with result 'exit-code'.","SYSLOG_IDENTIFIER":"systemd"}
not json
`
	got := TailLines(strings.NewReader(in), 3)
	want := []string{"failing on purpose: no config", "devbox-exits.service: Main process exited, code=exited, status=1/FAILURE", "devbox-exits.service: Failed with result 'exit-code'."}
	if !slices.Equal(got, want) {
		t.Errorf("TailLines = %q, want %q", got, want)
	}
	if got := TailLines(strings.NewReader(in), 1); len(got) != 1 || !strings.HasPrefix(got[0], "devbox-exits.service: Failed") {
		t.Errorf("TailLines(1) = %q", got)
	}
}
