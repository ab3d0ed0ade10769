package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func rotateKeyCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "rotate-key",
		Usage:     "fetch the Tailscale auth key again and restart the container if it runs",
		ArgsUsage: "NAME",
		Description: "Resolves your auth key again (through the host agent, or the standalone\n" +
			"backend), replaces the podman secret devbox-NAME-tsauthkey, and restarts the\n" +
			"container if it is running so it reads the new key. The home volume and the\n" +
			"units are kept. Keys are not fetched on every start: service-account tokens\n" +
			"are rate-limited.",
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the result as JSON (schema 1)"}},
		Action: func(c *cli.Context) error { return runRotateKey(c, env) },
	}
}

type rotateResult struct {
	Schema    int    `json:"schema"`
	Name      string `json:"name"`
	Secret    string `json:"secret"`
	Restarted bool   `json:"restarted"`
}

func runRotateKey(c *cli.Context, env *Env) error {
	t, err := openTarget(c, env)
	if err != nil {
		return err
	}
	r, err := newManager(c, env, t.cfg).RotateKey(c.Context, t.name)
	if err != nil {
		return err
	}
	res := rotateResult{Schema: 1, Name: t.name, Secret: r.Secret, Restarted: r.Restarted}
	if c.Bool("json") {
		return writeJSON(env.Stdout, res)
	}
	how := "the container is stopped; it reads the new key when started"
	if r.Restarted {
		how = "restarted with the new key"
	}
	fmt.Fprintf(env.Stdout, "%s\tkey rotated\t%s\n", t.name, how)
	return nil
}
