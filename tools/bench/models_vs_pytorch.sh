#!/usr/bin/env bash
# models_vs_pytorch.sh — whole-model throughput of blasto against PyTorch CPU, interleaved, as the Markdown table of
# docs/benchmarks.md ("Models").
#
# Builds nothing: pass the blasto binary. For each architecture and mode (infer, train) and each repeat it runs
# one process per side — `blasto bench MODE` and tools/bench/pytorch_models.py once per PyTorch memory layout
# (NCHW and channels_last) — each doing WARMUP untimed steps and ONE timed step, and it rotates which side goes
# first from repeat to repeat, so a slow phase of a shared machine hits every side alike. Two warm-up steps, because
# blasto's first step grows its step arena and its second page-faults the consolidated arena chunk in (~1.2 GB for
# ResNet50 at batch 8: each costs ~0.5 s more than a steady step); from the third step on a step allocates nothing. Per side the table gives
# the median of the repeats' img/s and the min–max spread; PyTorch's column is its better layout (by median).
# blasto GFLOP/s counts 2·MACs of every conv/linear layer (training: 3× forward), % of peak divides by
# PEAK_PER_CORE × THREADS (115 GFLOP/s per core, measured with an FMA loop on the benchmark machine: see
# docs/benchmarks.md). "ratio of maxima" divides the best repeats: on a shared machine, where a neighbour hits one
# side's repeat and not the other's, it estimates the quiet-machine ratio better than the medians. Peak RSS is each process's getrusage maximum (largest over the repeats); PyTorch's includes
# the ~300–400 MB that importing torch costs.
#
# usage: tools/bench/models_vs_pytorch.sh [path/to/blasto]       (default: build/blasto)
# environment: REPEATS (timed repeats per model, default 5, at least 5), VGG_REPEATS (default 3: a VGG16 training
#              step takes several seconds per side on 2 cores), WARMUP (default 2), THREADS (default 2), BATCH
#              (default 8, both modes), SIZE (default 224), ARCHS (default "resnet50 vgg16 densenet121"), MODES
#              (default "infer train"), LAYOUTS (default "nchw channels_last"), PEAK_PER_CORE (default 115),
#              PYTHON (default /usr/bin/python3: needs torch and torchvision), OUT (work dir, default a temp dir;
#              it keeps results.txt — one line "side arch mode img/s GFLOP/s RSS" per process — and about.txt),
#              TABLE_ONLY=1 (with OUT: run nothing, reprint the table from OUT's saved results), ISA (default: all
#              the CPU has; ISA=avx2 runs both sides as on an AVX2-only CPU: BLASTO_CPU_ISA=avx2 for blasto,
#              ONEDNN_MAX_CPU_ISA=AVX2 and ATEN_CPU_CAPABILITY=avx2 for PyTorch)
# Takes ~12–15 minutes with the defaults on 2 quiet Zen 4 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."

blasto=${1:-build/blasto}
repeats=${REPEATS:-5}
vgg_repeats=${VGG_REPEATS:-3}
warmup=${WARMUP:-2}
threads=${THREADS:-2}
batch=${BATCH:-8}
size=${SIZE:-224}
archs=${ARCHS:-resnet50 vgg16 densenet121}
modes=${MODES:-infer train}
layouts=${LAYOUTS:-nchw channels_last}
peak_per_core=${PEAK_PER_CORE:-115}
isa=${ISA:-}
case "$isa" in
  "") isa_env=() ;;
  avx2) isa_env=(BLASTO_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2) ;;
  *) echo "models_vs_pytorch: ISA: expected avx2 or nothing (got '$isa')" >&2; exit 2 ;;
esac
python=${PYTHON:-/usr/bin/python3}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"


# One process; its output goes to $out/last.txt. Appends "side arch mode img/s GFLOP/s RSS" to $out/results.txt.
run_side() {
  local side=$1 arch=$2 mode=$3
  if [ "$side" = blasto ]; then
    env "${isa_env[@]}" BLASTO_THREADS=$threads "$blasto" bench "$mode" --arch "$arch" --batch "$batch" --size "$size" \
      --threads "$threads" --warmup "$warmup" --repeats 1 > "$out/last.txt" 2> "$out/last_err.txt" || {
      echo "models_vs_pytorch: blasto bench $mode --arch $arch failed: $(tail -n 1 "$out/last_err.txt")" >&2; exit 1; }
  else
    env "${isa_env[@]}" OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads "$python" tools/bench/pytorch_models.py "$mode" --arch "$arch" \
      --batch "$batch" --size "$size" --threads "$threads" --warmup "$warmup" --repeats 1 --layout "$side" \
      > "$out/last.txt" 2> "$out/last_err.txt" || {
      echo "models_vs_pytorch: pytorch_models.py $mode --arch $arch --layout $side failed: $(tail -n 1 "$out/last_err.txt")" >&2
      exit 1; }
  fi
  [ -s "$out/header_$side.txt" ] || grep -h '^#' "$out/last.txt" | head -n 1 > "$out/header_$side.txt"
  awk -v side="$side" -v arch="$arch" -v mode="$mode" '
    /^img\/s: / { ips = $2 } /^GFLOP\/s: / { gflops = $2 } /^peak RSS: / { rss = $3 }
    END { if (ips == "") exit 1; print side, arch, mode, ips, (gflops == "" ? "-" : gflops), rss }' \
    "$out/last.txt" >> "$out/results.txt" ||
    { echo "models_vs_pytorch: $side $arch $mode printed no 'img/s:' line" >&2; exit 1; }
}

