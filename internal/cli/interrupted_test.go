package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
)

// removedAnything lists the removals the fake podman saw (podman rm of
// anything).
func removedAnything(h *harness) []string {
	var out []string
	for _, c := range h.pod.calls {
		if strings.HasPrefix(c, "rm ") {
			out = append(out, c)
		}
	}
	return out
}

// TestInterruptedCreateNeverTouchesWhatRuns: a create killed (SIGHUP, SIGKILL)
// after its start job was queued leaves its intent record while the
// container comes up and is used. The next `create NAME` must say it exists
// (exit 4) and remove nothing; the old code tore it all down, home included.
func TestInterruptedCreateNeverTouchesWhatRuns(t *testing.T) {
	for _, tc := range []struct {
		name   string
		state  string // the unit's ActiveState after the interrupted create
		volume bool   // the home volume exists
	}{
		{"a running container", "active", true},
		{"a container still starting", "activating", true},
		{"a stopped container whose home exists", "inactive", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if code := h.run("create", "demo"); code != 0 {
				t.Fatalf("create: %d %s", code, h.errOut)
			}
			// What the killed create left: its record, with a home volume it made.
			if err := h.env.writeIntent(intent{Name: "demo", Started: h.env.Now()}); err != nil {
				t.Fatal(err)
			}
			if tc.volume {
				h.pod.volumes = append(h.pod.volumes, "devbox-demo-home")
			}
			u := "devbox-demo.service"
			h.sys.states[u] = sd.UnitState{Name: u, LoadState: "loaded", ActiveState: tc.state}
			h.pod.calls, h.sys.calls = nil, nil
			if code := h.run("create", "demo"); code != 4 {
				t.Fatalf("create over %s: exit %d, want 4: %s", tc.name, code, h.errOut)
			}
			if rm := removedAnything(h); len(rm) != 0 {
				t.Errorf("create over %s removed %v", tc.name, rm)
			}
			for _, c := range h.sys.calls {
				if strings.HasPrefix(c, "stop ") {
					t.Errorf("create over %s stopped a unit: %v", tc.name, h.sys.calls)
				}
			}
			if got := h.quadletFiles(); len(got) != 2 {
				t.Errorf("files after: %v", got)
			}
			if !strings.Contains(h.errOut.String(), "interrupted create") || !strings.Contains(h.errOut.String(), "nothing was removed") {
				t.Errorf("the refusal does not explain itself:\n%s", h.errOut)
			}
			if _, ok := h.env.readIntent("demo"); ok {
				t.Error("the intent record stays, so the next destroy would treat the container as leftovers")
			}
		})
	}
}

// TestInterruptedCreateBeforeStartIsCleanedUp: leftovers that never started
// (no volume, not running) are cleaned up and the create goes on; a home
// volume is never removed by that cleanup.
func TestInterruptedCreateBeforeStartIsCleanedUp(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "--no-start", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	if err := h.env.writeIntent(intent{Name: "demo", Started: h.env.Now()}); err != nil {
		t.Fatal(err)
	}
	h.pod.calls = nil
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create after leftovers: %d %s", code, h.errOut)
	}
	if !strings.Contains(h.errOut.String(), "interrupted create") {
		t.Errorf("no word about the leftovers:\n%s", h.errOut)
	}
	if slices.Contains(h.pod.calls, "rm volume devbox-demo-home") {
		t.Errorf("the cleanup removed the home volume: %v", h.pod.calls)
	}
}

// ledgerAgent is a fakeAgent whose List shows entries.
type ledgerAgent struct {
	*fakeAgent
	entries []agentproto.ListingEntry
}

func (a *ledgerAgent) List(context.Context, bool) (agentproto.Listing, error) {
	return agentproto.Listing{Schema: 1, Entries: a.entries}, nil
}

