#!/usr/bin/env bash
# gemm_vs_openblas.sh — blasto's SGEMM against OpenBLAS, interleaved, as the Markdown table of docs/benchmarks.md.
#
# Builds tools/bench/openblas_gemm.c (needs libopenblas-dev; OpenBLAS is never linked into blasto), then for each
# repeat and each shape runs one `blasto bench gemm` process and one `openblas_gemm` process (each: WARMUP untimed
# calls, then one timed call), alternating which goes first from repeat to repeat, so slow phases of a noisy
# machine hit both sides alike. Both run with THREADS threads (BLASTO_THREADS / OPENBLAS_NUM_THREADS).
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the OpenBLAS command's environment so it picks its own
# kernel for this CPU; the core it used is printed.
#
# usage: tools/bench/gemm_vs_openblas.sh [path/to/blasto]       (default: build/blasto)
# environment: REPEATS (default 7, at least 5), WARMUP (default 2), THREADS (default 2),
#              SHAPES (default: the ResNet50 batch-8 convolution GEMMs), OUT (work dir, default: a temp dir)
set -euo pipefail
cd "$(dirname "$0")/../.."

blasto=${1:-build/blasto}
repeats=${REPEATS:-7}
warmup=${WARMUP:-2}
threads=${THREADS:-2}
shapes=${SHAPES:-64x25088x576,256x25088x64,128x6272x1152,256x1568x2304,512x392x4608,64x100352x147}
out=${OUT:-$(mktemp -d)}

[ -x "$blasto" ] || { echo "gemm_vs_openblas: $blasto not found or not executable (build first, or pass its path)" >&2; exit 1; }
[ "$repeats" -ge 5 ] || { echo "gemm_vs_openblas: REPEATS must be at least 5 (got $repeats)" >&2; exit 2; }

openblas_flags=$(pkg-config --cflags --libs openblas 2>/dev/null || echo "-lopenblas")
# shellcheck disable=SC2086
cc -std=c11 -O2 tools/bench/openblas_gemm.c $openblas_flags -o "$out/openblas_gemm"

run_blasto() {
  BLASTO_THREADS=$threads "$blasto" bench gemm --shapes "$1" --repeats 1 --warmup "$warmup" --threads "$threads"
}
run_openblas() {
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" \
    "$out/openblas_gemm" --shapes "$1" --repeats 1 --warmup "$warmup"
}

: > "$out/blasto.txt"
: > "$out/openblas.txt"
run_blasto "${shapes%%,*}" | grep '^#' > "$out/blasto_header.txt"
run_openblas "${shapes%%,*}" | grep '^#' > "$out/openblas_header.txt"
for ((r = 1; r <= repeats; r++)); do
  for shape in ${shapes//,/ }; do
    if ((r % 2)); then
      run_blasto "$shape" | grep '^gemm' >> "$out/blasto.txt"
      run_openblas "$shape" | grep '^gemm' >> "$out/openblas.txt"
    else
      run_openblas "$shape" | grep '^gemm' >> "$out/openblas.txt"
      run_blasto "$shape" | grep '^gemm' >> "$out/blasto.txt"
    fi
  done
  echo "gemm_vs_openblas: repeat $r of $repeats done" >&2
done

echo "blasto:   $(sed 's/^# //' "$out/blasto_header.txt")"
echo "OpenBLAS: $(sed 's/^# //' "$out/openblas_header.txt")"
echo "$repeats timed repeats per shape after $warmup warm-up calls, interleaved; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
# Each line is "gemm MxNxK median G min … max … GFLOP/s repeats 1": with one timed call per process, field 4 is
# that call's GFLOP/s. Per shape: median of the repeats, and the spread (min–max) of each side.
awk -v shapes="$shapes" '
  function median(list,    n, v, i, j, t) {
    n = split(list, v, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  function low(list,    n, v, i, m) { n = split(list, v, " "); m = v[1]; for (i = 2; i <= n; i++) if (v[i] + 0 < m + 0) m = v[i]; return m }
  function high(list,   n, v, i, m) { n = split(list, v, " "); m = v[1]; for (i = 2; i <= n; i++) if (v[i] + 0 > m + 0) m = v[i]; return m }
  FNR == 1 { side++ }
  { if (side == 1) ours[$2] = ours[$2] " " $4; else theirs[$2] = theirs[$2] " " $4 }
  END {
    print "| shape (M×N×K) | blasto GFLOP/s (median) | OpenBLAS GFLOP/s (median) | ratio | blasto min–max | OpenBLAS min–max |"
    print "|---|---:|---:|---:|---:|---:|"
    n = split(shapes, order, ",")
    worst = 1e9
    for (i = 1; i <= n; i++) {
      s = order[i]; a = median(ours[s]); b = median(theirs[s]); ratio = a / b
      if (ratio < worst) worst = ratio
      printf "| %s | %.1f | %.1f | %.2f | %.1f–%.1f | %.1f–%.1f |\n", s, a, b, ratio, low(ours[s]), high(ours[s]), low(theirs[s]), high(theirs[s])
    }
    printf "\nlowest ratio: %.2f\n", worst
  }' "$out/blasto.txt" "$out/openblas.txt"
