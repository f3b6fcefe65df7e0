#!/bin/bash
# cross-check.sh - proves cryo's syscall layer (src/sys + native/cryo_sys.c) on aarch64, ppc64le and s390x:
# cross-builds the addon (with scripts/build-native.mjs itself, CC=<triplet>-gcc) and the sys test programs
# (static), packs them with the compiled JS into a payload, boots a Debian guest per architecture under
# qemu-system (TCG, /work/shared/tools/qemu-guest.sh) and runs the sys unit and e2e tests there with node --test.
#
#   scripts/cross-check.sh [ARCH...]     ARCH: arm64 ppc64el s390x (Debian names; default: all three)
#
# Before the guests it runs test/cross/*.test.js on this machine: the syscall tables and the ABI facts the
# tests use (test/helpers/arch-abi.ts) against each architecture's own headers.
# Needs (Debian): gcc-{aarch64,powerpc64le,s390x}-linux-gnu, libc6-dev-{arm64,ppc64el,s390x}-cross, node's headers
# (/usr/include/node, architecture-neutral), and what `qemu-guest.sh host-setup` installs.
# Guests boot one at a time (2 shared cores). Exit status 0 only when every architecture passed.
#   QEMU_GUEST  path of qemu-guest.sh (default /work/shared/tools/qemu-guest.sh)
#   GUEST_TOP   where qemu-guest.sh keeps its base images (default /tmp/qemu-guests; built there when missing)
#   KEEP_DIST=1 reuse dist-cross/ as it is (skip tsc)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QEMU_GUEST=${QEMU_GUEST:-/work/shared/tools/qemu-guest.sh}
GUEST_TOP=${GUEST_TOP:-/tmp/qemu-guests}
OUT=$ROOT/build/cross
DIST=$ROOT/dist-cross
ARCHES=${*:-arm64 ppc64el s390x}
mkdir -p "$OUT"

log() { echo "[cross $(date +%T)] $*" >&2; }
die() { log "$*"; exit 1; }

triplet() {
  case $1 in arm64) echo aarch64-linux-gnu ;; ppc64el) echo powerpc64le-linux-gnu ;; s390x) echo s390x-linux-gnu ;;
    *) die "unknown architecture $1 (use arm64, ppc64el or s390x)" ;; esac
}
elf_machine() {  # what readelf -h says for each
  case $1 in arm64) echo AArch64 ;; ppc64el) echo PowerPC64 ;; s390x) echo 'IBM S/390' ;; esac
}

for a in $ARCHES; do
  t=$(triplet "$a")
  command -v "$t-gcc" >/dev/null || die "no $t-gcc: apt-get install gcc-$t libc6-dev-$a-cross"
done
[ -f /usr/include/node/node_api.h ] || die "no /usr/include/node/node_api.h: apt-get install libnode-dev"
[ -x "$QEMU_GUEST" ] || die "no $QEMU_GUEST"

# ---- 1. compiled JS (architecture-neutral) and the host-side header checks
cd "$ROOT"
if [ -z "${KEEP_DIST:-}" ] || [ ! -d "$DIST/src" ]; then
  log "tsc -> dist-cross"
  npx tsc -p . --outDir "$DIST" >"$OUT/tsc.log" 2>&1 || true   # other areas' type errors do not stop emit
  [ -f "$DIST/src/sys/index.js" ] && [ -f "$DIST/test/e2e/sys-ptrace.test.js" ] || die "tsc emitted nothing, see $OUT/tsc.log"
