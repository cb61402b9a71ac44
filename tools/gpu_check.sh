#!/usr/bin/env bash
# gpu_check.sh — everything the CUDA backend needs checked on a GPU machine, in one run of under 8 minutes:
# configure + build with CUDA (sm_90 unless CUDA_ARCHITECTURES says otherwise), `blasto info`, the op-test harness
# on every backend including cuda (every test_op_<op>), test_cuda_backend and test_cuda_models, then whole-model
# throughput of blasto against PyTorch eager on the same GPU: ResNet50, VGG16, DenseNet121 × train, infer at batch
# 64, 224×224, first fp32 (TF32 off on both sides), then TF32 on, each side's peak GPU memory too; a
# compute-sanitizer memcheck of test_cuda_backend and of test_op on a few ops ends the run. Prints a short Markdown
# table LAST.
#
# For: any machine with an NVIDIA GPU, the CUDA toolkit (nvcc; cuDNN from the system or PyTorch's wheel), CMake and
# python3 with PyTorch + torchvision (the other side of the benchmark); no network needed. Run from anywhere:
# tools/gpu_check.sh
#
# Method (docs/cuda.md, "How to run the GPU checks"): for every (arch, mode, precision) one blasto process and one
# PyTorch process, in alternating order (which side goes first flips every time, so a slow phase of the machine hits
# both sides alike); each process does WARMUP untimed steps and REPEATS timed steps, each step timed with the device
# synchronised, and reports the median. ROUNDS > 1 repeats the whole interleaved sweep and the table gives the
# median over rounds. Ratio = blasto img/s / PyTorch img/s (> 1: blasto faster). Peak GPU memory: blasto's
# bl_cuda_peak_bytes (every cudaMalloc of the backend: arenas, cuDNN workspace, scratch) against PyTorch's
# torch.cuda.max_memory_allocated (live tensors + workspaces; its caching allocator's reserve and both CUDA contexts
# are not counted).
#
# Dependencies the build needs that such a machine may lack:
#   cuDNN headers/library: taken from /usr, /usr/local/cuda, or PyTorch's own nvidia-cudnn wheel (found through
#     python3) — set CUDNN_INCLUDE / CUDNN_LIBRARY to override;
#   cJSON and stb (Debian libcjson-dev, libstb-dev): if the machine has none, make .gpu_deps/ on a Debian machine
#     that has them with `tools/gpu_check.sh --prepare-deps` (headers and shared libraries; it lists /.gpu_deps/ in
#     the repository's info/exclude so git ignores it) and copy it into the checkout on the GPU machine; the script
#     uses .gpu_deps/ when it exists.
#
# Environment: OUT (the folder the logs and results are written to; default ./gpu_check_out), BUILD (default
# build-gpu), CUDA_ARCHITECTURES (CMAKE_CUDA_ARCHITECTURES, default 90: H100/H200 machine code plus PTX for newer
# GPUs; 80 for an A100, native for the build machine's GPU), ROUNDS (default 1), WARMUP
# (default 2), REPEATS (default 5), ARCHS (default "resnet50 vgg16 densenet121"), MODES (default "train infer"),
# PRECISIONS (default "fp32 tf32"; "fp32-transform" adds a run where blasto may also use cuDNN's FFT/Winograd
# algorithms, BLASTO_CUDA_TRANSFORM_ALGOS=1, against PyTorch fp32), BATCH (64), SIZE (224), PYTHON (python3),
# BUDGET (seconds for the whole script, default 460: the benchmark stops starting new runs when it is spent and
# reports what it has), JOBS (build parallelism, 16), USE_GPU_DEPS=1 (take cJSON/stb from .gpu_deps/ even when the
# system has them), SANITIZE=0 (skip the compute-sanitizer memcheck that ends the run; the benchmark leaves it
# SANITIZE_RESERVE seconds, default 100), MEMCHECK_OPS (the ops whose `test_op OP --backend cuda` runs under it,
# in order, while time is left; default "conv2d batchnorm2d linear sgemm maxpool2d concat_channels"), CTEST_TIMEOUT
# (per test, default 300 s), SKIP_TESTS=1, SKIP_BUILD=1 (reuse BUILD as it is: a rerun on the same machine),
# TABLE_ONLY=1 (print the table of OUT's results.tsv).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${1:-}" = "--prepare-deps" ]; then
  # run on a Debian machine that has libcjson-dev and libstb-dev: copy headers + shared libraries into .gpu_deps
  mkdir -p .gpu_deps/include .gpu_deps/lib
  cp -r /usr/include/cjson /usr/include/stb .gpu_deps/include/
  cp -P /usr/lib/x86_64-linux-gnu/libcjson.so* /usr/lib/x86_64-linux-gnu/libstb.so* .gpu_deps/lib/
  exclude=$(git rev-parse --git-path info/exclude 2>/dev/null || true)  # also right inside a git worktree
  if [ -n "$exclude" ]; then
    mkdir -p "$(dirname "$exclude")"
    grep -qx '/.gpu_deps/' "$exclude" 2>/dev/null || echo '/.gpu_deps/' >> "$exclude"
  fi
  echo "gpu_check: .gpu_deps/ ready ($(du -sh .gpu_deps | cut -f1)); copy it into the checkout on the GPU machine"
  exit 0
