#!/usr/bin/env bash
# measure.sh — what a porter measures (docs/porting.md): the size of the smallest program that runs a model
# (tools/port/infer_min.c with the engine linked statically), the shared libraries it still needs, and the peak
# resident memory and time of one batch-1 inference of VGG16, ResNet50 and DenseNet121 at 224×224.
#
# Configures and builds two portable engine builds (no CUDA, no MPI) under OUT: with the SIMD kernels and without
# them (BLASTO_SIMD=OFF: the plain C every target compiles), then prints the Markdown tables of docs/porting.md.
#
# usage: tools/port/measure.sh            environment: OUT (build dirs, default /tmp/blasto-port), THREADS
#                                         (default 1: a small machine), CC (default cc), JOBS (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/blasto-port}
threads=${THREADS:-1}
jobs=${JOBS:-2}
mkdir -p "$out"

for variant in simd plain; do
  simd=ON; [ "$variant" = plain ] && simd=OFF
  cmake -S . -B "$out/$variant" -DCMAKE_BUILD_TYPE=Release -DBLASTO_CUDA=OFF -DBLASTO_MPI=OFF -DBLASTO_SIMD=$simd \
        -DBUILD_TESTING=OFF > "$out/$variant.cmake.log"
  cmake --build "$out/$variant" -j "$jobs" --target blasto_infer_min > "$out/$variant.build.log"
  strip -o "$out/$variant/infer_min.stripped" "$out/$variant/infer_min"
done

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(${CC:-cc} --version | head -n 1)"
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), threads $threads"
echo
echo "| build | infer_min stripped (bytes) | unstripped (bytes) | shared libraries it needs |"
echo "|---|---:|---:|---|"
for variant in simd plain; do
  libs=$(ldd "$out/$variant/infer_min" | awk '$1 !~ /linux-vdso|ld-linux/ { print $1 }' | tr '\n' ' ')
  echo "| $variant | $(stat -c %s "$out/$variant/infer_min.stripped") | $(stat -c %s "$out/$variant/infer_min") | $libs|"
done
echo
echo "| model, batch 1, 224×224 | build | peak RSS (MiB) | wall (s), with the weight fill | weights (MiB, float32) |"
echo "|---|---|---:|---:|---:|"
for arch in vgg16 resnet50 densenet121; do
  for variant in simd plain; do
    line=$( { /usr/bin/env time -f "%e" env BLASTO_THREADS="$threads" "$out/$variant/infer_min" "$arch" 224; } 2>&1 )
    rss=$(printf '%s\n' "$line" | sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p')
    wall=$(printf '%s\n' "$line" | tail -n 1)
    case $arch in vgg16) w=527.8 ;; resnet50) w=97.5 ;; densenet121) w=30.4 ;; esac
    echo "| $arch | $variant | $rss | $wall | $w |"
  done
done
