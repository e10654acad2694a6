#!/usr/bin/env bash
# The GPU machine's one call: configure, build (sm_80 + sm_90a), run the CPU tests, the GPU tests,
# vconv verify on the GPU, compute-sanitizer over a subset, and the benchmarks; logs go to $OUT,
# a short summary is printed last.
#
# That machine reaches no package registry: the Debian packages the build needs travel in .deps/
# (fetched here with tools/fetch_gpu_deps.sh, ignored by git, named in the device call's carry).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/vconv-gpu-out}
mkdir -p "$OUT"
summary=()
step() {  # step NAME LOGFILE COMMAND...: runs, logs, records pass/fail
  local name=$1 log=$2
  shift 2
  local t0=$SECONDS
  "$@" >"$OUT/$log" 2>&1
  local rc=$?
  summary+=("$(printf '%-28s %s (%ds, log %s)' "$name" "$([ $rc -eq 0 ] && echo PASS || echo "FAIL rc=$rc")" $((SECONDS - t0)) "$log")")
  return $rc
}

prefix=/tmp/vconv-deps
if [ -d .deps ]; then
  mkdir -p $prefix
  for f in .deps/*.deb; do dpkg -x "$f" $prefix 2>/dev/null || (ar p "$f" data.tar.xz | tar xJ -C $prefix); done
fi
arch=x86_64-linux-gnu
build=${BUILD_DIR:-build-gpu}
configure() {
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="80;90a" \
    -DCMAKE_PREFIX_PATH="$prefix/usr" -DVCONV_OPENBLAS_DIR="$prefix/usr/lib/$arch/openblas-openmp" \
    -DVCONV_CBLAS_INCLUDE="$prefix/usr/include/$arch/openblas-openmp" "$@"
}
step configure configure.log configure ${VCONV_CMAKE_ARGS:-} || { printf '%s\n' "${summary[@]}"; tail -30 "$OUT/configure.log"; exit 1; }
step build build.log cmake --build "$build" -j "$(nproc)" || { printf '%s\n' "${summary[@]}"; grep -m20 -E "error" "$OUT/build.log"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv >"$OUT/gpu.txt" 2>&1

step "cpu tests (ctest)" ctest_cpu.log ctest --test-dir "$build" --output-on-failure -j 8 -LE gpu
step "gpu tests" gpu_tests.log "$build/tests/vconv_cuda_tests"
step "verify --device cuda" verify.log "$build/vconv" verify --device cuda --count 200 --seed 7
step "compute-sanitizer memcheck" sanitizer.log compute-sanitizer --tool memcheck --error-exitcode 1 \
  "$build/tests/vconv_cuda_tests" --gtest_filter='CudaSmall.EveryDtype*:CudaSmall.TwoStreams*'
step "bench seed" bench_seed.log "$build/vconv" bench --suite seed --device cuda --json "$OUT/seed.json"
step "bench vae" bench_vae.log "$build/vconv" bench --suite vae --device cuda --json "$OUT/vae.json"
for d in f32; do
  step "bench seed $d" "bench_seed_$d.log" "$build/vconv" bench --suite seed --device cuda --dtype $d
done

echo "== gpu"; cat "$OUT/gpu.txt"
echo "== gpu tests"; grep -E "^\[  (PASSED|FAILED|SKIPPED) |tests ran" "$OUT/gpu_tests.log" | head -20
echo "== verify"; tail -3 "$OUT/verify.log"
echo "== sanitizer"; tail -3 "$OUT/sanitizer.log"
echo "== bench seed"; cat "$OUT/bench_seed.log"
echo "== bench seed f32"; cat "$OUT/bench_seed_f32.log"
echo "== bench vae"; grep -E "plan:|planner|cuda" "$OUT/bench_vae.log" | head -40
echo "== summary"; printf '%s\n' "${summary[@]}"
