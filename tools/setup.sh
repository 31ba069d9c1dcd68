#!/usr/bin/env bash
# Set up (or repair) the course environment in .venv/: idempotent, a second run rebuilds nothing.
#   1. checks the build tools Horovod needs          4. the course kernel 'dmlcpu'
#   2. installs the pinned stack (requirements.lock) 5. data: MNIST, or Fashion-MNIST offline
#   3. builds Horovod from PyPI's source, with the     6. the self-check table
#      patches in tools/, against TensorFlow with MPI, Gloo and oneCCL (rebuilt if broken)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${COURSE_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
HOROVOD_VERSION="0.28.1"
BOOTSTRAP="pip==26.3 setuptools==84.2.1 wheel==0.48.0"
started=$(date +%s)

# each step's title and seconds, printed as a table at the end (and the step's time when the next one starts)
steps=() step_title="" step_started=$started
end_step() {
  [ -n "$step_title" ] || return 0
  local seconds=$(( $(date +%s) - step_started ))
  steps+=("$(printf '%5d s  %s' "$seconds" "$step_title")")
  echo "   ($step_title: ${seconds} s)"
}
say() { end_step; step_title="$*" step_started=$(date +%s); printf '\n== %s\n' "$*"; }
die() { printf '\nSETUP FAILED: %s\n' "$*" >&2; exit 1; }
# pip, quiet, without the warnings some machines' pip configuration prints for every package
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location .* is ignored" || true; }; }

