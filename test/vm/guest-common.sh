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
