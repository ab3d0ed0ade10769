package agent

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
)

// nobodysGroup is the name of the primary group of uid 65534 (the
// attacker peer), which uid 1 (the victim peer) is not in.
func nobodysGroup(t *testing.T) string {
	t.Helper()
	u, err := user.LookupId("65534")
	if err != nil {
		t.Skipf("no uid 65534 on this host: %v", err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Skipf("no group %s on this host: %v", u.Gid, err)
	}
	return g.Name
}

// TestAllowedGroup: with [agent] allowed_group set, the agent refuses every
// method to a caller outside the group, naming the group, and serves its
// members and root.
func TestAllowedGroup(t *testing.T) {
	group := nobodysGroup(t)
	bus := startBus(t, "")
	s, _ := testServer(t)
	s.Config.Agent.AllowedGroup = config.GroupName(group)
	s.Tailnet = &countingForgetter{}
	bus.serve(t, s)
	member, outsider := bus.startPeer(t, attackerUID), bus.startPeer(t, victimUID)
	wantOK(t, "a member's Reserve", member.reserve("member", true, 1, 1<<30))
	wantOK(t, "a member's List", member.call("List", bArg(false)))
	for _, tc := range []struct {
		method string
		args   []arg
	}{
		{"Reserve", reserveArgs("outsider", true, 1000, 1<<30)},
		{"Stop", []arg{sArg("member")}},
		{"Release", []arg{sArg("member")}},
		{"Confirm", []arg{sArg("member")}},
		{"List", []arg{bArg(false)}},
		{"ForgetDevice", []arg{sArg("member")}},
		{"AuthKey", []arg{sArg("member"), hArg()}},
	} {
		r := outsider.call(tc.method, tc.args...)
		if r.Err != agentproto.ErrorDenied || !strings.Contains(r.Msg, `group "`+group+`"`) {
			t.Errorf("an outsider's %s: %s %s, want access denied naming the group", tc.method, r.Err, r.Msg)
		}
	}
	var out string
	if err := bus.rootConn(t).Object(agentproto.BusName, objectPath).Call(agentproto.Interface+".List", 0, true).Store(&out); err != nil {
		t.Errorf("root's List: %v", err)
	}
	if !strings.Contains(out, `"member"`) {
		t.Errorf("the outsider's calls changed the member's entry: %s", out)
	}
}

// TestGroupBusPolicyExample: the shipped example policy, with the group
// set to one the host has, lets the bus itself refuse outsiders.
func TestGroupBusPolicyExample(t *testing.T) {
	group := nobodysGroup(t)
	example, err := os.ReadFile(projectFile(t, "contrib/dbus/"+agentproto.BusName+".group.conf.example"))
	if err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(t.TempDir(), "group.conf")
	if err := os.WriteFile(policy, []byte(strings.ReplaceAll(string(example), `group="devbox"`, `group="`+group+`"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	bus := startBus(t, policy)
	s, _ := testServer(t)
	bus.serve(t, s)
	member, outsider := bus.startPeer(t, attackerUID), bus.startPeer(t, victimUID)
	wantOK(t, "a member's Reserve", member.reserve("member", true, 1, 1<<30))
	if r := outsider.call("List", bArg(false)); r.Err != "org.freedesktop.DBus.Error.AccessDenied" {
		t.Errorf("an outsider's List: %s %s, want the bus's access denied", r.Err, r.Msg)
	}
	var out string
	if err := bus.rootConn(t).Object(agentproto.BusName, objectPath).Call(agentproto.Interface+".List", 0, true).Store(&out); err != nil {
		t.Errorf("root's List: %v", err)
	}
}