if [ "${TABLE_ONLY:-0}" != 1 ]; then
  [ -x "$blasto" ] || { echo "models_vs_pytorch: $blasto not found or not executable (build first, or pass its path)" >&2; exit 1; }
  [ "$repeats" -ge 5 ] || { echo "models_vs_pytorch: REPEATS must be at least 5 (got $repeats)" >&2; exit 2; }
  [ "$vgg_repeats" -ge 1 ] || { echo "models_vs_pytorch: VGG_REPEATS must be at least 1 (got $vgg_repeats)" >&2; exit 2; }
  "$python" -c 'import torch, torchvision' 2>/dev/null ||
    { echo "models_vs_pytorch: $python cannot import torch and torchvision (set PYTHON)" >&2; exit 1; }
  : > "$out/results.txt"
  rm -f "$out"/header_*.txt
  read -r -a layout_array <<< "$layouts"
  sides=(blasto "${layout_array[@]}")
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  started=$(date -u '+%Y-%m-%d %H:%M UTC')
  for arch in $archs; do
    for mode in $modes; do
      n=$repeats
      [ "$arch" = vgg16 ] && n=$vgg_repeats
      for ((r = 0; r < n; r++)); do
        for ((s = 0; s < ${#sides[@]}; s++)); do # rotate the order: repeat r starts with side r mod count
          run_side "${sides[(r + s) % ${#sides[@]}]}" "$arch" "$mode"
        done
        echo "models_vs_pytorch: $arch $mode: repeat $((r + 1)) of $n done" >&2
      done
    done
  done
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  {
    echo "blasto:  $(sed 's/^# //' "$out/header_blasto.txt")    (first run's header)"
    for layout in $layouts; do echo "PyTorch: $(sed 's/^# //' "$out/header_$layout.txt")"; done
    [ -n "$isa" ] && echo "instruction set capped at $isa on both sides (${isa_env[*]})"
    echo "batch $batch, ${size}x${size}, $threads threads; $repeats timed repeats per model (VGG16: $vgg_repeats), each one"
    echo "process per side after $warmup warm-up steps, interleaved; $started; load average before $load_before, after $load_after"
  } > "$out/about.txt"
fi
if [ ! -s "$out/results.txt" ] || [ ! -s "$out/about.txt" ]; then
  echo "models_vs_pytorch: $out has no results.txt/about.txt to tabulate" >&2
  exit 1
fi
cat "$out/about.txt"
echo
awk -v archs="$archs" -v modes="$modes" -v layouts="$layouts" -v peak="$peak_per_core" -v threads="$threads" \
    -v standard="$([ "$batch" = 8 ] && [ "$size" = 224 ] && [ "$threads" = 2 ] && echo 1 || echo 0)" '
  function median(list,    n, v, i, j, t) {
    n = split(list, v, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  function low(list,    n, v, i, m) { n = split(list, v, " "); m = v[1]; for (i = 2; i <= n; i++) if (v[i] + 0 < m + 0) m = v[i]; return m }
  function high(list,   n, v, i, m) { n = split(list, v, " "); m = v[1]; for (i = 2; i <= n; i++) if (v[i] + 0 > m + 0) m = v[i]; return m }
  { key = $1 SUBSEP $2 SUBSEP $3; ips[key] = ips[key] " " $4; gflops[key] = gflops[key] " " $5
    if ($6 + 0 > rss[key] + 0) rss[key] = $6 }
  END {
    print "| arch | mode | blasto img/s | PyTorch img/s (layout) | ratio | blasto GFLOP/s | % of peak | blasto min–max img/s | PyTorch min–max img/s | ratio of maxima | peak RSS blasto / PyTorch (MiB) |"
    print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    na = split(archs, arch_list, " "); nm = split(modes, mode_list, " "); nl = split(layouts, layout_list, " ")
    for (a = 1; a <= na; a++) for (m = 1; m <= nm; m++) {
      arch = arch_list[a]; mode = mode_list[m]; ours = "blasto" SUBSEP arch SUBSEP mode
      if (!(ours in ips)) continue
      best = ""; best_ips = -1
      for (l = 1; l <= nl; l++) {
        theirs = layout_list[l] SUBSEP arch SUBSEP mode
        if ((theirs in ips) && median(ips[theirs]) + 0 > best_ips) { best = layout_list[l]; best_ips = median(ips[theirs]) }
      }
      theirs = best SUBSEP arch SUBSEP mode
      a_ips = median(ips[ours]); g = median(gflops[ours])
      printf "| %s | %s | %.2f | %.2f (%s) | %.2f | %.1f | %.0f %% | %.2f–%.2f | %.2f–%.2f | %.2f | %.0f / %.0f |\n",
        arch, mode, a_ips, best_ips, best, a_ips / best_ips, g, 100 * g / (peak * threads),
        low(ips[ours]), high(ips[ours]), low(ips[theirs]), high(ips[theirs]), high(ips[ours]) / high(ips[theirs]),
        rss[ours], rss[theirs]
      for (l = 1; l <= nl; l++) {
        other = layout_list[l] SUBSEP arch SUBSEP mode
        if (layout_list[l] != best && (other in ips)) note = note sprintf("%s %s: PyTorch %s %.2f img/s; ", arch, mode, layout_list[l], median(ips[other]))
      }
      if (arch == "resnet50" && mode == "infer" && standard) acceptance = a_ips / best_ips
    }
    if (note != "") print "\nother layout: " note
    if (acceptance != "")
      printf "\nacceptance: ResNet50 forward ratio %.2f, needs >= 0.33 (within 3x of PyTorch CPU): %s\n",
        acceptance, (acceptance >= 0.33 ? "PASS" : "FAIL")
  }' "$out/results.txt"
echo "(raw results: $out/results.txt)"