fi

start_seconds=$SECONDS
budget=${BUDGET:-460}
out=${OUT:-$root/gpu_check_out}
build=${BUILD:-build-gpu}
rounds=${ROUNDS:-1}
warmup=${WARMUP:-2}
repeats=${REPEATS:-5}
archs=${ARCHS:-resnet50 vgg16 densenet121}
modes=${MODES:-train infer}
precisions=${PRECISIONS:-fp32 tf32}
batch=${BATCH:-64}
size=${SIZE:-224}
python=${PYTHON:-python3}
cuda_archs=${CUDA_ARCHITECTURES:-90}
memcheck_ops=${MEMCHECK_OPS:-conv2d batchnorm2d linear sgemm maxpool2d concat_channels}
mkdir -p "$out"
log=$out/gpu_check.log
results=$out/results.tsv
# ---- the table (last) -------------------------------------------------------------------------------------------
print_table() {
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
table=$(awk -F'\t' -v gpu="${gpu:-unknown GPU}" -v tests="$tests_status" -v batch="$batch" -v size="$size" '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    if (n == 0) return ""
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    key = $2 " " $3 " " $4
    if (!(key in seen)) { seen[key] = 1; keys[++nk] = key }
    if ($5 != "fail") ips[$1, key] = ips[$1, key] " " $5; else failed[$1, key] = 1
    if ($6 != "?" && ($6 + 0 > mem[$1, key] + 0)) mem[$1, key] = $6
  }
  END {
    printf "\n### blasto vs PyTorch eager on %s (batch %d, %dx%d; CUDA tests: %s)\n\n", gpu, batch, size, size, tests
    print "| arch | mode | precision | blasto img/s | PyTorch img/s | ratio | blasto peak MiB | PyTorch peak MiB |"
    print "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
    for (i = 1; i <= nk; i++) {
      split(keys[i], k, " ")
      b = median(ips["blasto", keys[i]]); p = median(ips["pytorch", keys[i]])
      if (b == "") b = (("blasto", keys[i]) in failed) ? "fail" : "-"
      if (p == "") p = (("pytorch", keys[i]) in failed) ? "fail" : "-"
      r = (b + 0 > 0 && p + 0 > 0) ? sprintf("%.2f", b / p) : "-"
      bm = (("blasto", keys[i]) in mem) ? mem["blasto", keys[i]] : "?"
      pm = (("pytorch", keys[i]) in mem) ? mem["pytorch", keys[i]] : "?"
      printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", k[1], k[2], k[3], b, p, r, bm, pm
    }
  }' "$results")
echo "$table"
}
tests_status="see gpu_check.log"
if [ "${TABLE_ONLY:-0}" = 1 ]; then print_table; exit 0; fi
: > "$log"
: > "$results"
say() { echo "$@" | tee -a "$log"; }
left() { echo $((budget - (SECONDS - start_seconds))); }
# seconds the benchmark keeps back for the memcheck phase at the end
reserve=0
[ "${SANITIZE:-1}" = 1 ] && [ "${SKIP_TESTS:-0}" != 1 ] && command -v compute-sanitizer > /dev/null && reserve=${SANITIZE_RESERVE:-100}
bench_left() { echo $(( $(left) - reserve )); }
phase() { say ""; say "=== $1 (t = $((SECONDS - start_seconds)) s)"; }

