#!/usr/bin/env bash
# The GPU machine's one call: configure, build (sm_80 + sm_90a), run the GPU tests, compute-sanitizer
# (four tools over every GPU test), vconv verify on the GPU, the benchmarks against cuDNN, then the CPU tests; logs go
# to $OUT, each step's result is printed as it ends and a summary last.
#
# That machine reaches no package registry: the Debian packages the build needs travel in .deps/
# (fetched here with tools/fetch_gpu_deps.sh, ignored by git, named in the device call's carry).
# STEPS picks steps by name: build gpu sanitizer verify bench vae python pybuild cpu (default: all
# but vae, the long run of the whole vae and decode_chunks suites, and pybuild, the Python tests,
# the blocks benchmark and, with diffusers' wheel in .whl/ (carried like .deps), the Wan decode on
# the extension of this build instead of pip's). STEP_TIMEOUT (seconds, default 900) ends a step
# that hangs. BINARIES=devbin/NAME.tar.xz (tools/pack_gpu_binaries.sh, built on the development
# machine) puts those binaries in the build directory instead of the build step.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/vconv-gpu-out}
STEPS=${STEPS:-build gpu sanitizer verify bench python cpu}
mkdir -p "$OUT"
summary=()
want() { [[ " $STEPS " == *" $1 "* ]]; }
step() {  # step NAME LOGFILE COMMAND...: runs, logs, records pass/fail; STEP_TIMEOUT bounds it
  local name=$1 log=$2
  shift 2
  local t0=$SECONDS
  local bound=(timeout "${STEP_TIMEOUT:-900}")
  [ "$(type -t "$1")" = function ] && bound=()  # the build's own functions are not bounded
  "${bound[@]}" "$@" >"$OUT/$log" 2>&1
  local rc=$?
  local line
  line=$(printf '%-28s %s (%ds, log %s)' "$name" "$([ $rc -eq 0 ] && echo PASS || echo "FAIL rc=$rc")" $((SECONDS - t0)) "$log")
  summary+=("$line")
  echo "$line"
  return $rc
}

