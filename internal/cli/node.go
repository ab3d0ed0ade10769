package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/nodestatus"
)

// What the container's init reports back through its activity directory
// (internal/nodestatus, docs/image-contract.md): the tailnet address list and
// status show, and why a start failed.

// nodeStatus reads container name's status file; ok is false when the image
// wrote none (or wrote garbage, which is only worth a warning).
func nodeStatus(env *Env, name string) (nodestatus.Status, bool) {
	s, ok, err := nodestatus.Read(env.activityDir(name))
	if err != nil {
		warnf(env, "ignoring %s's status file: %v", name, err)
	}
	return s, ok
}

// clearNodeStatus removes name's last report before a start, so a failure
// is explained by this start's report, never by an old one.
func clearNodeStatus(env *Env, name string) {
	if err := os.Remove(filepath.Join(env.activityDir(name), nodestatus.FileName)); err != nil && !os.IsNotExist(err) {
		warnf(env, "%v", err)
	}
}

// tailnetView is the tailnet part of list --json and status --json.
type tailnetView struct {
	// State is the init's last report: starting, up, failed, stopped or off.
	State   string   `json:"state"`
	Reason  string   `json:"reason,omitempty"`
	Address string   `json:"address,omitempty"`
	DNSName string   `json:"dns_name,omitempty"`
	IPs     []string `json:"ips,omitempty"`
}

// tailnetViewOf is name's tailnet view, nil when there is no report or the
// container is not running (a stopped container's last report is stale).
func tailnetViewOf(env *Env, name string, running bool) *tailnetView {
	if !running {
		return nil
	}
	s, ok := nodeStatus(env, name)
	if !ok {
		return nil
	}
	return &tailnetView{State: s.State, Reason: s.Reason, Address: s.Address(), DNSName: s.DNSName, IPs: s.IPs}
}

// brief is the table's ADDRESS column.
func (v *tailnetView) brief() string {
	switch {
	case v == nil:
		return "-"
	case v.State == nodestatus.StateUp && v.Address != "":
		return v.Address
	default:
		return v.State
	}
}

// startFailure explains a unit start that failed. If the container's init
// said why (the control server refused the key, or could not be reached),
// that is the error, with the class and hint that fit; otherwise it is the
// systemd error with the unit's last log lines.
func startFailure(ctx context.Context, env *Env, name string, err error) error {
	s, ok := nodeStatus(env, name)
	if !ok || s.State != nodestatus.StateFailed {
		return failureWithLog(ctx, env, name, err)
	}
	msg := oneLine(s.Message)
	switch s.Reason {
	case nodestatus.ReasonKeyRefused:
		return withHint(errdefs.Errorf(errdefs.Secret, "the tailnet's control server refused the auth key: %s", msg),
			"the key is expired, revoked, used up, or not allowed the tags %s; put a new reusable, ephemeral, tagged key where the secrets backend reads it, then run the command again", "tag:devcontainer,tag:"+env.UserName+"-container")
	case nodestatus.ReasonControlUnreachable:
		return withHint(errdefs.Errorf(errdefs.System, "the container could not reach the tailnet's control server: %s", msg),
			"check [tailnet] login_server in the config and that containers on this host can reach it")
	}
	return failureWithLog(ctx, env, name, fmt.Errorf("%w; the container's init reported %s: %s", err, cmp.Or(s.Reason, "a failure"), msg))
}

// withEarlierHint keeps the hint an inner error already carries, in front
// of the one the caller adds: a refused key's advice must survive create's
// rollback message.
func withEarlierHint(err error, hint string) error {
	var h *hinted
	if errors.As(err, &h) && h.hint != "" && !strings.Contains(hint, h.hint) {
		hint = h.hint + "; " + hint
	}
	return withHint(err, "%s", hint)
}

// missingImageHint names the one command that fixes a missing image. The
// built-in default image is the project's own, which an admin loads for
// each user (containers/load.sh, or the NixOS module does it); any other
// image is the user's to pull.
func missingImageHint(ref config.ImageRef, user string) string {
	if ref == config.Default().Container.Image {
		return fmt.Sprintf("the devbox image is loaded per user by the host's admin: ask them to run `containers/load.sh %s` (README: \"Build and load the dev image\"), or pick another image with --image", user)
	}
	return fmt.Sprintf("pull or load it first (`podman pull %s`), or choose another with --image", ref)
}
