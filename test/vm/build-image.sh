#!/usr/bin/env bash
# build-image.sh builds the Debian trixie test-bed image (systemd 257, podman 5.4)
# from the Debian mirror this host's apt already uses, and caches it under
# $DEVBOX_VM_CACHE keyed by the hash of its inputs. It prints the image directory.
#
# The image has three unprivileged users with lingering and their own subid
# ranges, a static network so quadlet units reach network-online.target, a
# persistent journal, and a runner unit that executes /share/run.sh from a 9p share.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${DEVBOX_VM_CACHE:-/var/cache/devbox-quadlet/vm}

# The mirror comes from this host's apt configuration, never a hard-coded
# host (scripts/debian-mirror.sh; DEVBOX_DEBIAN_MIRROR overrides it).
. "$here/../../scripts/debian-mirror.sh"

MIRROR=$(debian_mirror) || exit 1
PACKAGES=systemd,systemd-sysv,openssh-client,dbus,dbus-user-session,libpam-systemd,podman,crun,passt,slirp4netns,uidmap,fuse-overlayfs,catatonit,linux-image-amd64,initramfs-tools,busybox-static,udev,kmod,iproute2,procps,util-linux,netavark,aardvark-dns,containers-storage,conmon,e2fsprogs,zstd
USERS="alice:1000:100000 bob:1001:200000 carol:1002:300000"

hash=$( { cat "$0" "$here"/guest/*; echo "$MIRROR $PACKAGES $USERS"; } | sha256sum | cut -c1-16)
out="$cache/$hash"
if [ -e "$out/base.img" ] && [ -e "$out/vmlinuz" ] && [ -e "$out/initrd.img" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'umount -R "$work/rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
root="$work/rootfs"

echo "build-image: debootstrap trixie from $MIRROR (about 70 s)" >&2
start=$(date +%s)
debootstrap --variant=minbase --include="$PACKAGES" trixie "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
	tail -n 40 "$work/debootstrap.log" >&2
	exit 1
}

echo devbox-testbed >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 devbox-testbed\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,noatime 0 1\n' >"$root/etc/fstab"

# Users with lingering and separate subid ranges (pitfall 4).
mkdir -p "$root/var/lib/systemd/linger"
for u in $USERS; do
	IFS=: read -r name uid _ <<<"$u"
	chroot "$root" useradd -m -u "$uid" -U -s /bin/sh "$name"
done
# useradd allocates its own overlapping ranges; replace them with ours.
: >"$root/etc/subuid"
: >"$root/etc/subgid"
for u in $USERS; do
	IFS=: read -r name uid sub <<<"$u"
	echo "$name:$sub:65536" >>"$root/etc/subuid"
	echo "$name:$sub:65536" >>"$root/etc/subgid"
	touch "$root/var/lib/systemd/linger/$name"
done

# A persistent journal, so `journalctl --user` has per-user files (pitfall 2).
mkdir -p "$root/var/log/journal"

# Static network and network-online.target (pitfall 1).
install -m 0644 "$here/guest/10-testbed.network" "$root/etc/systemd/network/10-testbed.network"
systemctl --root="$root" enable systemd-networkd.service >/dev/null 2>&1
systemctl --root="$root" add-wants multi-user.target network-online.target >/dev/null 2>&1
# No login prompts on the serial console; the runner owns it.
systemctl --root="$root" mask serial-getty@ttyS0.service getty@tty1.service >/dev/null 2>&1 || true

# The runner.
install -m 0755 "$here/guest/runner" "$root/usr/local/sbin/devbox-testbed-runner"
install -m 0644 "$here/guest/devbox-testbed.service" "$root/etc/systemd/system/devbox-testbed.service"
systemctl --root="$root" enable devbox-testbed.service >/dev/null 2>&1

# A small initramfs: only what mounts a virtio ext4 root (pitfall 6).
printf 'MODULES=list\nCOMPRESS=zstd\n' >"$root/etc/initramfs-tools/conf.d/testbed.conf"
printf 'virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n' >>"$root/etc/initramfs-tools/modules"
mount -t proc proc "$root/proc"
chroot "$root" update-initramfs -u -k all >"$work/initramfs.log" 2>&1 || { cat "$work/initramfs.log" >&2; exit 1; }
umount "$root/proc"

cp "$(ls "$root"/boot/vmlinuz-* | head -n1)" "$work/vmlinuz"
cp "$(ls "$root"/boot/initrd.img-* | head -n1)" "$work/initrd.img"
rm -rf "$root"/var/cache/apt/archives/*.deb

truncate -s 8G "$work/base.img"
mke2fs -q -t ext4 -L testbed -d "$root" "$work/base.img"

rm -rf "$out"
mkdir -p "$out"
mv "$work/base.img" "$work/vmlinuz" "$work/initrd.img" "$out/"
echo "build-image: built $out in $(($(date +%s) - start)) s" >&2
echo "$out"