fi
log "host: test/cross (syscall tables and ABI facts against each architecture's headers)"
node --test --test-reporter=tap "$DIST"/test/cross/*.test.js > "$OUT/host.log" 2>&1 && host_rc=0 || host_rc=$?
HOST_SUMMARY="host headers: $( [ $host_rc -eq 0 ] && echo PASS || echo FAIL ) ($(grep -E '^# (pass|fail|skipped) ' "$OUT/host.log" | sed 's/^# //' | tr '\n' ' '| sed 's/ $//'))"
log "$HOST_SUMMARY"
[ $host_rc -eq 0 ] || sed -n '1,200p' "$OUT/host.log" >&2

# ---- 2. per architecture: cross build, payload, boot
declare -A RESULT
rc_all=$host_rc
for a in $ARCHES; do
  t=$(triplet "$a"); ta=$SECONDS
  W=$OUT/$a; rm -rf "$W"; mkdir -p "$W/stage" "$W/payload/cryo" "$W/payload/tests" "$W/guest/$a"

  # The addon, restore stub and examples through the real build script, in a staging copy so that build/ of
  # this checkout (the host's x86_64 addon) is untouched.
  cp -r "$ROOT/scripts" "$ROOT/native" "$W/stage/"; [ -d "$ROOT/examples" ] && cp -r "$ROOT/examples" "$W/stage/"
  log "$a: node scripts/build-native.mjs with CC=$t-gcc"
  ( cd "$W/stage" && CC=$t-gcc CRYO_NODE_INCLUDE=/usr/include/node node scripts/build-native.mjs --force ) >"$W/build.log" 2>&1 \
    || { cat "$W/build.log" >&2; die "$a: cross build of the addon failed"; }
  readelf -h "$W/stage/build/cryo_sys.node" | grep -q "Machine: *$(elf_machine "$a")" || die "$a: cryo_sys.node is not a $(elf_machine "$a") object"

  P=$W/payload/cryo
  mkdir -p "$P/build" "$P/src" "$P/test/programs/bin" "$P/dist-cross"
  cp "$ROOT/package.json" "$P/"                         # "type": "module", and the root marker findAddon looks for
  cp "$W/stage/build/cryo_sys.node" "$W/stage/build/cryo-stub" "$P/build/"
  ( cd "$DIST" && find src test -name '*.js' | cpio --quiet -pdm "$P/dist-cross" )
  for c in "$ROOT"/test/programs/sys-*.c; do
    "$t-gcc" -O2 -g -Wall -pthread -static -o "$P/test/programs/bin/$(basename "$c" .c)" "$c" 2>>"$W/build.log" \
      || { cat "$W/build.log" >&2; die "$a: cross build of $c failed"; }
  done
  cat > "$W/payload/tests/50-cryo.sh" <<'EOF'
#!/bin/sh
# Runs in the guest: the restore stub must exit 70 at once; then the sys tests.
cd /cryo || exit 1
echo "@@CRYO uname=$(uname -m) node=$(node --version) kernel=$(uname -r)@@"
./build/cryo-stub; s=$?
echo "@@CRYO stub-exit=$s@@"
t0=$(cut -d' ' -f1 /proc/uptime)
node --test --test-reporter=tap dist-cross/test/unit/sys-pure.test.js dist-cross/test/e2e/sys-*.test.js; r=$?
echo "@@CRYO node-test rc=$r from $t0 to $(cut -d' ' -f1 /proc/uptime)s uptime@@"
[ "$s" = 70 ] || { echo "@@CRYO stub exited $s, not 70@@"; exit 1; }
exit $r
EOF

  # A base image per architecture (shared, built once); our own OUTDIR holds kernel link + payload + logs.
  if [ ! -f "$GUEST_TOP/out/$a/base.cpio" ]; then
    log "$a: building the guest base image (once; downloads Debian packages)"
    TOP=$GUEST_TOP "$QEMU_GUEST" build "$a" >"$W/guest-build.log" 2>&1 || { tail -20 "$W/guest-build.log" >&2; die "$a: guest build failed"; }
  fi
  ln -sf "$GUEST_TOP/out/$a/kernel" "$W/guest/$a/kernel"
  OUTDIR=$W/guest "$QEMU_GUEST" payload "$a" "$W/payload"
  log "$a: built in $((SECONDS - ta))s; booting"
  tb=$SECONDS; note=''
  for attempt in 1 2; do
    OUTDIR=$W/guest BASE=$GUEST_TOP/out/$a/base.cpio QUIET=1 "$QEMU_GUEST" boot "$a" && r=0 || r=$?
    rm -f "$W/guest/$a/initrd.cpio"
    cp "$W/guest/$a/console.log" "$W/console.log"
    # No summary means node itself died (seen once on s390x under TCG: a V8 fatal error, then SIGILL):
    # boot once more, and say so in the result. A test that fails ("not ok") is never retried.
    summary=$(grep -E '^# (tests|pass|fail|skipped|todo|cancelled) ' "$W/console.log" | sed 's/^# //' | tr '\n' ' ' | sed 's/ $//' || true)
    [ -z "$summary" ] || break
    summary="no test summary: $(grep -m1 -E '@@CRYO node-test rc=|Fatal error|Illegal instruction|Segmentation' "$W/console.log" || echo 'guest output ended early')"
    [ $attempt = 1 ] || break
    cp "$W/console.log" "$W/console-crashed.log"
    note=" (2nd boot: node died in the 1st, see $W/console-crashed.log)"
    log "$a: $summary; booting once more"
  done
  stub=$(sed -n 's/.*@@CRYO stub-exit=\([0-9]*\)@@.*/\1/p' "$W/console.log")
  RESULT[$a]="$a: $( [ $r -eq 0 ] && echo PASS || echo "FAIL (rc=$r)" ) [$summary] stub-exit=$stub boot+tests $((SECONDS - tb))s, total $((SECONDS - ta))s$note"
  log "${RESULT[$a]}"
  if [ $r -ne 0 ]; then
    rc_all=1
    grep -E '^(not ok|  (error|expected|actual|location|failureType):|@@|# Fatal|Illegal)' "$W/console.log" | head -60 >&2 || true
    log "$a: full console log: $W/console.log"
  fi
done

echo "== cross-check summary (${SECONDS}s in all) =="
echo "$HOST_SUMMARY"
for a in $ARCHES; do echo "${RESULT[$a]}"; done
exit $rc_all
