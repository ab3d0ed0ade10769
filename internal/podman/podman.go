// Package podman runs the podman CLI for the few things systemd does not do:
// image presence, secrets, an exec for tailnet logout, and removing volumes,
// secrets and containers on destroy.
package podman

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"syscall"

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
	return c.runIn(ctx, nil, args...)
}

// output is run that also returns what podman printed on stdout.
func (c Client) output(ctx context.Context, args ...string) (int, string, string, error) {
	var stdout bytes.Buffer
	code, msg, err := c.runWith(ctx, nil, &stdout, args...)
	return code, stdout.String(), msg, err
}

// runIn is run with stdin; secret bytes reach podman only this way.
func (c Client) runIn(ctx context.Context, stdin io.Reader, args ...string) (int, string, error) {
	return c.runWith(ctx, stdin, nil, args...)
}

func (c Client) runWith(ctx context.Context, stdin io.Reader, stdout io.Writer, args ...string) (int, string, error) {
	path := c.Path
	if path == "" {
		path = "podman"
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = stdin
	cmd.Stdout = stdout
	// If devbox-quadlet is killed, its podman goes with it: a podman that
	// outlived a killed create could make its secret after the next
	// command's cleanup removed it. (The forking thread is a runtime thread
	// that does not exit while the process lives.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
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

// Image is what create needs to know about an image before it writes units.
type Image struct {
	Exists bool
	// Labels holds the values of the labels Image was asked for; a label
	// the image does not carry is absent.
	Labels map[string]string
}

// Image inspects ref in the user's image store, in one podman start-up, and
// reads the given labels. A missing image is not an error: Exists is false.
func (c Client) Image(ctx context.Context, ref string, labels ...string) (Image, error) {
	// One line per label, in the order asked, so no JSON decoding of a
	// whole image config is needed; podman prints "<no value>" for an
	// absent key of a non-nil map and "" for a nil one.
	var format strings.Builder
	for _, l := range labels {
		format.WriteString(`{{index .Labels "` + l + `"}}` + "\n")
	}
	if len(labels) == 0 {
		format.WriteString("{{.Id}}\n")
	}
	code, out, msg, err := c.output(ctx, "image", "inspect", "--format", format.String(), "--", ref)
	switch {
	case err != nil:
		return Image{}, err
	case code != 0 && (strings.Contains(msg, "image not known") || strings.Contains(msg, "no such image")):
		return Image{}, nil
	case code != 0:
		return Image{}, errdefs.Errorf(errdefs.System, "podman image inspect %s: exit %d: %s", ref, code, msg)
	}
	img := Image{Exists: true, Labels: map[string]string{}}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i, l := range labels {
		if i < len(lines) && lines[i] != "" && lines[i] != "<no value>" {
			img.Labels[l] = lines[i]
		}
	}
	return img, nil
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

// CreateSecret stores data as the podman secret name, replacing an existing
// one. The bytes go through stdin: never argv, never the environment.
func (c Client) CreateSecret(ctx context.Context, name string, data []byte) error {
	args := []string{"secret", "create", "--replace", "--", name, "-"}
	code, msg, err := c.runIn(ctx, bytes.NewReader(data), args...)
	if err != nil {
		return err
	}
	if code != 0 {
		return errdefs.Errorf(errdefs.System, "podman secret create %s: exit %d: %s", name, code, msg)
	}
	return nil
}

// RemoveSecret removes the named secret; a missing one is not an error.
func (c Client) RemoveSecret(ctx context.Context, name string) error {
	return c.remove(ctx, "secret", "rm", "--ignore", "--", name)
}

// Exec runs argv in the running container and returns its combined output.
// ctx bounds it; podman is killed when ctx ends.
func (c Client) Exec(ctx context.Context, container string, argv ...string) (string, error) {
	path := c.Path
	if path == "" {
		path = "podman"
	}
	cmd := exec.CommandContext(ctx, path, append([]string{"exec", "--", container}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	msg := strings.TrimSpace(string(out))
	if ctx.Err() != nil {
		return msg, errdefs.Errorf(errdefs.System, "podman exec %s %s: no answer in time", container, strings.Join(argv, " "))
	}
	if err != nil {
		return msg, errdefs.Errorf(errdefs.System, "podman exec %s %s: %v: %s", container, strings.Join(argv, " "), err, msg)
	}
	return msg, nil
}

// ExportVolume writes the named volume's contents as a tar archive to path.
func (c Client) ExportVolume(ctx context.Context, name, path string) error {
	code, msg, err := c.run(ctx, "volume", "export", "--output", path, "--", name)
	if err != nil {
		return err
	}
	if code != 0 {
		return errdefs.Errorf(errdefs.System, "podman volume export %s: exit %d: %s", name, code, msg)
	}
	return nil
}

// ImportVolume creates the named volume and fills it from a tar archive.
func (c Client) ImportVolume(ctx context.Context, name, path string) error {
	for _, args := range [][]string{{"volume", "create", "--", name}, {"volume", "import", "--", name, path}} {
		code, msg, err := c.run(ctx, args...)
		if err != nil {
			return err
		}
		if code != 0 {
			return errdefs.Errorf(errdefs.System, "podman %s: exit %d: %s", strings.Join(args, " "), code, msg)
		}
	}
	return nil
}
