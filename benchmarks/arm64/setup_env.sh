#!/usr/bin/env bash
# Build the ARM64 parity environment (edge_runtime/arm64.py runs bundles in it):
#   qemu-user (Debian bookworm-backports' static qemu-aarch64) + an arm64 Debian bookworm root (debootstrap) + Python 3.11 from that root
#   + aarch64 wheels of the runtimes at the project's pins (PyPI), installed with the host's pip (--target).
# Everything lives under $EDGEDISTILL_CACHE/arm64 (default ~/.cache/edgedistill/arm64), never in the repository.
# Idempotent: each step is skipped when its output is already there; a stamp file records versions and sha256.
# Usage: benchmarks/arm64/setup_env.sh [--no-executorch]     (make arm64-env)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${EDGEDISTILL_CACHE:-$HOME/.cache/edgedistill}/arm64"
ROOTFS="$CACHE/rootfs"
SITE="$ROOTFS/opt/edgedistill/site"      # the runtimes' wheels (PYTHONPATH inside the root)
WHEELS="$CACHE/wheels"
STAMP="$CACHE/stamp.json"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PY="${PYTHON:-$HERE/.venv/bin/python}"
WANT_EXECUTORCH=1
[ "${1:-}" = "--no-executorch" ] && WANT_EXECUTORCH=0

step() { echo "[arm64-env] $*"; }
fail() { echo "[arm64-env] FAILED: $*" >&2; exit 1; }
pin() {  # the pinned version of a package: constraints.txt, else pyproject.toml
  local v
  v="$(grep -i -E "^$1==" "$HERE/constraints.txt" | head -1 | cut -d= -f3)"
  [ -n "$v" ] || v="$(grep -o -i -E "\"$1==[^\"; ]+" "$HERE/pyproject.toml" | head -1 | cut -d= -f3)"
  [ -n "$v" ] || fail "no pin for $1 in constraints.txt or pyproject.toml"
  echo "$v"
}

[ "$(id -u)" = 0 ] || fail "needs root (apt-get, debootstrap and chroot); run it as root"
mkdir -p "$CACHE" "$WHEELS"

# 1. host tools
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  step "apt-get install ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
    || fail "apt-get install ${need[*]} (Debian's qemu-user-static and debootstrap are needed)"
fi
# qemu itself: bookworm's qemu 7.2 mis-emulates SME (int8 GEMMs on the `max` core came out wrong; qemu 10 gives x86's
# answers on the same files: docs/arm64.md), so the static qemu-aarch64 of qemu-user from bookworm-backports is
# downloaded into the cache with a private apt source list (the system's sources are not touched).
QEMU_SUITE="${ARM64_QEMU_SUITE:-bookworm-backports}"
QEMU="$CACHE/qemu/qemu-aarch64"
if [ ! -x "$QEMU" ]; then
  step "qemu-user from Debian $QEMU_SUITE -> $QEMU"
  apt_dir="$CACHE/qemu/apt"
  rm -rf "$apt_dir" && mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/x"
  echo "deb $MIRROR $QEMU_SUITE main" > "$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives")
  (apt-get "${apt_opts[@]}" update -qq && cd "$apt_dir" && apt-get "${apt_opts[@]}" download qemu-user >/dev/null 2>&1) \
    || fail "apt-get download qemu-user from $QEMU_SUITE (set ARM64_QEMU_SUITE to another suite that has qemu >= 8)"
  dpkg-deb -x "$apt_dir"/qemu-user_*.deb "$apt_dir/x" || fail "dpkg-deb -x qemu-user"
  dpkg-deb -f "$apt_dir"/qemu-user_*.deb Version > "$CACHE/qemu/version"
  cp "$apt_dir/x/usr/bin/qemu-aarch64" "$QEMU.tmp" && mv "$QEMU.tmp" "$QEMU"
  rm -rf "$apt_dir"
fi
"$QEMU" --version >/dev/null || fail "$QEMU does not run"

