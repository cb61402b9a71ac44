#!/bin/sh
# tools/kill_loop.sh [N] — runs the test tests/test_kill_safety.c N times (default 20), each with a fresh kill seed, and stops
# at the first failure (its seed is printed: replay it with BLASTO_KILL_SEED=<seed>). Build first
# (cmake --build build); BLASTO_BUILD names another build folder (default <repo>/build). BLASTO_KILL_ROUNDS is
# passed through (rounds per command in one run, default 3).
set -u
n=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
test_bin=${BLASTO_BUILD:-$root/build}/tests/test_kill_safety
[ -x "$test_bin" ] || { echo "kill_loop: $test_bin not built (cmake --build build --target test_kill_safety)"; exit 2; }
log=$(mktemp "${TMPDIR:-/tmp}/blasto_kill_loop_XXXXXX")
pass=0 landed=0 resumed=0
i=1
while [ "$i" -le "$n" ]; do
  if "$test_bin" >"$log" 2>&1; then
    pass=$((pass + 1))
    k=$(grep -c ': killed after' "$log")
    r=$(sed -n 's/^train round [0-9]*: .*, \([0-9]*\) rerun(s) with --resume$/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
    e=$(sed -n 's/^enhance round [0-9]*: \([0-9]*\) kill(s) landed.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
    landed=$((landed + k + e))
    resumed=$((resumed + r))
    printf 'run %2d: ok   %s  (train kills %d, resumes %d, enhance kills %d)\n' "$i" "$(sed -n 's/^kill seed: \([0-9]*\).*/seed \1/p' "$log")" "$k" "$r" "$e"
  else
    printf 'run %2d: FAILED %s\n' "$i" "$(sed -n 's/^kill seed: \([0-9]*\).*/seed \1/p' "$log")"
    cat "$log"
    rm -f "$log"
    echo "kill_loop: $pass of $n passed before the failure"
    exit 1
  fi
  i=$((i + 1))
done
rm -f "$log"
echo "kill_loop: $pass of $n runs passed; $landed kills landed in total, $resumed reruns resumed a checkpoint"