command -v nvcc > /dev/null || { [ -x /usr/local/cuda/bin/nvcc ] && export PATH=/usr/local/cuda/bin:$PATH; }

phase "machine"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi failed"
  nvcc --version 2>&1 | tail -n 2
  cmake --version 2>&1 | head -n 1
  "$python" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "device", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")' 2>&1
  nproc
  echo "nvcc at $(command -v nvcc)"; ls /usr/local/cuda/lib64 2>/dev/null | grep -E '^libcublas\.so' | head -n 2
  command -v compute-sanitizer || echo "no compute-sanitizer"
} 2>&1 | tee -a "$log"

phase "dependencies"
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DBLASTO_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$cuda_archs" -DBUILD_TESTING=ON)
extra_ld=""
cudnn_inc=${CUDNN_INCLUDE:-}
cudnn_lib=${CUDNN_LIBRARY:-}
if [ -z "$cudnn_inc" ]; then
  for d in /usr/include /usr/local/cuda/include /usr/include/x86_64-linux-gnu; do
    [ -f "$d/cudnn.h" ] && { cudnn_inc=$d; break; }
  done
fi
if [ -z "$cudnn_lib" ]; then
  for f in /usr/lib/x86_64-linux-gnu/libcudnn.so /usr/local/cuda/lib64/libcudnn.so; do
    [ -e "$f" ] && { cudnn_lib=$f; break; }
  done
fi
if [ -z "$cudnn_inc" ] || [ -z "$cudnn_lib" ]; then
  # PyTorch's wheel: site-packages/nvidia/cudnn/{include,lib}; its library has no unversioned libcudnn.so
  wheel=$("$python" -c 'import nvidia.cudnn, os; print(list(nvidia.cudnn.__path__)[0])' 2>/dev/null || true)
  if [ -n "$wheel" ]; then
    [ -z "$cudnn_inc" ] && [ -f "$wheel/include/cudnn.h" ] && cudnn_inc=$wheel/include
    [ -z "$cudnn_lib" ] && cudnn_lib=$(ls "$wheel"/lib/libcudnn.so* 2>/dev/null | head -n 1)
    extra_ld="$wheel/lib"
  fi
fi
say "cuDNN: include ${cudnn_inc:-NOT FOUND}, library ${cudnn_lib:-NOT FOUND}"
if [ -z "$cudnn_inc" ] || [ -z "$cudnn_lib" ]; then
  say "gpu_check: cuDNN not found (set CUDNN_INCLUDE and CUDNN_LIBRARY)"; exit 1
fi
cmake_args+=(-DBLASTO_CUDNN_INCLUDE="$cudnn_inc" -DBLASTO_CUDNN_LIB="$cudnn_lib")
[ -z "$extra_ld" ] && extra_ld=$(dirname "$cudnn_lib")
if [ ! -f /usr/include/cjson/cJSON.h ] || [ ! -f /usr/include/stb/stb_image.h ] || [ "${USE_GPU_DEPS:-0}" = 1 ]; then
  if [ -d .gpu_deps ]; then
    deps=$root/.gpu_deps
    cmake_args+=(-DCJSON_INCLUDE_DIR="$deps/include" -DCJSON_LIBRARY="$deps/lib/libcjson.so"
                 -DSTB_INCLUDE_DIR="$deps/include" -DSTB_LIBRARY="$deps/lib/libstb.so")
    extra_ld="$extra_ld:$deps/lib"
    say "cJSON/stb: from .gpu_deps/"
  else
    say "gpu_check: cJSON/stb headers missing and no .gpu_deps/ (run tools/gpu_check.sh --prepare-deps on a Debian machine and copy .gpu_deps/ into this checkout)"
    exit 1
  fi
