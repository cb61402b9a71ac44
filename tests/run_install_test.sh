#!/usr/bin/env bash
# Install the build into a temporary prefix, then configure, build and run tests/install_consumer against it
# with find_package(blasto). Usage: run_install_test.sh BUILD_DIR SOURCE_DIR [CONSUMER_C_FLAGS]
# (a sanitizer build passes -fsanitize=… so the consumer links the same runtime as the installed library)
set -euo pipefail
build=$1 src=$2 cflags=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/tests/install_consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$cflags" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib:${LD_LIBRARY_PATH:-}" "$tmp/consumer/consumer"
echo "test_install: 1 passed, 0 failed"
