# guest-common.sh is sourced by the guest-side scripts: helpers to run
# commands as the test users inside the VM.

# as USER CMD...: run CMD as USER with that user's runtime dir and bus, the
# way an SSH login would have them.
as() {
	u=$1
	shift
	uid=$(id -u "$u")
	runuser -u "$u" -- env HOME="/home/$u" USER="$u" LOGNAME="$u" \
		XDG_RUNTIME_DIR="/run/user/$uid" PATH=/usr/local/bin:/usr/bin:/bin "$@"
}

# wait_user_manager USER: block until USER's systemd manager has finished
# starting (lingering starts it at boot).
wait_user_manager() {
	uid=$(id -u "$1")
	i=0
	while [ ! -S "/run/user/$uid/bus" ] && [ $i -lt 120 ]; do sleep 0.5; i=$((i + 1)); done
	as "$1" systemctl --user is-system-running --wait >/dev/null 2>&1 || true
}

# install_agent installs the host agent from the share the way a package or
# the NixOS module would: binary, system user, unit, D-Bus policy and
# activation file, and the host config. The agent then starts on demand.
install_agent() {
	install -m 0755 /share/bin/devbox-quadlet /usr/local/bin/devbox-quadlet
	id devbox-quadlet >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin devbox-quadlet
	install -m 0644 /share/contrib/systemd/devbox-quadlet-agent.service /etc/systemd/system/
	install -m 0644 /share/contrib/dbus/io.github.DevboxQuadlet.Agent1.conf /etc/dbus-1/system.d/
	mkdir -p /usr/share/dbus-1/system-services /etc/devbox-quadlet
	install -m 0644 /share/contrib/dbus/io.github.DevboxQuadlet.Agent1.service /usr/share/dbus-1/system-services/
	cat >/etc/devbox-quadlet/config.toml <<'CONF'
# The test bed's host config: the SPEC's default caps, a capacity large
# enough that only the caps decide, and alice as the admin.
[caps]
max_per_user = 5
max_global = 7

[host]
cpus = 64
memory = "256G"

[agent]
mode = "required"

[users.alice]
admin = true
CONF
	systemctl daemon-reload
	systemctl reload dbus 2>/dev/null || busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
}
