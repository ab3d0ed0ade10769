package agent

// Each method's success and refusal paths on the bus, called by peers of
// other uids (an owner and someone else) and by root through the CLI's own
// client (internal/agentclient), whose typed errors are checked here too.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentclient"
	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// client is the CLI's client connected to b as the test process (root).
func (b *testBus) client(t *testing.T) *agentclient.Client {
	t.Helper()
	c, err := agentclient.DialAddress(t.Context(), b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// listing decodes a peer's List reply.
func listing(t *testing.T, r peerReply) agentproto.Listing {
	t.Helper()
	wantOK(t, "list", r)
	var l agentproto.Listing
	if err := json.Unmarshal([]byte(r.Out), &l); err != nil {
		t.Fatalf("list reply %q: %v", r.Out, err)
	}
	return l
}

func names(l agentproto.Listing) string {
	var out []string
	for _, e := range l.Entries {
		out = append(out, e.Name)
	}
	return strings.Join(out, ",")
}

// TestOwnerLifecycle: reserve, confirm, stop, start again and release, as
// create --no-start, start and destroy do, each changing the ledger as
// docs/agent.md says.
func TestOwnerLifecycle(t *testing.T) {
	bus := startBus(t, "")
	s, clock := testServer(t)
	bus.serve(t, s)
	owner := bus.startPeer(t, victimUID)

	wantOK(t, "reserve", owner.reserve("web", true, 1.5, 2<<30))
	l := listing(t, owner.call("List", bArg(false)))
	if len(l.Entries) != 1 || l.Schema != 1 || l.All {
		t.Fatalf("after reserve: %+v", l)
	}
	e := l.Entries[0]
	if e.Name != "web" || e.UID != victimUID || e.User != "daemon" || e.CPUs != 1.5 || e.Memory != 2<<30 ||
		!e.Reserved.Equal(clock.Now()) || !e.Confirmed.IsZero() || e.Running {
		t.Errorf("entry after reserve: %+v", e)
	}
	wantOK(t, "confirm", owner.call("Confirm", sArg("web")))
	wantOK(t, "stop", owner.call("Stop", sArg("web")))
	l = listing(t, owner.call("List", bArg(false)))
	if len(l.Entries) != 1 || l.Entries[0].Confirmed.IsZero() || !l.Entries[0].Reserved.IsZero() {
		t.Errorf("a confirmed entry after stop: %+v, want it kept, confirmed, with no reservation", l.Entries)
	}
	// A start of the stopped container, once the duty cycle of the first
	// reservation (held for no time at all) is over.
	wantOK(t, "start", owner.reserve("web", false, 1.5, 2<<30))
	running(t, s.CgroupRoot, victimUID, "web", true)
	if l := listing(t, owner.call("List", bArg(false))); len(l.Entries) != 1 || !l.Entries[0].Running || !l.Entries[0].SeenRunning {
		t.Errorf("a running container: %+v", l.Entries)
	}
	wantOK(t, "release", owner.call("Release", sArg("web")))
	wantOK(t, "release twice", owner.call("Release", sArg("web")))
	wantOK(t, "stop of a released name", owner.call("Stop", sArg("web")))
	if l := listing(t, owner.call("List", bArg(false))); len(l.Entries) != 0 {
		t.Errorf("after release: %+v", l.Entries)
	}
	r := owner.call("Confirm", sArg("web"))
	wantClass(t, "confirm of a released name", r, errdefs.NotFound)
	if !strings.Contains(r.Msg, `"web"`) {
		t.Errorf("the refusal does not name the container: %s", r.Msg)
	}
	wantClass(t, "start of a name nobody holds", owner.reserve("nobody", false, 1, 1<<30), errdefs.NotFound)
	log := s.Log.(*testLog).String()
	for _, want := range []string{`admitted create of "web" for daemon`, `confirm of "web"`, `release of "web"`} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}

// TestStopDropsAnUnconfirmedEntry: a reservation stopped before its files
// were confirmed takes its entry with it, and says so in the log.
func TestStopDropsAnUnconfirmedEntry(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	bus.serve(t, s)
	owner := bus.startPeer(t, victimUID)
	wantOK(t, "reserve", owner.reserve("brief", true, 1, 1<<30))
	wantOK(t, "stop", owner.call("Stop", sArg("brief")))
	if l := listing(t, owner.call("List", bArg(false))); len(l.Entries) != 0 {
		t.Errorf("an unconfirmed entry outlived its stop: %+v", l.Entries)
	}
	if !strings.Contains(s.Log.(*testLog).String(), "dropped: never confirmed") {
		t.Errorf("the drop is not logged:\n%s", s.Log.(*testLog))
	}
}

// TestOthersCannotTouchAnEntry: another user can neither stop, release,
// confirm nor take a name someone holds, nor see it, nor list everything;
// and the owner's entry is as it was.
func TestOthersCannotTouchAnEntry(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	bus.serve(t, s)
	owner, other := bus.startPeer(t, victimUID), bus.startPeer(t, attackerUID)
	wantOK(t, "owner's reserve", owner.reserve("mine", true, 1, 1<<30))
	wantOK(t, "owner's confirm", owner.call("Confirm", sArg("mine")))
	for _, m := range []string{"Stop", "Release", "Confirm"} {
		r := other.call(m, sArg("mine"))
		if r.Err != agentproto.ErrorDenied || !strings.Contains(r.Msg, `"mine" is not yours`) {
			t.Errorf("%s by another user: %s %q, want access denied", m, r.Err, r.Msg)
		}
	}
	wantClass(t, "another user's create of the name", other.reserve("mine", true, 1, 1<<30), errdefs.Exists)
	if l := listing(t, other.call("List", bArg(false))); len(l.Entries) != 0 {
		t.Errorf("another user sees %s", names(l))
	}
	if r := other.call("List", bArg(true)); r.Err != agentproto.ErrorDenied || !strings.Contains(r.Msg, "not an admin") {
		t.Errorf("List(all) by a non-admin: %s %q", r.Err, r.Msg)
	}
	if l := listing(t, owner.call("List", bArg(false))); names(l) != "mine" || l.Entries[0].Confirmed.IsZero() {
		t.Errorf("the owner's entry changed: %+v", l.Entries)
	}
	for _, m := range []string{"Stop", "Release", "Confirm", "ForgetDevice"} {
		wantClass(t, m+" of a bad name", other.call(m, sArg("Bad/Name")), errdefs.Usage)
	}
	wantClass(t, "reserve of a bad name", other.reserve("-x", true, 1, 1<<30), errdefs.Usage)
}

// TestAdminLists: an admin (root, or a user marked admin) lists every
// entry, sorted by name.
func TestAdminLists(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	s.Config.Users = map[string]config.User{"nobody": {Admin: true}}
	bus.serve(t, s)
	a, b := bus.startPeer(t, victimUID), bus.startPeer(t, attackerUID)
	wantOK(t, "b's reserve", b.reserve("zeta", true, 1, 1<<30))
	wantOK(t, "a's reserve", a.reserve("alpha", true, 1, 1<<30))
	if l := listing(t, b.call("List", bArg(true))); names(l) != "alpha,zeta" || !l.All {
		t.Errorf("an admin's List(all): %+v", l)
	}
	l, err := bus.client(t).List(t.Context(), true)
	if err != nil || names(l) != "alpha,zeta" {
		t.Errorf("root's List(all) through the client: %+v %v", l, err)
	}
	if l, err := bus.client(t).List(t.Context(), false); err != nil || len(l.Entries) != 0 {
		t.Errorf("root's own List: %+v %v", l, err)
	}
}

// forgetter is a fake Tailscale API: how many devices each name has.
type forgetter struct {
	mu      sync.Mutex
	devices map[string]int
	owners  []string
}

func (f *forgetter) Forget(_ context.Context, name, owner string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.owners = append(f.owners, owner)
	if name == "broken" {
		return 0, errdefs.Errorf(errdefs.System, "tailscale API: list devices: 503")
	}
	n := f.devices[name]
	delete(f.devices, name)
	return n, nil
}

// TestForgetDevice: the outcome's wire form for each result (what older
// clients read), the client's typed outcome, the caller's own login as
// the owner whose tagged devices go, and the refusals.
func TestForgetDevice(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	s.ForgetLimit = NewLimiter(4, time.Minute)
	f := &forgetter{devices: map[string]int{"two": 2, "one": 1}}
	s.Tailnet = f
	bus.serve(t, s)
	p := bus.startPeer(t, attackerUID)
	for name, want := range map[string]string{"two": "deleted 2 device(s)", "none": "not found"} {
		if r := p.call("ForgetDevice", sArg(name)); r.Err != "" || r.Out != want {
			t.Errorf("ForgetDevice(%s) = %q %s %s, want %q", name, r.Out, r.Err, r.Msg, want)
		}
	}
	c := bus.client(t)
	out, err := c.ForgetDevice(t.Context(), "one")
	if err != nil || out != (agentproto.ForgetOutcome{Result: agentproto.ForgetDeleted, Devices: 1}) || !out.Gone() {
		t.Errorf("client ForgetDevice(one) = %+v %v", out, err)
	}
	_, err = c.ForgetDevice(t.Context(), "broken")
	if errdefs.ExitCode(err) != 8 || !strings.Contains(fmt.Sprint(err), "503") {
		t.Errorf("a failing Tailscale API: %v (exit %d), want exit 8 with its text", err, errdefs.ExitCode(err))
	}
	f.mu.Lock()
	if strings.Join(f.owners, ",") != "nobody,nobody,root,root" {
		t.Errorf("forgot devices of %v, want each caller's own", f.owners)
	}
	f.mu.Unlock()
	// The fifth of root's calls in the minute (the bucket is per uid, and
	// root has made two).
	c.ForgetDevice(t.Context(), "none")
	c.ForgetDevice(t.Context(), "none")
	_, err = c.ForgetDevice(t.Context(), "none")
	if !errors.Is(err, agentproto.ErrRateLimited) || errdefs.ExitCode(err) != 7 || !strings.Contains(fmt.Sprint(err), "too many Tailscale device deletions") {
		t.Errorf("ForgetDevice past the limit: %v (exit %d), want rate limited", err, errdefs.ExitCode(err))
	}

	// No API client: "not configured", which is not the device gone.
	s2, _ := testServer(t)
	bus2 := startBus(t, "")
	bus2.serve(t, s2)
	out, err = bus2.client(t).ForgetDevice(t.Context(), "demo")
	if err != nil || out.Result != agentproto.ForgetNotConfigured || out.Gone() || out.String() != "not configured" {
		t.Errorf("ForgetDevice without an API client = %+v %v", out, err)
	}
}

// failingResolver is a secrets backend that cannot find anyone's key.
type failingResolver struct{}

func (failingResolver) Resolve(context.Context, string) (secrets.Key, error) {
	return nil, errdefs.Errorf(errdefs.Secret, "1Password: item \"tailscale-root\" not found")
}
func (failingResolver) Describe(string) string { return "op://vault/tailscale-root" }

// TestAuthKeyRefusals: the key comes through the client's pipe; a host
// without a backend, a backend that fails, a bad name and a descriptor
// that is no pipe are each refused with their class.
func TestAuthKeyRefusals(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	bus.serve(t, s)
	c := bus.client(t)
	if k, err := c.AuthKey(t.Context(), "demo"); err != nil || string(k) != testKey {
		t.Errorf("AuthKey = %q %v", k, err)
	}
	_, err := c.AuthKey(t.Context(), "Not A Name")
	if errdefs.ExitCode(err) != 2 {
		t.Errorf("AuthKey of a bad name: %v (exit %d), want 2", err, errdefs.ExitCode(err))
	}
	p := bus.startPeer(t, attackerUID)
	if r := p.call("AuthKey", sArg("demo"), hArg()); r.Err != agentproto.ErrorUsage || !strings.Contains(r.Msg, "not a pipe") {
		t.Errorf("AuthKey with /dev/null for the pipe: %s %q, want a usage error", r.Err, r.Msg)
	}

	// A server's fields are set before it serves: one bus each.
	for _, tc := range []struct {
		name     string
		resolver secrets.Resolver
		want     string
	}{
		{"no backend", nil, "hands out no auth keys"},
		{"a failing backend", failingResolver{}, `item "tailscale-root" not found`},
	} {
		bus := startBus(t, "")
		s, _ := testServer(t)
		s.Secrets = tc.resolver
		bus.serve(t, s)
		_, err := bus.client(t).AuthKey(t.Context(), "demo")
		if errdefs.ExitCode(err) != 7 || errors.Is(err, agentproto.ErrRateLimited) || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("AuthKey with %s: %v (exit %d), want exit 7 saying %q", tc.name, err, errdefs.ExitCode(err), tc.want)
		}
	}
}

// TestClientThroughTheServer: the client's calls reach the server with
// their arguments intact (milli-CPUs rounded, memory as bytes), and
// refusals come back as their classes.
func TestClientThroughTheServer(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	s.Limits.MaxGlobal = 1
	bus.serve(t, s)
	c := bus.client(t)
	if !c.Available(t.Context()) {
		t.Fatal("the client does not see the agent")
	}
	if err := c.Reserve(t.Context(), "web", true, 0.3335, 3<<30); err != nil {
		t.Fatal(err)
	}
	ledger, err := s.Store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if e := ledger.Entries["web"]; e.CPUs != 0.334 || e.Memory != 3<<30 || e.UID != 0 || e.User != "root" {
		t.Errorf("entry = %+v", e)
	}
	for what, err := range map[string]error{"confirm": c.Confirm(t.Context(), "web"), "stop": c.Stop(t.Context(), "web")} {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	running(t, s.CgroupRoot, 0, "web", true)
	if err := c.Reserve(t.Context(), "web", false, 1, 1<<30); err != nil {
		t.Errorf("root's start of its running container: %v", err)
	}
	other := bus.startPeer(t, attackerUID)
	wantClass(t, "another user's create on a full host", other.reserve("full", true, 1, 1<<30), errdefs.HostCap)
	err = c.Confirm(t.Context(), "nothing")
	if !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("confirm of a name nobody holds: %v, want not found", err)
	}
	if err := c.Release(t.Context(), "web"); err != nil {
		t.Errorf("release: %v", err)
	}
}

// TestObserveBetweenCalls: the agent looks at the cgroups on its own, so a
// container that runs while nobody calls is marked seen running, and an
// unreadable ledger is logged once, not at every tick.
func TestObserveBetweenCalls(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	s.ObserveEvery = 10 * time.Millisecond
	bus.serve(t, s)
	owner := bus.startPeer(t, victimUID)
	wantOK(t, "reserve", owner.reserve("quiet", true, 1, 1<<30))
	running(t, s.CgroupRoot, victimUID, "quiet", true)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		l, err := s.Store.Load()
		if err != nil {
			t.Fatal(err)
		}
		if l.Entries["quiet"].SeenRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a running container was not seen within 5 s without calls")
		}
	}
	// Damage the ledger in one step, as a rename does: os.WriteFile
	// truncates first, and a tick that reads the empty file in between sees
	// a second, different error (the agent logs each distinct error once).
	damaged := s.Store.Path + ".damaged"
	if err := os.WriteFile(damaged, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(damaged, s.Store.Path); err != nil {
		t.Fatal(err)
	}
	logged := func() int { return strings.Count(s.Log.(*testLog).String(), "observe: ") }
	for deadline := time.Now().Add(5 * time.Second); logged() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("an unreadable ledger was not logged within 5 s")
		}
	}
	time.Sleep(100 * time.Millisecond) // ten more ticks
	if n := logged(); n != 1 {
		t.Errorf("an unreadable ledger was logged %d times, want once", n)
	}
	wantClass(t, "reserve with an unreadable ledger", owner.reserve("other", true, 1, 1<<30), errdefs.System)
}

