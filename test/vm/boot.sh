#!/usr/bin/env bash
# boot.sh boots the test-bed image once under qemu TCG and waits for it to
# power itself off. The guest runs SHARE/run.sh and writes results to SHARE/out/.
#
#   boot.sh IMAGE_DIR SHARE_DIR DISK [TIMEOUT_SECONDS]
#
# DISK is a qcow2 overlay on IMAGE_DIR/base.img; it is created if missing, so a
# second boot of the same DISK sees what the first one left (reboot tests).
set -euo pipefail

img=$1 share=$2 disk=$3 timeout=${4:-900}
mkdir -p "$share/out"
if [ ! -e "$disk" ]; then
	qemu-img create -q -f qcow2 -b "$img/base.img" -F raw "$disk"
fi
boot=$(( $(cat "$share/out/boot-count" 2>/dev/null || echo 0) + 1 ))
console="$share/out/console-$boot.log"

# KVM here is paravirtual and crashes a stock kernel, so TCG it is. The NIC is
# restricted: no route to the host or beyond.
# timeout kills qemu by its own PID if the guest hangs (pitfall 8).
rc=0
timeout "$timeout" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp 2 -m 4096 \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
	-append "console=ttyS0 root=/dev/vda rw quiet loglevel=3 systemd.show_status=0 devbox.run" \
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
	exit 1
fi
exit "$(cat "$share/out/rc-$boot")"