fi
# blasto's side only: a system cuDNN put first on PyTorch's library path shadows the one its wheel bundles (e.g.
# /usr/lib's cuDNN 9.14 against the wheel's 9.19: every PyTorch run refuses to start)
blasto_ld="$extra_ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
with_blasto_libs() { LD_LIBRARY_PATH="$blasto_ld" "$@"; }
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)

phase "configure + build (CUDA, architectures $cuda_archs)"
if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$build/blasto" ]; then
  say "SKIP_BUILD=1: using $build as it is"
else
  rm -rf "$build"
  timeout 60 cmake -S . -B "$build" "${generator[@]}" "${cmake_args[@]}" >> "$log" 2>&1 || {
    say "gpu_check: configure failed:"; tail -n 30 "$log"; exit 1; }
  # only what this script runs: the command, the op-test harness and the two CUDA tests (the rest of the suite is
  # CPU work)
  timeout 300 cmake --build "$build" -j"${JOBS:-16}" --target blasto_cli test_op test_cuda_backend test_cuda_models >> "$log" 2>&1 || {
    say "gpu_check: build failed (errors):"; grep -E "error|Error" "$log" | head -n 30; exit 1; }
  grep -iE "warning" "$log" | grep -v "^--" | head -n 20 | tee -a "$out/warnings.txt"
  say "build done"
fi

phase "blasto info"
with_blasto_libs timeout 30 "$build/blasto" info 2>&1 | tee -a "$log"

tests_status="skipped"
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  phase "ctest: test_op_*, test_cuda_backend, test_cuda_models"
  (cd "$build" && with_blasto_libs timeout $((${CTEST_TIMEOUT:-300} + 30)) ctest -R '^(test_op_.*|test_cuda_backend|test_cuda_models)$' -V --timeout "${CTEST_TIMEOUT:-300}" -j2) > "$out/ctest_cuda.log" 2>&1
  rc=$?
  n_pass=$(grep -cE 'Test +#[0-9]+: .*Passed' "$out/ctest_cuda.log")
  n_skip=$(grep -cE 'Test +#[0-9]+: .*Skipped' "$out/ctest_cuda.log")
  n_fail=$(grep -cE 'Test +#[0-9]+: .*(Failed|Timeout|Exception)' "$out/ctest_cuda.log")
  tests_status="$n_pass passed, $n_skip skipped, $n_fail failed"
  [ $rc -ne 0 ] && tests_status="FAILED ($tests_status)"
  cat "$out/ctest_cuda.log" >> "$log"
  grep -E "tests passed|tests failed|Passed|Failed|\*\*\*|skipped" "$out/ctest_cuda.log" | tail -n 8
  # the margins of a passing run (test_cuda_models' worst error / tolerance per model and mode) and every summary
  grep -E "gradients \(max tolerance|test_(op_[a-z0-9_]+|cuda_backend|cuda_models): [0-9]+ passed" "$out/ctest_cuda.log" | cut -c1-200
  say "ctest test_op_*, test_cuda_backend, test_cuda_models: $tests_status"
fi

