// Package podman runs the podman CLI for the few things systemd does not do:
// image presence, and removing volumes and containers on destroy.
package podman

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// Client runs podman as the invoking user.
type Client struct {
	Path string // podman binary; "podman" means look it up in PATH
}

// run executes podman with args and returns its exit status. A missing binary
// is an errdefs.System error that says so; a non-zero exit is not an error
// here, because callers such as "exists" read the status.
func (c Client) run(ctx context.Context, args ...string) (int, string, error) {
	path := c.Path
	if path == "" {
		path = "podman"
	}
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, "", nil
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), strings.TrimSpace(stderr.String()), nil
	case errors.Is(err, exec.ErrNotFound):
		return 0, "", errdefs.Errorf(errdefs.System, "podman %s: podman is not installed or not in PATH", args[0])
	default:
		return 0, "", errdefs.Errorf(errdefs.System, "podman %s: %w", strings.Join(args, " "), err)
	}
}

func (c Client) exists(ctx context.Context, args ...string) (bool, error) {
	code, msg, err := c.run(ctx, args...)
	switch {
	case err != nil:
		return false, err
	case code == 0:
		return true, nil
	case code == 1:
		return false, nil
	default:
		return false, errdefs.Errorf(errdefs.System, "podman %s: exit %d: %s", strings.Join(args, " "), code, msg)
	}
}

// ImageExists reports whether ref is in the user's image store.
func (c Client) ImageExists(ctx context.Context, ref string) (bool, error) {
	return c.exists(ctx, "image", "exists", ref)
}

// VolumeExists reports whether the named volume exists.
func (c Client) VolumeExists(ctx context.Context, name string) (bool, error) {
	return c.exists(ctx, "volume", "exists", name)
}

// ContainerExists reports whether the named container exists.
func (c Client) ContainerExists(ctx context.Context, name string) (bool, error) {
	return c.exists(ctx, "container", "exists", name)
}

// RemoveVolume removes the named volume; a missing volume is not an error.
func (c Client) RemoveVolume(ctx context.Context, name string) error {
	return c.remove(ctx, "volume", "rm", "--force", "--", name)
}

// RemoveContainer removes the named container; a missing one is not an error.
func (c Client) RemoveContainer(ctx context.Context, name string) error {
	return c.remove(ctx, "rm", "--force", "--ignore", "--", name)
}

func (c Client) remove(ctx context.Context, args ...string) error {
	code, msg, err := c.run(ctx, args...)
	if err != nil {
		return err
	}
	if code != 0 && !strings.Contains(msg, "no such") {
		return errdefs.Errorf(errdefs.System, "podman %s: exit %d: %s", strings.Join(args, " "), code, msg)
	}
	return nil
}
