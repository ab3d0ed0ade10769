# guest-test.sh runs inside the VM as root (via the test-bed runner): it runs
# the e2e suite as alice, then a short cross-user check as bob.
. /share/guest-common.sh
set -u
echo "== guest: $(systemctl --version | head -n1), $(podman --version)"
for u in alice bob; do wait_user_manager "$u"; done
echo "== guest: system state $(systemctl is-system-running)"
cd /tmp
rc=0
echo "== e2e as alice"
as alice /share/bin/e2e.test -test.v -test.timeout 20m -devbox /share/bin/devbox-quadlet || rc=1
echo "== e2e as bob (create, limits, list, destroy)"
as bob /share/bin/e2e.test -test.v -test.timeout 10m -test.run 'TestCreateLimitsListDestroy/demo' -devbox /share/bin/devbox-quadlet || rc=1
exit $rc