prefix=/tmp/vconv-deps
if [ -d .deps ]; then
  mkdir -p $prefix
  for f in .deps/*.deb; do dpkg -x "$f" $prefix 2>/dev/null || (ar p "$f" data.tar.xz | tar xJ -C $prefix); done
fi
# cuDNN: the toolkit's, else the one PyTorch's wheels bring.
cudnn_root=$(python3 -c "import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))" 2>/dev/null || true)
build=${BUILD_DIR:-build-gpu}
configure() {
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="80;90a" \
    -DCMAKE_PREFIX_PATH="$prefix/usr" -DVCONV_CUDNN=ON \
    -DVCONV_CUDNN_ROOT="$cudnn_root" "$@"
}
if [ -n "${BINARIES:-}" ]; then
  mkdir -p "$build" && tar xJf "$BINARIES" -C "$build" || exit 1
  export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}  # cuBLAS, the CUDA runtime
elif want build; then
  step configure configure.log configure ${VCONV_CMAKE_ARGS:-} || { tail -30 "$OUT/configure.log"; exit 1; }
  build_all() { cmake --build "$build" -j "$(nproc)"; }  # a function: STEP_TIMEOUT leaves it be
  step build build.log build_all || { grep -m20 -E "error" "$OUT/build.log"; exit 1; }
fi
[ -n "$cudnn_root" ] && export LD_LIBRARY_PATH="$cudnn_root/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv >"$OUT/gpu.txt" 2>&1
cli="$build/vconv"

# Scratch poisoned (src/cuda/device_scope.h): an output computed from scratch that no kernel wrote
# fails the tests' comparisons.
want gpu && step "gpu tests" gpu_tests.log env VCONV_POISON_SCRATCH=1 "$build/tests/vconv_cuda_tests"
if want sanitizer; then
  # Every tool over every GPU test (issue 13), each in 4 gtest shards run at once, one OpenMP
  # thread per process: the CPU references of 16 processes share the cores (with every process
  # taking all of them, 2026-12-05, they crawled past every limit). The tests poison outputs, so an
  # unwritten element also fails their comparisons; initcheck names the read. racecheck leaves out
  # cuBLAS's own GEMM kernels (nvjet_*, cuda_gemm_fallback's product), whose shared-memory
  # protocol it reports as hazards (docs/PERFORMANCE.md, 2026-12-05). initcheck leaves out
  # store_rows_kernel: it reports that kernel reading cuda_gemm_fallback's fp32 buffer, which
  # cuBLAS wrote, as unwritten; the "gpu tests" step runs with that buffer poisoned (NaN) and
  # passes, so every element it reads was written (docs/PERFORMANCE.md, 2026-12-05, third session).
  sanitize() {  # sanitize TOOL [OPTIONS...]: the shards' logs in sanitizer_TOOL.log, a failing rc
    local tool=$1 rc=0 pids=() shard
    shift
    for shard in 0 1 2 3; do
      # Each process its own temporary folder: the same test runs under the four tools at once
      # (the autotune test writes a cache file there).
      mkdir -p "/tmp/vconv-sanitize/$tool.$shard"
      TEST_TMPDIR="/tmp/vconv-sanitize/$tool.$shard/" GTEST_TOTAL_SHARDS=4 GTEST_SHARD_INDEX=$shard \
        OMP_NUM_THREADS=1 timeout "${STEP_TIMEOUT:-900}" \
        compute-sanitizer --tool "$tool" --error-exitcode 1 --print-limit 20 "$@" \
        "$build/tests/vconv_cuda_tests" >"$OUT/sanitizer_$tool.$shard.log" 2>&1 &
      pids+=($!)
    done
    for shard in 0 1 2 3; do wait "${pids[$shard]}" || rc=$?; done
    cat "$OUT"/sanitizer_"$tool".?.log >"$OUT/sanitizer_$tool.log" && rm "$OUT"/sanitizer_"$tool".?.log
    echo $rc >"$OUT/sanitizer_$tool.rc"
  }
  sanitize memcheck & sanitize initcheck --kernel-name-exclude kns=store_rows_kernel &
  sanitize synccheck &
  sanitize racecheck --kernel-name-exclude kns=nvjet &
  wait
  for tool in memcheck initcheck synccheck racecheck; do  # the results, as steps
    step "compute-sanitizer $tool" "sanitizer_$tool.rc.log" test "$(cat "$OUT/sanitizer_$tool.rc")" = 0
  done
fi
# Issue 13: >= 10,000 random problems on the GPU too (every CUDA algorithm that runs each).
want verify && step "verify --device cuda" verify.log "$cli" verify --device cuda --count 20000 --seed 7
if want bench; then
  step "bench seed bf16" bench_seed.log "$cli" bench --suite seed --device cuda --json "$OUT/seed.json"
  step "bench seed f32 exact" bench_seed_f32.log "$cli" bench --suite seed --device cuda --dtype f32 \
    --algo cuda_implicit_gemm,cuda_gemm_fallback --json "$OUT/seed_f32.json"
  step "bench seed f32 tf32" bench_seed_tf32.log "$cli" bench --suite seed --device cuda --dtype f32 \
    --fp32-math tf32 --algo cuda_implicit_gemm,cuda_gemm_fallback,cuda_implicit_gemm_sm90_ws,cuda_implicit_gemm_sm90_im2col \
    --json "$OUT/seed_tf32.json"
  step "bench output_conv bf16" bench_output_conv.log "$cli" bench --suite output_conv --device cuda \
    --algo cuda_implicit_gemm,cuda_implicit_gemm_narrow --json "$OUT/output_conv.json"
fi
if want vae; then
  step "bench vae bf16" bench_vae.log "$cli" bench --suite vae --device cuda \
    --algo cuda_implicit_gemm_sm90_ws,cuda_implicit_gemm_sm90_im2col,cuda_implicit_gemm_sm90,cuda_implicit_gemm --json "$OUT/vae.json"
  step "bench decode_chunks bf16" bench_decode_chunks.log "$cli" bench --suite decode_chunks --device cuda \
    --algo cuda_implicit_gemm_sm90_ws,cuda_implicit_gemm_sm90_im2col,cuda_implicit_gemm_sm90,cuda_implicit_gemm --json "$OUT/decode_chunks.json"
fi
if want python; then
  # The Python package built here the way the README says (no registry: --no-build-isolation),
  # its tests (the GPU ones included) and its benchmark against torch.
  pyinstall() {
    python3 -m pip install --no-build-isolation --no-deps -v . \
      -Ccmake.define.CMAKE_CUDA_ARCHITECTURES="80;90a"
  }
  step "pip install ." pip_install.log pyinstall
  step "pytest tests/python" pytest.log python3 -m pytest tests/python -v -rs
  step "python -m vconv.bench seed" pybench_seed.log python3 -m vconv.bench --suite seed
  step "python -m vconv.bench output_conv" pybench_output_conv.log python3 -m vconv.bench --suite output_conv
  step "python -m vconv.bench blocks" pybench_blocks.log python3 -m vconv.bench --suite blocks
fi
if want pybuild; then
  # The extension from the build above (configure with VCONV_CMAKE_ARGS=-DVCONV_PYTHON=ON) beside
  # the package's Python files: the Python tests without pip's second compile of every kernel.
  pyprefix=/tmp/vconv-py
  rm -rf "$pyprefix" && mkdir -p "$pyprefix/vconv" && cp python/vconv/*.py "$pyprefix/vconv/"
  step "python package from the build" pybuild.log cmake --install "$build" --component python \
    --prefix "$pyprefix"
  step "pytest tests/python" pytest.log env PYTHONPATH="$pyprefix" python3 -m pytest tests/python -v -rs
  step "python -m vconv.bench blocks" pybench_blocks.log env PYTHONPATH="$pyprefix" python3 -m vconv.bench \
    --suite blocks --profile
  # The Wan 2.1 decode (issue 12), where diffusers is importable: its wheel travels in .whl/
  # (tools/fetch_gpu_deps.sh downloads it here; the machine reaches no registry).
  if ls .whl/diffusers-*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/vconv-whl .whl/*.whl
    step "python -m vconv.bench decode" pybench_decode.log env PYTHONPATH="$pyprefix:/tmp/vconv-whl" \
      python3 -m vconv.bench --suite decode --repeat 3 --profile
  fi
fi
if want cpu; then
  if [ -n "${BINARIES:-}" ]; then  # no CTest files among carried binaries: the host tests alone
    step "cpu tests (vconv_tests)" ctest_cpu.log "$build/tests/vconv_tests"
  else
    step "cpu tests (ctest)" ctest_cpu.log ctest --test-dir "$build" --output-on-failure -j 8 -LE gpu
  fi
fi

echo "== gpu"; cat "$OUT/gpu.txt"
for f in gpu_tests sanitizer_memcheck sanitizer_initcheck sanitizer_racecheck sanitizer_synccheck verify; do
  [ -f "$OUT/$f.log" ] && { echo "== $f"; grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAIL|ERROR SUMMARY|RACECHECK SUMMARY|Hazard|failures" "$OUT/$f.log" | head -20; }
done
[ -f "$OUT/pytest.log" ] && { echo "== pytest"; grep -E "FAILED|ERROR|SKIPPED|passed|failed" "$OUT/pytest.log" | tail -15; }
for f in pybench_seed pybench_output_conv pybench_blocks pybench_decode; do [ -f "$OUT/$f.log" ] && { echo "== $f"; cat "$OUT/$f.log"; }; done
for f in bench_seed bench_seed_f32 bench_seed_tf32 bench_output_conv bench_vae bench_decode_chunks; do
  [ -f "$OUT/$f.log" ] && { echo "== $f"; grep -vE "^(bf16|f32|f16) .*(reference)" "$OUT/$f.log" | cut -c1-160; }
done
echo "== summary"; printf '%s\n' "${summary[@]}" | tee "$OUT/summary.txt"
# The device tool brings back at most 8 files: every log and JSON record travels in one archive.
tar czf /tmp/vconv-gpu-logs.tgz -C "$OUT" --exclude summary.txt . && find "$OUT" -mindepth 1 \
  ! -name summary.txt -delete && mv /tmp/vconv-gpu-logs.tgz "$OUT/logs.tgz"
