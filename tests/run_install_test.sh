#!/usr/bin/env bash
# Install the build into a temporary prefix, check that the engine library holds nothing of the study (no stb, no
# bl_experiment_*/bl_report_*/bl_cohort_* symbol), that the installed `blasto selftest` finds its golden file, then
# configure, build and run tests/install_consumer — a program that links the engine alone — against it with
# find_package(blasto).
# Usage: run_install_test.sh BUILD_DIR SOURCE_DIR [CONSUMER_C_FLAGS]
# (a sanitizer build passes -fsanitize=… so the consumer links the same runtime as the installed library)
set -euo pipefail
build=$1 src=$2 cflags=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
lib=$(ls "$tmp"/prefix/lib*/libblasto.so | head -1)
study_symbols=$(nm -D --defined-only "$lib" | grep -E ' (bl_experiment_|bl_report_|bl_cohort_|stbi)' || true)
if [ -n "$study_symbols" ]; then
  echo "test_install: $lib exports study symbols:"; echo "$study_symbols" | head -5; exit 1
fi
if readelf -d "$lib" | grep NEEDED | grep -q -i stb; then
  echo "test_install: $lib links stb"; exit 1
fi
golden=$(ls "$tmp"/prefix/share/blasto/golden/ops.safetensors)
if ! "$tmp/prefix/bin/blasto" selftest --op relu > "$tmp/selftest.log" 2>&1 || ! grep -q "$golden" "$tmp/selftest.log"; then
  echo "test_install: the installed blasto selftest did not pass with the installed golden file:"; cat "$tmp/selftest.log"
  exit 1
fi
cmake -S "$src/tests/install_consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$cflags" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$(dirname "$lib"):${LD_LIBRARY_PATH:-}" "$tmp/consumer/consumer"
echo "test_install: 4 passed, 0 failed"