# ---- benchmark --------------------------------------------------------------------------------------------------
# run_side SIDE ARCH MODE PRECISION → appends "side arch mode precision img/s peakMiB" to results.tsv
run_side() {
  local side=$1 arch=$2 mode=$3 precision=$4 f=$out/last_run.txt tf32=() transform=0
  [ "$precision" = tf32 ] && tf32=(--tf32)
  [ "$precision" = fp32-transform ] && transform=1
  local limit=$(( $(bench_left) > 120 ? 120 : $(bench_left) ))
  [ "$limit" -lt 20 ] && return 1
  if [ "$side" = blasto ]; then
    BLASTO_CUDA_TRANSFORM_ALGOS=$transform with_blasto_libs timeout "$limit" "$build/blasto" bench "$mode" --arch "$arch" --device cuda "${tf32[@]}" --batch "$batch" \
      --size "$size" --warmup "$warmup" --repeats "$repeats" > "$f" 2>&1
  else
    PYTHONUNBUFFERED=1 timeout "$limit" "$python" tools/bench/pytorch_models.py "$mode" --arch "$arch" --device cuda \
      "${tf32[@]}" --batch "$batch" --size "$size" --warmup "$warmup" --repeats "$repeats" --threads 4 > "$f" 2>&1
  fi
  local rc=$?
  { echo "--- $side $arch $mode $precision (exit $rc)"; cat "$f"; } >> "$log"
  local ips mem
  ips=$(grep -E '^img/s:' "$f" | tail -n 1 | awk '{print $2}')
  mem=$(grep -iE '^peak (gpu|device|cuda)[^:]*:' "$f" | tail -n 1 | sed -E 's/.*: *([0-9.]+).*/\1/')
  [ $rc -eq 0 ] && [ -n "$ips" ] || { ips="fail"; say "  $side $arch $mode $precision: failed: $(grep -v '^#' "$f" | tail -n 1)"; }
  echo -e "$side\t$arch\t$mode\t$precision\t$ips\t${mem:-?}" >> "$results"
  say "  $side $arch $mode $precision: ${ips} img/s, peak GPU memory ${mem:-?} MiB"
}

phase "benchmark: batch $batch, ${size}x${size}, warmup $warmup, repeats $repeats, rounds $rounds"
order=0
for round in $(seq 1 "$rounds"); do
  for precision in $precisions; do
    for arch in $archs; do
      for mode in $modes; do
        if [ "$(bench_left)" -lt 25 ]; then say "  budget spent: $arch $mode $precision round $round not run"; continue; fi
        if [ $((order % 2)) -eq 0 ]; then sides="blasto pytorch"; else sides="pytorch blasto"; fi
        order=$((order + 1))
        for side in $sides; do run_side "$side" "$arch" "$mode" "$precision"; done
      done
    done
  done
done


# ---- compute-sanitizer memcheck of test_cuda_backend and test_op on MEMCHECK_OPS (cuda configurations only), in what
# budget is left (SANITIZE=0 skips) ---------------------------------------------------------------------------------
if [ "${SANITIZE:-1}" = 1 ] && [ "${SKIP_TESTS:-0}" != 1 ] && command -v compute-sanitizer > /dev/null && [ "$(left)" -ge 40 ]; then
  phase "compute-sanitizer --tool memcheck test_cuda_backend + test_op OP --backend cuda ($(left) s left)"
  : > "$out/memcheck.log"
  for t in test_cuda_backend $memcheck_ops; do
    if [ "$t" = test_cuda_backend ]; then exe_name=test_cuda_backend; args=(); else exe_name=test_op; args=("$t" --backend cuda); fi
    if [ "$(left)" -lt 20 ]; then say "memcheck: budget spent, $t not run"; continue; fi
    exe=$(find "$build" -name "$exe_name" -type f -perm -u+x | head -n 1)
    with_blasto_libs timeout "$(( $(left) > 150 ? 150 : $(left) ))" compute-sanitizer --tool memcheck --leak-check full \
      --error-exitcode 9 "${exe:-$build/$exe_name}" ${args[@]+"${args[@]}"} >> "$out/memcheck.log" 2>&1
    say "memcheck $exe_name ${args[*]:-} exit $? ($(grep -cE '^========= (Invalid|Program hit|Leaked)' "$out/memcheck.log") findings so far)"
  done
  say "memcheck: $(grep -E 'ERROR SUMMARY' "$out/memcheck.log" | tr '\n' ' ')"
fi

table=$(print_table)
echo "$table" >> "$log"
say ""
say "gpu_check: total $((SECONDS - start_seconds)) s; full log $log"
echo "$table"
