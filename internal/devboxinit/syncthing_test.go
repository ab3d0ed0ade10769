package devboxinit

import (
	"encoding/xml"
	"testing"
)

func TestSyncthingConfigXML(t *testing.T) {
	got := SyncthingConfigXML(DefaultSyncFolder, SyncthingGUIPort, SyncthingSyncPort)
	golden(t, "syncthing-config.xml", got)

	// It must parse, and say what devbox-init relies on.
	var cfg struct {
		Version int `xml:"version,attr"`
		Folders []struct {
			ID   string `xml:"id,attr"`
			Path string `xml:"path,attr"`
		} `xml:"folder"`
		GUI struct {
			Address string `xml:"address"`
		} `xml:"gui"`
		Options struct {
			Listen []string `xml:"listenAddress"`
			Global bool     `xml:"globalAnnounceEnabled"`
			Relays bool     `xml:"relaysEnabled"`
		} `xml:"options"`
	}
	if err := xml.Unmarshal(got, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Version != 37 || len(cfg.Folders) != 1 || cfg.Folders[0].Path != DefaultSyncFolder ||
		cfg.GUI.Address != "127.0.0.1:8384" || len(cfg.Options.Listen) != 1 || cfg.Options.Listen[0] != "tcp://127.0.0.1:22000" ||
		cfg.Options.Global || cfg.Options.Relays {
		t.Errorf("parsed %+v", cfg)
	}

	// A folder path with XML's special characters survives.
	odd := `/home/dev/a "b" & <c>`
	var again struct {
		Folder struct {
			Path string `xml:"path,attr"`
		} `xml:"folder"`
	}
	if err := xml.Unmarshal(SyncthingConfigXML(odd, 1, 2), &again); err != nil || again.Folder.Path != odd {
		t.Errorf("path %q came back as %q (%v)", odd, again.Folder.Path, err)
	}
}
