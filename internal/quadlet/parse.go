package quadlet

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
)

// Parse reads a .container file written by Render back into a Spec, from its
// labels and keys. Fields it cannot find stay zero; a file that is not a unit
// file at all is an error.
func Parse(content []byte) (Spec, error) {
	opts, err := unit.DeserializeOptions(bytes.NewReader(content))
	if err != nil {
		return Spec{}, fmt.Errorf("parse container file: %w", err)
	}
	var s Spec
	for _, o := range opts {
		switch {
		case o.Section == "Container" && o.Name == "Image":
			s.Image = config.ImageRef(o.Value)
		case o.Section == "Container" && o.Name == "Volume" && strings.HasSuffix(o.Value, ":"+ActivityMount+":rw"):
			s.ActivityDir = strings.TrimSuffix(o.Value, ":"+ActivityMount+":rw")
		case o.Section == "Container" && o.Name == "Environment" && strings.HasPrefix(o.Value, EnvLogin+"="):
			s.LoginServer = strings.TrimPrefix(o.Value, EnvLogin+"=")
		case o.Section == "Container" && o.Name == "Notify":
			s.Notify = o.Value == "true"
		case o.Section == "Service" && o.Name == "TasksMax":
			s.TasksMax, _ = strconv.Atoi(o.Value)
		case o.Section == "Container" && o.Name == "Label":
			for _, kv := range strings.Fields(o.Value) {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case LabelName:
					s.Name = v
				case LabelOwner:
					s.Owner = v
				case LabelVersion:
					s.ToolVersion = v
				case LabelCreated:
					s.Created, _ = time.Parse(time.RFC3339, v)
				case LabelCPUs:
					f, _ := strconv.ParseFloat(v, 64)
					s.CPUs = config.CPUs(f)
				case LabelSync:
					s.Syncthing = v == "true"
				case LabelTailnet:
					s.Tailnet = v == "true"
				case LabelMemory:
					n, _ := strconv.ParseInt(v, 10, 64)
					s.Memory = config.Size(n)
				}
			}
		}
	}
	return s, nil
}
