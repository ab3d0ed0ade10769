package devboxinit

import (
	"strconv"
	"strings"
)

// syncthingConfigVersion is lib/config.CurrentVersion of Syncthing 1.20 to
// 1.29 (Debian trixie ships 1.29). An older version would only make
// Syncthing migrate the file; a newer one it refuses to load.
const syncthingConfigVersion = 37

// SyncthingConfigXML is the config.xml devbox-init writes before
// Syncthing's first start, when there is none yet; after that the file
// is the user's. Syncthing has no flag for the sync listen address, so it
// goes here: loopback only, published by `tailscale serve`. Discovery,
// relays and NAT traversal are off because peers reach the node over the
// tailnet. The GUI skips its Host check: it is reached by the node's
// tailnet name, which the check (made against DNS rebinding) would refuse.
//
// Syncthing fills unset scalar fields of <gui> and <options> with its
// defaults before it decodes the file, but not those of a <folder>
// (lib/config ReadXML and structutil.SetDefaults), so the folder spells
// out the defaults that matter.
func SyncthingConfigXML(folder string, guiPort, syncPort int) []byte {
	var b strings.Builder
	w := func(s ...string) {
		for _, x := range s {
			b.WriteString(x)
		}
		b.WriteByte('\n')
	}
	w(`<configuration version="`, strconv.Itoa(syncthingConfigVersion), `">`)
	w(`    <folder id="default" label="sync" path="`, xmlEscape(folder), `" type="sendreceive" rescanIntervalS="3600" fsWatcherEnabled="true" fsWatcherDelayS="10" ignorePerms="false" autoNormalize="true">`)
	w(`        <filesystemType>basic</filesystemType>`)
	w(`        <minDiskFree unit="%">1</minDiskFree>`)
	w(`        <maxConflicts>10</maxConflicts>`)
	w(`        <maxConcurrentWrites>2</maxConcurrentWrites>`)
	w(`        <copyRangeMethod>standard</copyRangeMethod>`)
	w(`    </folder>`)
	w(`    <gui enabled="true" tls="false">`)
	w(`        <address>127.0.0.1:`, strconv.Itoa(guiPort), `</address>`)
	w(`        <insecureSkipHostcheck>true</insecureSkipHostcheck>`)
	w(`    </gui>`)
	w(`    <options>`)
	w(`        <listenAddress>tcp://127.0.0.1:`, strconv.Itoa(syncPort), `</listenAddress>`)
	w(`        <globalAnnounceEnabled>false</globalAnnounceEnabled>`)
	w(`        <localAnnounceEnabled>false</localAnnounceEnabled>`)
	w(`        <relaysEnabled>false</relaysEnabled>`)
	w(`        <natEnabled>false</natEnabled>`)
	w(`        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>`)
	w(`        <crashReportingEnabled>false</crashReportingEnabled>`)
	w(`        <urAccepted>-1</urAccepted>`)
	w(`    </options>`)
	w(`</configuration>`)
	return []byte(b.String())
}

// xmlEscape escapes an attribute value; encoding/xml would do, at the
// price of its weight in a binary that must stay small.
var xmlEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;", "\n", "&#xA;", "\t", "&#x9;").Replace
