#!/bin/sh
# tools/fuzz.sh [RUNS] [TARGET...] — build the libFuzzer targets of tests/fuzz (clang, ASan+UBSan, -DBLASTO_FUZZ=ON)
# in a separate build folder and run each for RUNS executions (default 20000; the figures of record in
# docs/reliability.md use 1000000), one process, one core. Prints a table target / execs / crashes / seconds /
# exec/s. Exit 0 when every target ran its RUNS with no crash, leak, timeout or out-of-memory; 1 when one did
# (the input is kept as BUILD/artifacts/<target>-crash-…; make it a regression: tests/fuzz/regressions/<target>/);
# 77 when clang's libFuzzer is not available.
#
# Environment: BLASTO_FUZZ_BUILD (build folder, default <repo>/build-fuzz), BLASTO_FUZZ_CC (the compiler, default
# clang-14 when present, else clang; $CC is not used, so a gcc setting does not turn the fuzz pass off),
# BLASTO_FUZZ_JOBS (parallel compile jobs, default 2), BLASTO_FUZZ_SEED (libFuzzer -seed, default 1).
# Corpora grow across runs in BUILD/corpus/<target>; seeds come from tests/fuzz/seeds, tests/fuzz/regressions and
# tests/golden (small files only).
set -u
runs=${1:-20000}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BLASTO_FUZZ_BUILD:-$root/build-fuzz}
jobs=${BLASTO_FUZZ_JOBS:-2}
seed=${BLASTO_FUZZ_SEED:-1}
# the file-based targets write their input (and the atomic writers fsync): keep that in memory when we can
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
CC=${BLASTO_FUZZ_CC:-}
if [ -z "$CC" ]; then
  if command -v clang-14 >/dev/null 2>&1; then CC=clang-14; else CC=clang; fi
fi
all="safetensors labelme csv cohort split predictions experiment_config calibration image mask contour segmenter_options"
targets=${*:-$all}

# can this clang link a libFuzzer binary at all?
probe=$(mktemp -d "${TMPDIR:-/tmp}/blasto_fuzz_probe_XXXXXX")
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
  rm -rf "$probe"
  echo "skipped: clang libFuzzer not available ($CC -fsanitize=fuzzer failed)"
  exit 77
fi
rm -rf "$probe"

if [ ! -f "$build/CMakeCache.txt" ]; then
  mkdir -p "$build"
  CC=$CC cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBLASTO_FUZZ=ON -DBLASTO_CUDA=OFF \
    -DBUILD_TESTING=OFF >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
fi
names=""
for t in $targets; do names="$names fuzz_$t"; done
# shellcheck disable=SC2086
cmake --build "$build" -j"$jobs" --target $names >"$build/build.log" 2>&1 || { tail -40 "$build/build.log"; exit 1; }

# extra seeds from the test fixtures (small ones; libFuzzer's max_len is 64 KiB here)
extra=$build/seeds-extra
mkdir -p "$extra/safetensors" "$extra/csv" "$extra/image"
cp "$root/tests/golden/optim.safetensors" "$extra/safetensors/" 2>/dev/null
cp "$root/tests/golden/paper_table1.csv" "$extra/csv/" 2>/dev/null

printf '%-20s %10s %8s %9s %9s\n' target execs crashes seconds exec/s
status=0
for t in $targets; do
  corpus=$build/corpus/$t
  mkdir -p "$corpus" "$build/artifacts" "$build/logs"
  dirs="$corpus"
  for d in "$root/tests/fuzz/seeds/$t" "$root/tests/fuzz/regressions/$t" "$extra/$t"; do
    [ -d "$d" ] && dirs="$dirs $d"
  done
  before=$(ls "$build/artifacts" | grep -c "^$t-" || true)
  log=$build/logs/$t.log
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$build/tests/fuzz/fuzz_$t" -runs="$runs" -seed="$seed" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" $dirs >"$log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  after=$(ls "$build/artifacts" | grep -c "^$t-" || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  [ -n "$execs" ] || execs=0
  crashes=$((after - before))
  [ $rc -ne 0 ] && [ $crashes -eq 0 ] && crashes=1
  secs=$(echo "$start $end" | awk '{printf "%.1f", $2 - $1}')
  rate=$(echo "$execs $secs" | awk '{ if ($2 > 0) printf "%.0f", $1 / $2; else print "-" }')
  printf '%-20s %10s %8s %9s %9s\n' "$t" "$execs" "$crashes" "$secs" "$rate"
  if [ $crashes -ne 0 ] || [ "$execs" -lt "$runs" ]; then
    status=1
    echo "  FAILED: see $log; input: $(ls -t "$build/artifacts" | grep "^$t-" | head -1)"
    grep -m3 -E "ERROR|runtime error|invariant" "$log" | sed 's/^/  /'
  fi
done
exit $status
