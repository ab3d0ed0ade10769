#!/usr/bin/env bash
# boot.sh boots the test-bed image once under qemu TCG and waits for it to
# power itself off. The guest runs SHARE/run.sh and writes results to SHARE/out/.
#
#   boot.sh IMAGE_DIR SHARE_DIR DISK BOOT [TIMEOUT_SECONDS]
#
# DISK is a qcow2 overlay (the caller creates it, so it can chain one boot's
# disk onto the previous one's). BOOT is the boot number the guest's runner
# passes to run.sh as DEVBOX_BOOT.
#
# Exit status: the guest script's, or 1 if the guest produced no result, or 75
# if the guest kernel panicked. Under multi-threaded TCG a guest kernel now and
# then crashes while patching its own code (seen once in CI: an oops in
# __set_next_task_fair at 42 s into a boot); 75 lets the caller retry that
# boot instead of failing the run on an emulator fault.
set -euo pipefail

img=$1 share=$2 disk=$3 boot=$4 timeout=${5:-900}
mkdir -p "$share/out"
console="$share/out/console-$boot.log"
rm -f "$share/out/rc-$boot"

# KVM here is paravirtual and crashes a stock kernel, so TCG it is. The NIC is
# restricted: no route to the host or beyond. panic=1 with -no-reboot turns a
# guest kernel panic into a prompt qemu exit instead of a hang until timeout.
# timeout kills qemu by its own PID if the guest hangs (pitfall 8).
rc=0
timeout "$timeout" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp 2 -m 4096 \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
	-append "console=ttyS0 root=/dev/vda rw quiet loglevel=3 systemd.show_status=0 panic=1 oops=panic devbox.run devbox.boot=$boot" \
	-drive "file=$disk,if=virtio,format=qcow2,cache=unsafe" \
	-virtfs "local,path=$share,mount_tag=share,security_model=none,id=share" \
	-netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0,romfile= \
	-display none -no-reboot -serial "file:$console" -monitor none \
	-pidfile "$share/out/qemu.pid" || rc=$?
if [ "$rc" -eq 124 ]; then
	echo "boot.sh: guest still running after ${timeout}s; qemu killed" >&2
fi
if [ ! -e "$share/out/rc-$boot" ]; then
	echo "boot.sh: boot $boot produced no result (qemu exit $rc); last console lines:" >&2
	tail -n 40 "$console" >&2 || true
	if grep -q 'Kernel panic' "$console"; then
		exit 75
	fi
	exit 1
fi
exit "$(cat "$share/out/rc-$boot")"