// TestIntentBeforeReservation: the intent record is written before the
// agent is asked, so a create killed during the auth-key lookup leaves a
// record; and a create that cannot write its record never reserves. The
// old code reserved first and kept the name when the record failed.
func TestIntentBeforeReservation(t *testing.T) {
	h := newHarness(t)
	a := &fakeAgent{available: true}
	withAgent(h, a, "auto")
	// A file where the record's directory should be: writeIntent fails.
	if err := os.MkdirAll(h.env.StateDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.env.StateDir(), "creating"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code := h.run("create", "demo"); code != 8 {
		t.Fatalf("create with an unwritable intent record: exit %d, want 8: %s", code, h.errOut)
	}
	reserved, released := 0, 0
	for _, c := range a.calls {
		if strings.HasPrefix(c, "reserve-") {
			reserved++
		}
		if strings.HasPrefix(c, "release ") {
			released++
		}
	}
	if reserved != released {
		t.Errorf("the agent holds the name after a failed record: calls %v", a.calls)
	}
}

// TestDestroyReleasesAnOrphanedName: the agent holds a name for this user,
// and no file of it is left. destroy releases it (exit 0) instead of exit 3
// with the name and the cap slot taken forever.
func TestDestroyReleasesAnOrphanedName(t *testing.T) {
	h := newHarness(t)
	a := &ledgerAgent{fakeAgent: &fakeAgent{available: true}, entries: []agentproto.ListingEntry{
		{Name: "ghost", UID: 1000, User: "alice", Created: time.Now()},
		{Name: "other", UID: 1001, User: "bob", Created: time.Now()},
	}}
	h.env.DialAgent = func(context.Context) (Agent, error) { return a, nil }
	withAgentConfig(h, "auto")
	if code := h.run("destroy", "ghost"); code != 0 {
		t.Fatalf("destroy of an orphaned name: exit %d: %s", code, h.errOut)
	}
	if !slices.Contains(a.calls, "release ghost") || !strings.Contains(h.out.String(), "released") {
		t.Errorf("not released: calls %v, out %q", a.calls, h.out)
	}
	// Another user's name, and a name nobody holds, stay exit 3.
	for _, n := range []string{"other", "nobody"} {
		a.calls = nil
		if code := h.run("destroy", n); code != 3 {
			t.Errorf("destroy %s: exit %d, want 3: %s", n, code, h.errOut)
		}
		if len(a.calls) != 0 {
			t.Errorf("destroy %s called the agent: %v", n, a.calls)
		}
	}
}

func withAgentConfig(h *harness, mode string) {
	cfg := filepath.Join(h.env.Home, "config.toml")
	_ = os.WriteFile(cfg, []byte("[agent]\nmode = \""+mode+"\"\n[secrets]\nbackend = \"env\"\n"), 0o644)
	h.env.DefaultConfig = cfg
}

// closingSystemd is a fakeSystemd whose connection dies with the context
// it was dialled with, as godbus's does.
type closingSystemd struct {
	*fakeSystemd
	dialCtx context.Context
	onStart func()
}

func (c *closingSystemd) Start(ctx context.Context, u string) error {
	c.onStart()
	if err := c.dialCtx.Err(); err != nil {
		return err
	}
	return ctx.Err()
}
func (c *closingSystemd) Stop(ctx context.Context, u string) error {
	if err := c.dialCtx.Err(); err != nil {
		return err
	}
	return c.fakeSystemd.Stop(ctx, u)
}
func (c *closingSystemd) Reload(ctx context.Context) error {
	if err := c.dialCtx.Err(); err != nil {
		return err
	}
	return c.fakeSystemd.Reload(ctx)
}

// TestInterruptedCreateStillRollsBack: Ctrl-C, SIGTERM or SIGHUP during the
// start cancels the command's context; the rollback must still reach
// systemd. The old CLI dialled the bus with that context, so godbus closed
// the connection and the rollback failed with "connection closed by user",
// leaving the generated units loaded.
func TestInterruptedCreateStillRollsBack(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := &closingSystemd{fakeSystemd: h.sys, onStart: cancel}
	h.env.DialSystemd = func(dctx context.Context, _ *Env) (Systemd, error) { cs.dialCtx = dctx; return cs, nil }
	code := Run(ctx, []string{"devbox-quadlet", "create", "demo"}, h.env)
	if code == 0 {
		t.Fatal("an interrupted create succeeded")
	}
	if strings.Contains(h.errOut.String(), "rollback") && strings.Contains(h.errOut.String(), "incomplete") {
		t.Errorf("the rollback could not reach systemd:\n%s", h.errOut)
	}
	if files := h.quadletFiles(); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
	if last := h.sys.reloadSaw[len(h.sys.reloadSaw)-1]; len(last) != 0 {
		t.Errorf("the last reload saw %v; the units stay loaded", last)
	}
}

// TestReleaseWhenTheAgentIsBack: a destroy while the agent (mode auto) is
// down cannot release the name; the next locked command that reaches the
// agent does, and a name made again meanwhile is left to its new owner.
func TestReleaseWhenTheAgentIsBack(t *testing.T) {
	h := newHarness(t)
	a := &fakeAgent{available: true}
	withAgent(h, a, "auto")
	for _, n := range []string{"gone", "again"} {
		if code := h.run("create", n); code != 0 {
			t.Fatalf("create %s: %d %s", n, code, h.errOut)
		}
	}
	a.available = false // the agent is down
	for _, n := range []string{"gone", "again"} {
		if code := h.run("destroy", "--yes", n); code != 0 {
			t.Fatalf("destroy %s without the agent: %d %s", n, code, h.errOut)
		}
	}
	if code := h.run("create", "again"); code != 0 { // standalone: no reservation
		t.Fatalf("create again: %d %s", code, h.errOut)
	}
	a.available, a.calls = true, nil
	if code := h.run("start", "again"); code != 0 {
		t.Fatalf("start: %d %s", code, h.errOut)
	}
	if !slices.Contains(a.calls, "release gone") {
		t.Errorf("the name destroyed while the agent was down was not released: %v", a.calls)
	}
	if slices.Contains(a.calls, "release again") {
		t.Errorf("the name of a container made again was released: %v", a.calls)
	}
	if entries, _ := os.ReadDir(h.env.pendingReleaseDir()); len(entries) != 0 {
		t.Errorf("markers left: %v", entries)
	}
}

// unknownToLedger is a fakeAgent whose ledger lost the container: a start's
// Reserve answers not found.
type unknownToLedger struct{ *fakeAgent }

func (a unknownToLedger) Reserve(ctx context.Context, name string, create bool, cpus float64, mem int64) error {
	_ = a.fakeAgent.Reserve(ctx, name, create, cpus, mem)
	if !create {
		return errdefs.Errorf(errdefs.NotFound, "no container %q of yours in the host ledger", name)
	}
	return nil
}

// TestStartAdoptsAndConfirms: a container the ledger does not know is
// adopted at start (admitted as a create) and confirmed, so its new entry
// is not dropped as an unconfirmed reservation.
func TestStartAdoptsAndConfirms(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "--no-start", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	a := unknownToLedger{&fakeAgent{available: true}}
	h.env.DialAgent = func(context.Context) (Agent, error) { return a, nil }
	withAgentConfig(h, "auto")
	if code := h.run("start", "demo"); code != 0 {
		t.Fatalf("start: %d %s", code, h.errOut)
	}
	// The last confirm is the look after the start settled (showRunning).
	if want := []string{"reserve-start demo", "reserve-create demo", "confirm demo", "confirm demo"}; !slices.Equal(a.calls, want) {
		t.Errorf("agent calls = %v, want %v", a.calls, want)
	}
}
