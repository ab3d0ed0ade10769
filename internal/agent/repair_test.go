package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
)

func observedJSON(t *testing.T, cs ...agentproto.ObservedContainer) string {
	t.Helper()
	data, err := json.Marshal(agentproto.Observed{Schema: 1, Containers: cs})
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func report(t *testing.T, r peerReply) agentproto.RepairReport {
	t.Helper()
	if r.Err != "" {
		t.Fatalf("Repair: %s: %s", r.Err, r.Msg)
	}
	var rep agentproto.RepairReport
	if err := json.Unmarshal([]byte(r.Out), &rep); err != nil {
		t.Fatalf("report %q: %v", r.Out, err)
	}
	return rep
}

func changes(cs []agentproto.RepairChange) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name+" ("+c.User+")")
	}
	return strings.Join(out, ", ")
}

// TestRepair: an admin's Repair drops the entries whose container no
// longer exists (not found, not running, not being created) and adds the
// containers the ledger lacks, after a dry run that changes nothing;
// anyone else is refused.
func TestRepair(t *testing.T) {
	bus := startBus(t, "")
	s, clock := testServer(t)
	s.Config.Users = map[string]config.User{"daemon": {Admin: true}}
	now := clock.Now()
	l := policy.NewLedger()
	for _, e := range []policy.Entry{
		{Name: "orphan", UID: attackerUID, User: "nobody", CPUs: 1, Memory: 1 << 30, Created: now.Add(-time.Hour), Confirmed: now.Add(-time.Hour)},
		{Name: "has-file", UID: attackerUID, User: "nobody", CPUs: 1, Memory: 1 << 30, Created: now.Add(-time.Hour), SeenRunning: true},
		{Name: "runs", UID: attackerUID, User: "nobody", CPUs: 1, Memory: 1 << 30, Created: now.Add(-time.Hour), SeenRunning: true},
		{Name: "creating", UID: attackerUID, User: "nobody", CPUs: 1, Memory: 1 << 30, Created: now, Reserved: now},
	} {
		l.Entries[e.Name] = e
	}
	if err := s.Store.Save(l); err != nil {
		t.Fatal(err)
	}
	running(t, s.CgroupRoot, attackerUID, "runs", true)
	bus.serve(t, s)
	attacker, admin := bus.startPeer(t, attackerUID), bus.startPeer(t, victimUID)
	obs := observedJSON(t,
		agentproto.ObservedContainer{Name: "has-file", UID: attackerUID, User: "nobody", CPUs: 1, Memory: 1 << 30},
		agentproto.ObservedContainer{Name: "lost", UID: victimUID, User: "daemon", CPUs: 2, Memory: 4 << 30, Created: now.Add(-24 * time.Hour)},
		agentproto.ObservedContainer{Name: "creating", UID: victimUID, User: "daemon", CPUs: 2, Memory: 4 << 30},
	)
	if r := attacker.call("Repair", sArg(obs), bArg(false)); r.Err != agentproto.ErrorDenied {
		t.Errorf("a non-admin's Repair: %s %s, want access denied", r.Err, r.Msg)
	}
	before, _ := os.ReadFile(s.Store.Path)
	dry := report(t, admin.call("Repair", sArg(obs), bArg(true)))
	if after, _ := os.ReadFile(s.Store.Path); string(after) != string(before) {
		t.Errorf("the dry run changed the ledger")
	}
	for _, rep := range []agentproto.RepairReport{dry, report(t, admin.call("Repair", sArg(obs), bArg(false)))} {
		if got := changes(rep.Removed); got != "orphan (nobody)" {
			t.Errorf("dry run %v: removed %s, want orphan (nobody)", rep.DryRun, got)
		}
		if got := changes(rep.Added); got != "lost (daemon)" {
			t.Errorf("dry run %v: added %s, want lost (daemon)", rep.DryRun, got)
		}
		if got := changes(rep.Skipped); got != "creating (daemon)" {
			t.Errorf("dry run %v: skipped %s, want creating (daemon)", rep.DryRun, got)
		}
		if rep.Kept != 3 || rep.Rebuilt {
			t.Errorf("dry run %v: %+v", rep.DryRun, rep)
		}
	}
	after, err := s.Store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := after.Entries["orphan"]; ok {
		t.Error("orphan is still in the ledger")
	}
	if e := after.Entries["lost"]; e.UID != victimUID || e.Memory != 4<<30 || e.Confirmed.IsZero() {
		t.Errorf("lost: %+v", e)
	}
	// The freed name and slot are usable again.
	wantOK(t, "the orphan's name, taken by another user after the repair", admin.reserve("orphan", true, 1, 1<<30))
}

// TestRepairRebuildsACorruptLedger: a ledger file that does not parse
// keeps every call failing closed until an admin repairs it; the repair
// moves it aside and rebuilds the ledger from what is observed.
func TestRepairRebuildsACorruptLedger(t *testing.T) {
	bus := startBus(t, "")
	s, clock := testServer(t)
	if err := os.MkdirAll(filepath.Dir(s.Store.Path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Store.Path, []byte(`{"schema":1,"entries":{`), 0o600); err != nil {
		t.Fatal(err)
	}
	bus.serve(t, s)
	user := bus.startPeer(t, attackerUID)
	wantClass(t, "Reserve on a corrupt ledger", user.reserve("mine", true, 1, 1<<30), errdefs.System)
	obs := observedJSON(t, agentproto.ObservedContainer{Name: "mine", UID: attackerUID, User: "nobody", CPUs: 1, Memory: 1 << 30})
	root := bus.rootConn(t).Object(agentproto.BusName, objectPath)
	var out string
	if err := root.Call(agentproto.Interface+".Repair", 0, obs, true).Store(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"rebuilt":true`) || !strings.Contains(out, `"dry_run":true`) {
		t.Errorf("dry run on a corrupt ledger: %s", out)
	}
	wantClass(t, "Reserve after the dry run", user.reserve("other", true, 1, 1<<30), errdefs.System)
	if err := root.Call(agentproto.Interface+".Repair", 0, obs, false).Store(&out); err != nil {
		t.Fatal(err)
	}
	var rep agentproto.RepairReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Rebuilt || changes(rep.Added) != "mine (nobody)" || rep.MovedTo != s.Store.Path+".corrupt-"+strconv.FormatInt(clock.Now().Unix(), 10) {
		t.Errorf("repair of a corrupt ledger: %+v", rep)
	}
	if data, err := os.ReadFile(rep.MovedTo); err != nil || string(data) != `{"schema":1,"entries":{` {
		t.Errorf("the corrupt ledger was not kept aside: %q %v", data, err)
	}
	wantOK(t, "Reserve after the repair", user.call("Confirm", sArg("mine")))
	r := user.reserve("other", true, 1, 1<<30)
	wantOK(t, "a create after the repair", r)
}
