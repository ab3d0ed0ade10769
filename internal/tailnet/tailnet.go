// Package tailnet deletes a destroyed container's device through the
// Tailscale API: the fallback of R-19 when `tailscale logout` inside the
// container could not run. Which devices go is decided by a pure function.
package tailnet

import (
	"context"
	"net/url"
	"strings"

	tailscale "tailscale.com/client/tailscale/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// API is a Tailscale API client with OAuth client credentials.
type API struct {
	client *tailscale.Client
}

// New builds a client for tailnet ("-" for the credential's own) at baseURL.
func New(baseURL, tailnetName, clientID, clientSecret string) (*API, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errdefs.Errorf(errdefs.Usage, "tailnet.api_url %q is not an http(s) URL", baseURL)
	}
	return &API{client: &tailscale.Client{
		BaseURL:   u,
		Tailnet:   tailnetName,
		UserAgent: "devbox-quadlet",
		Auth:      &tailscale.OAuth{ClientID: clientID, ClientSecret: clientSecret, Scopes: []string{"devices:core"}},
	}}, nil
}

// Match returns the devices that are container name of owner: the hostname
// (or the first label of the MagicDNS name) is name, and the device carries
// owner's container tag, so one user can never delete another's device.
func Match(devices []tailscale.Device, name, owner string) []tailscale.Device {
	tag := "tag:" + owner + "-container"
	var out []tailscale.Device
	for _, d := range devices {
		first, _, _ := strings.Cut(d.Name, ".")
		if d.Hostname != name && first != name {
			continue
		}
		for _, t := range d.Tags {
			if t == tag {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// Forget deletes the devices of container name of owner and returns how
// many it deleted (0: the tailnet has none); errors never carry the OAuth
// secret.
func (a *API) Forget(ctx context.Context, name, owner string) (int, error) {
	devices, err := a.client.Devices().List(ctx)
	if err != nil {
		return 0, errdefs.Errorf(errdefs.System, "tailscale API: list devices: %v", err)
	}
	match := Match(devices, name, owner)
	for _, d := range match {
		id := d.NodeID
		if id == "" {
			id = d.ID
		}
		if err := a.client.Devices().Delete(ctx, id); err != nil {
			return 0, errdefs.Errorf(errdefs.System, "tailscale API: delete device %s (%s): %v", id, d.Name, err)
		}
	}
	return len(match), nil
}
