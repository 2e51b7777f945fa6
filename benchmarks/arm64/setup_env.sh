#!/usr/bin/env bash
# Build the ARM64 parity environment (edge_runtime/arm64.py runs bundles in it):
#   qemu-user (Debian bookworm-backports' static qemu-aarch64) + an arm64 Debian bookworm root (debootstrap) + Python 3.11 from that root
#   + aarch64 wheels of the runtimes at the project's pins (PyPI), installed with the host's pip (--target).
# Everything lives under $EDGEDISTILL_CACHE/arm64 (default ~/.cache/edgedistill/arm64), never in the repository.
# Idempotent: each step is skipped when its output is already there; a stamp file records versions and sha256.
# Usage: benchmarks/arm64/setup_env.sh [--no-executorch]     (make arm64-env)
#        ARM64_EXECUTORCH_INSTALL=1 benchmarks/arm64/setup_env.sh   adds ExecuTorch's runtime (~2.5 GB of wheels: step 4)
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
PLAT=(--platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux_2_18_aarch64
      --platform manylinux_2_25_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 --platform manylinux_2_31_aarch64 --platform linux_aarch64
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

# 4. ExecuTorch's runtime (opt-in: ARM64_EXECUTORCH_INSTALL=1; without it the script only checks that the wheel exists).
#    executorch's metadata requires coremltools (no aarch64 Linux wheel) and a dozen export-time packages, so pip cannot
#    resolve it for aarch64: every wheel is installed --no-deps, and the list is exactly what running a .pte needs
#    (`from executorch.runtime import Runtime`, load_program, execute; each entry was the next import or dlopen to fail):
#    - executorch and torch at the host's pins (its pybindings link libtorch, libc10);
#    - PyPI's torch aarch64 wheel is a CUDA 13 build: libtorch_cpu.so and libtorch_cuda.so (which libtorch.so links) have
#      the CUDA libraries as DT_NEEDED, so the loader needs them although nothing runs on a GPU. ET_CUDA is the closure of
#      those DT_NEEDED entries at the versions torch 2.13.0's metadata pins (cuda-toolkit 13.0.3's extras); cusolver (only
#      libtorch_cuda_linalg.so, loaded on demand), triton and cuda-bindings are left out;
#    - what executorch.exir (the pybindings import it) and torch's import chain load: sympy, mpmath, ruamel.yaml, tabulate,
#      filelock and networkx each were the next import to fail; jinja2, markupsafe, fsspec and pyyaml (torch's and exir's
#      other light requirements) came in the same batch and were not tested one by one. numpy is in site/.
#    Size: ~2.5 GB of wheels (torch 427 MB, the CUDA libraries ~2 GB), ~3.8 GB installed; torch imports in ~25 s under qemu.
ET_STATUS="not requested"
ET_PROBED="null"
ET_SITE="$ROOTFS/opt/edgedistill/site-executorch"
if [ "$WANT_EXECUTORCH" = 1 ]; then
  TORCH_PIN="$("$PY" -c 'from importlib.metadata import version; print(version("torch").split("+")[0])' 2>/dev/null)" \
    || fail "torch is not installed in $PY (the ExecuTorch runtime is installed at the host's torch version)"
  ET_REQ=("executorch==$(pin executorch)" "torch==$TORCH_PIN")
  ET_CUDA=(nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85 nvidia-cublas==13.1.1.3 nvidia-cufft==12.0.0.61
           nvidia-cufile==1.15.1.6 nvidia-curand==10.4.0.35 nvidia-cusparse==12.6.3.3 nvidia-nvjitlink==13.5.37
           nvidia-cuda-nvrtc==13.0.88 nvidia-cudnn-cu13==9.20.0.48 nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.29.7
           nvidia-nvshmem-cu13==3.4.5)
  ET_PY=("sympy==$(pin sympy)" "mpmath==$(pin mpmath)" "ruamel.yaml==$(pin ruamel.yaml)" "tabulate==$(pin tabulate)"
         "filelock==$(pin filelock)" "networkx==$(pin networkx)" "jinja2==$(pin jinja2)" "markupsafe==$(pin markupsafe)"
         "fsspec==$(pin fsspec)" "pyyaml==$(pin pyyaml)")
  ET_ALL=("${ET_REQ[@]}" "${ET_CUDA[@]}" "${ET_PY[@]}")
  if [ -f "$ET_SITE/.installed" ] && [ "$(cat "$ET_SITE/.installed")" = "${ET_ALL[*]}" ]; then
    ET_STATUS="installed: ${ET_REQ[*]}"
  elif [ "${ARM64_EXECUTORCH_INSTALL:-0}" = 1 ]; then
    [ "$TORCH_PIN" = 2.13.0 ] || fail "ET_CUDA lists the CUDA libraries of torch 2.13.0's aarch64 wheel; the host has torch $TORCH_PIN: update it from that wheel's Requires-Dist"
    step "pip download --no-deps ${ET_ALL[*]} (aarch64, cp311; ~2.5 GB)"
    "$PY" -m pip download -q --no-deps "${PLAT[@]}" -d "$WHEELS" "${ET_ALL[@]}" >"$CACHE/executorch.log" 2>&1 \
      || fail "pip download --no-deps ${ET_ALL[*]} for aarch64 / cp311 (see $CACHE/executorch.log)"
    step "pip install --no-deps --target $ET_SITE"
    rm -rf "$ET_SITE"
    "$PY" -m pip install -q --no-index --no-deps --find-links "$WHEELS" "${PLAT[@]}" --target "$ET_SITE" "${ET_ALL[@]}" \
      >>"$CACHE/executorch.log" 2>&1 || fail "pip install --no-deps --target $ET_SITE (see $CACHE/executorch.log)"
    echo "${ET_ALL[*]}" >"$ET_SITE/.installed.pending"
    ET_STATUS="installed: ${ET_REQ[*]}"
  elif "$PY" -m pip download -q --no-deps "${PLAT[@]}" -d "$WHEELS" "${ET_REQ[0]}" >"$CACHE/executorch.log" 2>&1; then
    ET_STATUS="an aarch64 wheel exists for ${ET_REQ[0]} (not installed: ARM64_EXECUTORCH_INSTALL=1 adds it, ${ET_REQ[1]} and its CUDA libraries, ~2.5 GB)"
  else
    ET_STATUS="no aarch64 cp311 wheel for ${ET_REQ[0]} (see $CACHE/executorch.log)"
  fi
  if [ -f "$ET_SITE/.installed.pending" ] || [ -f "$ET_SITE/.installed" ]; then
    # a .pte runs under qemu: a tiny program built on the host (no torch.export in the root) is loaded and executed there
    ET_PROBE='import json, torch
from importlib.metadata import version
from executorch.runtime import Runtime
program = Runtime.get().load_program("/opt/edgedistill/site-executorch/.probe.pte")
out = program.load_method("forward").execute([torch.ones(2, 3)])[0]
assert out.tolist() == [[2.0] * 3] * 2, out
print(json.dumps({"executorch": version("executorch"), "torch": torch.__version__}))'
    if [ ! -f "$ET_SITE/.probe.pte" ]; then
      "$PY" - "$ET_SITE/.probe.pte" 2>>"$CACHE/executorch.log" <<'PTE' || fail "building the probe .pte on the host (torch.export + executorch; see $CACHE/executorch.log)"
import sys, torch
from executorch.exir import to_edge
class Double(torch.nn.Module):
    def forward(self, x):
        return x + x
program = to_edge(torch.export.export(Double(), (torch.ones(2, 3),))).to_executorch()
open(sys.argv[1], "wb").write(program.buffer)
PTE
    fi
    if [ -f "$ET_SITE/.installed.pending" ] || [ ! -s "$ET_SITE/.probe.json" ]; then   # once per install (~1 min under qemu)
      PYTHONPATH=/opt/edgedistill/site:/opt/edgedistill/site-executorch chroot "$ROOTFS" /usr/bin/qemu-aarch64-static \
        /usr/bin/python3.11 -c "$ET_PROBE" 2>>"$CACHE/executorch.log" | tail -1 >"$ET_SITE/.probe.json"
      grep -q '"executorch"' "$ET_SITE/.probe.json" || { rm -f "$ET_SITE/.probe.json"
        fail "ExecuTorch does not run a .pte under qemu-aarch64 (see $CACHE/executorch.log; the next missing import or library is named there)"; }
    fi
    ET_PROBED="$(cat "$ET_SITE/.probe.json")"
    if [ -f "$ET_SITE/.installed.pending" ]; then mv "$ET_SITE/.installed.pending" "$ET_SITE/.installed"; fi
    ET_STATUS="installed: ${ET_REQ[*]} ($(du -sh "$ET_SITE" | cut -f1) in the root)"
  fi
  step "executorch: $ET_STATUS"
fi

# 5. the runtimes import under qemu; the stamp records what was installed
PROBE='import json, platform, sys, numpy, onnxruntime, ai_edge_litert
print(json.dumps({"machine": platform.machine(), "python": sys.version.split()[0], "numpy": numpy.__version__,
                  "onnxruntime": onnxruntime.__version__, "ai_edge_litert": getattr(ai_edge_litert, "__version__", None)}))'
PROBED="$(PYTHONPATH=/opt/edgedistill/site chroot "$ROOTFS" /usr/bin/qemu-aarch64-static /usr/bin/python3.11 -c "$PROBE")" \
  || fail "the runtimes do not import under qemu-aarch64 (python3.11 -c 'import numpy, onnxruntime, ai_edge_litert')"
"$PY" - "$STAMP" "$WHEELS" "$QEMU" "$PROBED" "$ET_STATUS" "$ET_PROBED" "$ET_SITE/.installed" <<'PYEOF'
import hashlib, json, subprocess, sys
from pathlib import Path
stamp, wheels, qemu, probed, status, et_probed = sys.argv[1], Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), sys.argv[5], sys.argv[6]
# executorch: what the script did, and (installed) the versions ExecuTorch and torch report under qemu after running a .pte
et = {"status": status, "runtime": json.loads(et_probed), "packages": Path(sys.argv[7]).read_text().split()} \
    if et_probed not in ("", "null") else status
qemu_version = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
deb = (Path(qemu).parent / "version").read_text().strip()   # the qemu-user package it came from
data = {"runtime": probed, "qemu": qemu_version, "qemu_user_deb": deb, "debian": "bookworm arm64 (debootstrap)",
        "executorch": et,
        "wheels": {w.name: hashlib.sha256(w.read_bytes()).hexdigest() for w in sorted(wheels.glob("*.whl"))}}
Path(stamp).write_text(json.dumps(data, indent=2) + "\n")
print(f"[arm64-env] ready: {probed}; stamp {stamp}")
PYEOF
