#!/bin/sh
# tools/check_sanitize.sh [ctest args] — the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer
# (-DBLASTO_SANITIZE=ON; any report aborts the test that triggers it, leaks included) in build-sanitize/.
# test_fuzz_short is left out: it builds and runs its own ASan+UBSan libFuzzer binaries. The compiler is $CC
# (default: the system cc). BLASTO_SANITIZE_BUILD names another build folder; BLASTO_SANITIZE_JOBS the -j
# (default 2). Results of record: docs/reliability.md.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BLASTO_SANITIZE_BUILD:-$root/build-sanitize}
jobs=${BLASTO_SANITIZE_JOBS:-2}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBLASTO_SANITIZE=ON -DBLASTO_CUDA=OFF >/dev/null
cmake --build "$build" -j"$jobs" >"$build/build.log" 2>&1 || { tail -40 "$build/build.log"; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure -j"$jobs" -E '^test_fuzz_short$' "$@"
