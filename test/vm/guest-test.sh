# guest-test.sh runs inside the VM as root (via the test-bed runner). The VM
# boots twice on the same disk:
#   boot 1: the e2e suite as alice, a cross-user check as bob, and the first
#           half of the reboot test (leave containers running and stopped);
#   boot 2: the second half of the reboot test.
. /share/guest-common.sh
set -u
e2e="/share/bin/e2e.test -test.v -devbox /share/bin/devbox-quadlet"
for u in alice bob carol; do wait_user_manager "$u"; done
install_host
cd /tmp
rc=0
# The systemd D-Bus edge (internal/sd) against alice's real user manager,
# with coverage for the host's report.
run_sd_tests() {
	echo "== internal/sd against the real user manager (as alice)"
	as alice /share/bin/sd.test -test.v -test.coverprofile=/tmp/sd-e2e.cover || return 1
	cp /tmp/sd-e2e.cover /share/out/sd-e2e.cover
}
FOCUS_USER='' FOCUS_ROOT=''
. /share/focus.env 2>/dev/null || true
if [ -n "$FOCUS_USER$FOCUS_ROOT" ]; then
	echo "== focused run: alice '${FOCUS_USER:-none}', root '${FOCUS_ROOT:-none}'"
	for u in alice bob carol; do as $u $e2e -test.run '^$' >/dev/null || rc=1; done
	run_sd_tests || rc=1
	[ -z "$FOCUS_USER" ] || as alice $e2e -test.timeout 25m -test.run "$FOCUS_USER" || rc=1
	if [ -n "$FOCUS_ROOT" ] && echo "$FOCUS_ROOT" | grep -q Tailnet; then
		{ setup_tailnet && load_devbox_image alice bob; } || rc=1
	fi
	[ -z "$FOCUS_ROOT" ] || $e2e -test.timeout 20m -test.run "$FOCUS_ROOT" || rc=1
	exit $rc
fi
case "${DEVBOX_BOOT:-1}" in
1)
	echo "== guest: $(systemctl --version | head -n1), $(podman --version)"
	run_sd_tests || rc=1
	echo "== e2e as alice"
	as alice $e2e -test.timeout 45m -test.skip '^TestReboot$|^TestAgent|^TestSecrets|^TestHostile|^TestTailnet|^TestInstall' || rc=1
	echo "== e2e as bob (create, limits, list, destroy)"
	as bob $e2e -test.timeout 10m -test.run 'TestCreateLimitsListDestroy/demo' || rc=1
	echo "== e2e as root: the host agent, the secrets across users, a missing podman and a full disk"
	as carol $e2e -test.run '^$' >/dev/null || rc=1 # imports carol's test images
	$e2e -test.timeout 45m -test.run '^TestInstall|^TestAgent|^TestSecrets|^TestHostile' || rc=1
	echo "== e2e as root: the real dev image on a real tailnet (headscale, tailscaled)"
	if setup_tailnet && load_devbox_image alice bob; then
		$e2e -test.timeout 30m -test.run '^TestTailnet' || rc=1
	else
		echo "== the tailnet or the image could not be set up"
		rc=1
	fi
	echo "== reboot test, boot 1 of 2: prepare"
	as alice $e2e -test.timeout 5m -test.run '^TestReboot$' -reboot prepare || rc=1
	;;
2)
	echo "== reboot test, boot 2 of 2: check"
	as alice $e2e -test.timeout 5m -test.run '^TestReboot$' -reboot check || rc=1
	;;
esac
exit $rc