# 2. the arm64 Debian root. --foreign unpacks without running arm64 code; the second stage needs binfmt_misc
#    (the kernel running arm64 children through qemu), which a container often lacks: then every downloaded
#    package is unpacked with dpkg-deb -x (no maintainer scripts: enough for python3, which is all that runs here).
if [ ! -x "$ROOTFS/usr/bin/python3.11" ]; then
  step "debootstrap --arch arm64 --foreign bookworm -> $ROOTFS"
  rm -rf "$ROOTFS"
  debootstrap --arch arm64 --foreign --variant=minbase --include=python3,python3-minimal,libpython3.11-stdlib,ca-certificates \
    bookworm "$ROOTFS" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || fail "debootstrap first stage (see $CACHE/debootstrap.log)"
  cp "$QEMU" "$ROOTFS/usr/bin/qemu-aarch64-static"
  if chroot "$ROOTFS" /usr/bin/qemu-aarch64-static /bin/true 2>/dev/null \
     && chroot "$ROOTFS" /bin/true 2>/dev/null; then   # binfmt_misc works: the real second stage
    step "debootstrap --second-stage (binfmt_misc available)"
    chroot "$ROOTFS" /debootstrap/debootstrap --second-stage >>"$CACHE/debootstrap.log" 2>&1 \
      || fail "debootstrap second stage (see $CACHE/debootstrap.log)"
  else
    step "no binfmt_misc: unpacking the downloaded packages with dpkg-deb -x"
    for deb in "$ROOTFS"/var/cache/apt/archives/*.deb; do
      dpkg-deb -x "$deb" "$ROOTFS" || fail "dpkg-deb -x $deb"
    done
  fi
  [ -x "$ROOTFS/usr/bin/python3.11" ] || fail "python3.11 missing from the arm64 root after debootstrap"
fi
cmp -s "$QEMU" "$ROOTFS/usr/bin/qemu-aarch64-static" || cp "$QEMU" "$ROOTFS/usr/bin/qemu-aarch64-static"
chroot "$ROOTFS" /usr/bin/qemu-aarch64-static /usr/bin/python3.11 -c "import platform, sys; assert platform.machine() == 'aarch64', platform.machine(); print(sys.version.split()[0])" \
  >/dev/null || fail "python3.11 does not start in the arm64 root under qemu"

# 3. aarch64 wheels at the pins, downloaded and installed with the host pip (--platform: no arm64 code runs)
PLAT=(--platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux_2_28_aarch64
      --platform manylinux_2_27_aarch64 --platform manylinux_2_31_aarch64 --platform linux_aarch64
      --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all:)
REQ=("onnxruntime==$(pin onnxruntime)" "ai-edge-litert==$(pin ai-edge-litert)" "numpy==$(pin numpy)")
CONSTRAINTS=(-c "$HERE/constraints.txt")
if [ ! -f "$SITE/.installed" ] || [ "$(cat "$SITE/.installed")" != "${REQ[*]}" ]; then
  step "pip download ${REQ[*]} (aarch64, cp311)"
  "$PY" -m pip download -q "${PLAT[@]}" "${CONSTRAINTS[@]}" -d "$WHEELS" "${REQ[@]}" \
    || fail "pip download ${REQ[*]} for manylinux aarch64 / cp311"
  step "pip install --target $SITE"
  rm -rf "$SITE"
  "$PY" -m pip install -q --no-index --find-links "$WHEELS" "${PLAT[@]}" "${CONSTRAINTS[@]}" --target "$SITE" "${REQ[@]}" \
    || fail "pip install --target $SITE"
  echo "${REQ[*]}" >"$SITE/.installed"
fi

# 4. ExecuTorch's runtime (optional): executorch and its torch as aarch64 wheels, only if they exist at the pins
ET_STATUS="not requested"
if [ "$WANT_EXECUTORCH" = 1 ]; then
  ET_SITE="$ROOTFS/opt/edgedistill/site-executorch"
  ET_REQ=("executorch==$(pin executorch)" "torch==$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || echo 2.13.0)")
  if [ -f "$ET_SITE/.installed" ] && [ "$(cat "$ET_SITE/.installed")" = "${ET_REQ[*]}" ]; then
    ET_STATUS="installed: ${ET_REQ[*]}"
  elif "$PY" -m pip download -q --no-deps "${PLAT[@]}" -d "$WHEELS" "${ET_REQ[0]}" >"$CACHE/executorch.log" 2>&1; then
    # the executorch wheel exists (18 MB); its torch (aarch64: 427 MB wheel) only on request
    ET_STATUS="an aarch64 wheel exists for ${ET_REQ[0]} (not installed: ARM64_EXECUTORCH_INSTALL=1 adds it and ${ET_REQ[1]}, 427 MB)"
    if [ "${ARM64_EXECUTORCH_INSTALL:-0}" = 1 ]; then
      rm -rf "$ET_SITE"
      "$PY" -m pip install -q --find-links "$WHEELS" "${PLAT[@]}" "${CONSTRAINTS[@]}" --target "$ET_SITE" "${ET_REQ[@]}" \
        >>"$CACHE/executorch.log" 2>&1 || fail "pip install --target $ET_SITE ${ET_REQ[*]} (see $CACHE/executorch.log)"
      echo "${ET_REQ[*]}" >"$ET_SITE/.installed"
      ET_STATUS="installed: ${ET_REQ[*]}"
    fi
  else
    ET_STATUS="no aarch64 cp311 wheel for ${ET_REQ[0]} (see $CACHE/executorch.log)"
  fi
  step "executorch: $ET_STATUS"
fi

# 5. the runtimes import under qemu; the stamp records what was installed
PROBE='import json, platform, sys, numpy, onnxruntime, ai_edge_litert
print(json.dumps({"machine": platform.machine(), "python": sys.version.split()[0], "numpy": numpy.__version__,
                  "onnxruntime": onnxruntime.__version__, "ai_edge_litert": getattr(ai_edge_litert, "__version__", None)}))'
PROBED="$(PYTHONPATH=/opt/edgedistill/site chroot "$ROOTFS" /usr/bin/qemu-aarch64-static /usr/bin/python3.11 -c "$PROBE")" \
  || fail "the runtimes do not import under qemu-aarch64 (python3.11 -c 'import numpy, onnxruntime, ai_edge_litert')"
"$PY" - "$STAMP" "$WHEELS" "$QEMU" "$PROBED" "$ET_STATUS" <<'PYEOF'
import hashlib, json, subprocess, sys
from pathlib import Path
stamp, wheels, qemu, probed, et = sys.argv[1], Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
qemu_version = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
deb = (Path(qemu).parent / "version").read_text().strip()   # the qemu-user package it came from
data = {"runtime": probed, "qemu": qemu_version, "qemu_user_deb": deb, "debian": "bookworm arm64 (debootstrap)",
        "executorch": et,
        "wheels": {w.name: hashlib.sha256(w.read_bytes()).hexdigest() for w in sorted(wheels.glob("*.whl"))}}
Path(stamp).write_text(json.dumps(data, indent=2) + "\n")
print(f"[arm64-env] ready: {probed}; stamp {stamp}")
PYEOF
