#!/usr/bin/env bash
# ranks_vs_threads.sh — one data-parallel training epoch on K MPI ranks (one share of the cores each) against the
# same epoch in one process with all the cores as threads, interleaved, as the table of docs/benchmarks.md
# ("Data-parallel training").
#
# Renders a synthetic cohort (N images), splits it (10 test rows, 5 folds), then for each repeat runs
# `blasto train` for one epoch on fold 0 — once as one process (THREADS threads, unsharded) and once as
# `mpirun -np K` (each rank THREADS/K threads) — alternating which goes first, and reads each run's epoch time
# (log.csv, seconds: training and validation). Prints every round and the median of the per-round ratios.
#
# usage: tools/bench/ranks_vs_threads.sh [path/to/blasto]      (default: build/blasto)
# environment: REPEATS (default 5), K (ranks, default 2), THREADS (default 2), N (cohort size, default 200),
#              ARCH (default resnet50), SIZE (default 224), BATCH (default 16), OUT (work dir, default: a temp dir)
set -euo pipefail
cd "$(dirname "$0")/../.."

blasto=${1:-build/blasto}
repeats=${REPEATS:-5}
k=${K:-2}
threads=${THREADS:-2}
n=${N:-200}
arch=${ARCH:-resnet50}
size=${SIZE:-224}
batch=${BATCH:-16}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"

[ -x "$blasto" ] || { echo "ranks_vs_threads: $blasto not found or not executable (build first, or pass its path)" >&2; exit 1; }
command -v mpirun > /dev/null || { echo "ranks_vs_threads: mpirun not found (apt-get install openmpi-bin)" >&2; exit 1; }
root=$([ "$(id -u)" = 0 ] && echo --allow-run-as-root || true)

"$blasto" synth --out "$out/c" --n "$n" --size 128 --seed 7 --quiet
"$blasto" split --cohort "$out/c/cohort.csv" --test-count 10 --folds 5 --seed 1 --out "$out/split.csv" > /dev/null
args=(--cohort "$out/c/cohort.csv" --split "$out/split.csv" --fold 0 --epochs 1 --batch "$batch" --size "$size"
      --arch "$arch" --lr 1e-4)

one() { rm -rf "$out/one"; "$blasto" train "${args[@]}" --threads "$threads" --out "$out/one" > /dev/null 2>&1; }
ranks() {
  rm -rf "$out/ranks"
  BLASTO_THREADS=$((threads / k > 0 ? threads / k : 1)) mpirun --oversubscribe $root -np "$k" \
    "$blasto" train "${args[@]}" --out "$out/ranks" > /dev/null 2>&1
}
seconds() { tail -n 1 "$1/log.csv" | cut -d, -f7; }

echo "# $arch ${size}x${size}, batch $batch, one epoch of fold 0 ($("$blasto" info | grep -m1 '^cpu' || true)); $(date -u +%F), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "| round | 1 process, $threads threads (s) | $k ranks (s) | ratio |"
echo "|---|---|---|---|"
ratios=()
for r in $(seq 1 "$repeats"); do
  if [ $((r % 2)) = 1 ]; then one; ranks; else ranks; one; fi
  a=$(seconds "$out/one"); b=$(seconds "$out/ranks")
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
  ratios+=("$ratio")
  echo "| $r | $a | $b | $ratio |"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "median ratio ($k ranks / 1 process): $median"