# -- 1. tools -------------------------------------------------------------------------------------
say "Checking tools"
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] || die "Python 3.11 was not found. Install it (Debian: apt-get install python3.11 python3.11-venv python3.11-dev; or pyenv install 3.11) or set PYTHON=/path/to/python3.11."
missing=()
for tool in gcc g++ make patch; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[ ${#missing[@]} -eq 0 ] || die "missing build tools: ${missing[*]} (Horovod compiles from source, patched). Install them: apt-get install build-essential"
"$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || die "Python's headers (Python.h) are missing; Horovod compiles against them. Install them: apt-get install python3.11-dev"
echo "python: $("$PYTHON" --version) ($(command -v "$PYTHON")); gcc $(gcc -dumpversion); $(make --version | head -1)"

# -- 2. the pinned stack ----------------------------------------------------------------------------
if [ ! -x "$PY" ]; then
  say "Creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.course-requirements.sha256"
# the lock and the package's build description (pyproject.toml up to its [tool.*] settings, which change no install)
wanted=$({ cat "$ROOT/requirements.lock"; sed '/^\[tool\./,$d' "$ROOT/pyproject.toml"; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  say "Installing the pinned stack (requirements.lock): a few minutes the first time"
  pip_install $BOOTSTRAP
  pip_install -r "$ROOT/requirements.lock"
  pip_install --no-deps --no-build-isolation -e "$ROOT"
  echo "$wanted" > "$stamp"
else
  say "Pinned stack already installed (requirements.lock unchanged)"
fi

# -- 3. oneCCL's CPU library, then Horovod ------------------------------------------------------------
# Horovod links oneCCL when CCL_ROOT names a folder with include/ and lib/libccl.so. PyPI's shared
# libccl.so (package oneccl) needs a SYCL device, so it fails on CPU-only machines; oneccl-devel also
# ships a CPU-only static archive (lib/ccl/cpu/lib/libccl.a). We take that archive and the headers from
# the wheel (nothing else of it is installed), link them into a shared libccl.so together with
# tools/oneccl_stubs.c (11 symbols the archive expects from Intel's compiler runtime and tracing API) and
# libhwloc.so.15 (from PyPI's tcmlib, already in the stack), with a run path to this environment's lib/.
# Where that fails, the course goes on with MPI and Gloo, and the oneCCL cells say why they are skipped.
ONECCL_VERSION="2022.1.2"          # 2022.2.0 needs libfabric>=2.6, which Intel MPI 2021.18 does not ship
CCL_HOME="$VENV/opt/oneccl-cpu"    # CCL_ROOT for Horovod's build
CCL_UNAVAILABLE="$VENV/.oneccl-unavailable"   # why oneCCL could not be built here (then not retried)
build_oneccl() {  # into $CCL_HOME, from the wheel unpacked in $1
  local work=$1 wheel data
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps -d "$work" "oneccl-devel==$ONECCL_VERSION" \
    || { echo "pip could not download oneccl-devel==$ONECCL_VERSION"; return 1; }
  wheel=$(ls "$work"/oneccl_devel-*.whl) && data="oneccl_devel-$ONECCL_VERSION.data/data" || return 1
  "$PY" -c "import sys, zipfile; wheel = zipfile.ZipFile(sys.argv[1])
[wheel.extract(name, sys.argv[2]) for name in wheel.namelist() if '/include/' in name or name.endswith('/cpu/lib/libccl.a')]" \
    "$wheel" "$work/wheel" && rm -rf "$CCL_HOME" && mkdir -p "$CCL_HOME/lib" \
    && cp -r "$work/wheel/$data/include" "$CCL_HOME/include" || return 1
  gcc -O2 -fPIC -c "$ROOT/tools/oneccl_stubs.c" -o "$work/stubs.o" || return 1
  g++ -shared -o "$CCL_HOME/lib/libccl.so" -Wl,--whole-archive "$work/wheel/$data/lib/ccl/cpu/lib/libccl.a" \
    -Wl,--no-whole-archive "$work/stubs.o" -L"$VENV/lib" -l:libhwloc.so.15 -ldl -lpthread -lrt \
    -Wl,--no-undefined -Wl,-rpath,"$VENV/lib" || return 1
  echo "$ONECCL_VERSION" > "$CCL_HOME/VERSION"
}
if [ "$(cat "$CCL_HOME/VERSION" 2>/dev/null)" = "$ONECCL_VERSION" ] || [ -f "$CCL_UNAVAILABLE" ]; then
  :
elif [ "$(uname -m)" != x86_64 ]; then
  echo "oneCCL's CPU library is built for x86_64 only; this machine is $(uname -m)" > "$CCL_UNAVAILABLE"
else
  say "Linking oneCCL $ONECCL_VERSION's CPU library for Horovod (a few seconds)"
  work=$(mktemp -d)
  build_oneccl "$work" > "$VENV/oneccl-build.log" 2>&1 \
    || { tail -n 15 "$VENV/oneccl-build.log"; rm -rf "$CCL_HOME"
         echo "the oneCCL link failed; see $VENV/oneccl-build.log" > "$CCL_UNAVAILABLE"; }
  rm -rf "$work"
fi
if [ -f "$CCL_UNAVAILABLE" ]; then
  echo "NOTE: Horovod is built without oneCCL ($(cat "$CCL_UNAVAILABLE")). The course works with MPI and Gloo;"
  echo "      delete $CCL_UNAVAILABLE and run the setup again to retry."
  WITH_CCL=()
  BACKENDS="MPI and Gloo"
else
  WITH_CCL=(CCL_ROOT="$CCL_HOME")
  BACKENDS="MPI, Gloo and oneCCL"
fi

# Horovod's PyPI source with the course's fixes applied (each patch file says what it fixes and why); a
# build from other sources or other patches is rebuilt
HOROVOD_PATCHES=("$ROOT/tools/horovod-ccl-fused-allgather.patch" "$ROOT/tools/horovod-no-debug-info.patch")
horovod_stamp="$VENV/.horovod-build.sha256"
horovod_wanted="$(cat "${HOROVOD_PATCHES[@]}" | sha256sum | cut -d' ' -f1) ${#WITH_CCL[@]}"
horovod_ok() {  # built here with these patches, the right version, its ops load, every wanted backend compiled in
  [ "$(cat "$horovod_stamp" 2>/dev/null)" = "$horovod_wanted" ] && \
  "$PY" -c "import sys, horovod, horovod.tensorflow as hvd; sys.exit(not (horovod.__version__ == '$HOROVOD_VERSION' and hvd.mpi_built() and hvd.gloo_built() and hvd.ccl_built() == ${#WITH_CCL[@]}))" 2>/dev/null
}
build_horovod() {  # download the source, apply the patches, compile
  local work
  work=$(mktemp -d)
  "$PY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: -d "$work" \
      "horovod==$HOROVOD_VERSION" || return 1
  tar -xzf "$work/horovod-$HOROVOD_VERSION.tar.gz" -C "$work" || return 1
  for change in "${HOROVOD_PATCHES[@]}"; do
    echo "applying $change"
    patch -d "$work/horovod-$HOROVOD_VERSION" -p1 --forward --batch < "$change" || return 1
  done
  env PATH="$VENV/bin:$PATH" I_MPI_ROOT="$VENV" LDFLAGS="-Wl,-rpath,$VENV/lib -Wl,-rpath,$CCL_HOME/lib" \
      HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1 "${WITH_CCL[@]}" \
      HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITHOUT_PYTORCH=1 MAKEFLAGS="-j$(nproc)" \
      "$PY" -m pip install --no-build-isolation --no-cache-dir --disable-pip-version-check \
      "$work/horovod-$HOROVOD_VERSION" || return 1
  rm -rf "$work"
}
say "Horovod $HOROVOD_VERSION with TensorFlow, $BACKENDS"
if horovod_ok; then
  echo "already built"
else
  echo "building it from source with the course's patches (2-3 minutes on 2 cores)"
  "$PY" -m pip uninstall --quiet --yes horovod >/dev/null 2>&1 || true
  rm -f "$horovod_stamp"
  log="$VENV/horovod-build.log"
  if ! build_horovod >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "the Horovod build failed; the full log is $log (the lines above are its end)."
  fi
  echo "$horovod_wanted" > "$horovod_stamp"
  horovod_ok || die "Horovod installed but horovod.tensorflow does not load with $BACKENDS; see $log"
fi

# -- 4. kernel --------------------------------------------------------------------------------------
say "Jupyter kernel"
"$PY" -m clusterkit.machine.kernelspec

# -- 5. data ----------------------------------------------------------------------------------------
say "Data"
# Real MNIST is downloaded where there is internet, unless CLUSTERKIT_OFFLINE is set (`make test` sets it,
# so no test sends a packet off this machine); otherwise Debian's Fashion-MNIST stands in for it.
if [ ! -f "${CLUSTERKIT_DATA:-$ROOT/data}/digits.npz" ] && [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
   && { [ -n "${CLUSTERKIT_OFFLINE:-}" ] || ! "$PY" -c "import urllib.request as u; u.urlopen('https://storage.googleapis.com', timeout=5)" 2>/dev/null; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "offline: installing the Fashion-MNIST fallback (Debian package dataset-fashion-mnist)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
      || die "could not install dataset-fashion-mnist with apt-get"
  fi
fi
"$PY" -m clusterkit.rank.data

# -- 6. self-check ----------------------------------------------------------------------------------
say "Self-check"
"$PY" -m clusterkit.notebook.selfcheck
end_step
printf '\nsetup steps:\n'
printf '%s\n' "${steps[@]}"
echo "setup finished in $(( $(date +%s) - started )) s"
