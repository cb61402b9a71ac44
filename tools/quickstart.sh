#!/usr/bin/env bash
# quickstart.sh — the two README commands in one script.
#   tools/quickstart.sh demo   install what is missing, build, run `blasto demo`
#   tools/quickstart.sh test   install what is missing, build, run the whole test suite (ctest)
# Environment: BUILD_DIR (default build), JOBS (default: cores), CMAKE_ARGS (extra configure flags,
# e.g. "-DBLASTO_CUDA=OFF" or "-DBLASTO_SANITIZE=ON").
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case "$mode" in
  demo|test) ;;
  *) echo "usage: tools/quickstart.sh demo|test" >&2; exit 2 ;;
esac

# 1. Debian packages (only what is missing; sudo when not root)
# The test suite also runs the Python reference checks (torchvision export → convert → infer, Keras weights files),
# loads the HTML report in headless Chromium, builds the libFuzzer targets with clang (test_fuzz_short) and runs the
# collective operations as two MPI ranks (Open MPI); without these packages those tests report "skipped" instead.
packages="build-essential cmake pkg-config libcjson-dev libstb-dev"
[ "$mode" = test ] && packages="$packages python3-numpy python3-torch python3-torchvision python3-h5py chromium clang libclang-rt-14-dev libopenmpi-dev openmpi-bin"
need=()
for pkg in $packages; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "quickstart: installing ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}"
fi

# 2. Build
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
# shellcheck disable=SC2086
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$jobs"

# 3. Run
if [ "$mode" = demo ]; then
  "$build/blasto" demo
else
  cd "$build"
  ctest --output-on-failure -j "$jobs"
fi