// TestServeRefusesATakenName: a second agent on the same bus does not
// serve alongside the first.
func TestServeRefusesATakenName(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	bus.serve(t, s)
	second, _ := testServer(t)
	second.BusAddress = bus.addr
	err := second.Serve(t.Context())
	if err == nil || !strings.Contains(err.Error(), "already owned") {
		t.Errorf("a second agent: %v, want the name already owned", err)
	}
}

// TestListingEntryJSON: List's entries are, on the wire, the ledger entry's
// fields with "running" added, exactly as when the reply embedded
// policy.Entry (what `status --all --json` and older clients read).
func TestListingEntryJSON(t *testing.T) {
	at := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	e := policy.Entry{Name: "web", UID: 1000, User: "alice", CPUs: 2, Memory: 4 << 30, Created: at, Reserved: at.Add(time.Minute),
		SeenRunning: true, Confirmed: at.Add(time.Second)}
	old, _ := json.Marshal(struct {
		policy.Entry
		Running bool `json:"running"`
	}{e, true})
	got, _ := json.Marshal(listingEntry(e, true))
	if string(got) != string(old) {
		t.Errorf("got  %s\nwant %s", got, old)
	}
}

// TestConfirmAfterTheStartIsALook: every call reads the cgroup tree, so the
// CLI's Confirm after a start settled marks the container seen running at
// once, not at the next tick; a release after that (a destroy while the
// agent was down, replayed) does not pace its owner as for a reservation
// that was never used.
func TestConfirmAfterTheStartIsALook(t *testing.T) {
	bus := startBus(t, "")
	s, clock := testServer(t)
	s.ObserveEvery = -1 // no ticks: only the calls look
	bus.serve(t, s)
	owner := bus.startPeer(t, victimUID)
	wantOK(t, "reserve", owner.reserve("quick", true, 1, 1<<30))
	wantOK(t, "confirm", owner.call("Confirm", sArg("quick")))
	running(t, s.CgroupRoot, victimUID, "quick", true)
	wantOK(t, "confirm after the start", owner.call("Confirm", sArg("quick")))
	l, err := s.Store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !l.Entries["quick"].SeenRunning {
		t.Fatalf("a confirm while it runs did not mark it seen running: %+v", l.Entries["quick"])
	}
	// Held for a minute: unseen, that would be a minute's wait.
	clock.Advance(time.Minute)
	running(t, s.CgroupRoot, victimUID, "quick", false)
	wantOK(t, "release", owner.call("Release", sArg("quick")))
	wantOK(t, "the next create", owner.reserve("next", true, 1, 1<<30))
}
