#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the C++ tests (ctest), then the Python
# package installed the way a user installs it (pip install . into a fresh virtual environment,
# build dependencies from PyPI) and its tests (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
bash tools/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"

# The CPU tests again under AddressSanitizer + UndefinedBehaviorSanitizer, CUDA off (GPU code is
# compute-sanitizer's, in tools/gpu_check.sh). install_and_consume is left out: its consumer
# project links the installed library without the sanitizers' runtime.
san=${BUILD_DIR:-build}-sanitize
BUILD_DIR=$san bash tools/build.sh -DVCONV_CUDA=OFF -DVCONV_SANITIZE=ON
# There every CPU algorithm's GEMM runs the portable kernel (src/cpu/packed_gemm.h), which the
# build above never reaches where the CPU has AVX2; scratch starts as NaN (src/cpu/scratch.h).
VCONV_CPU_GEMM_KERNEL=portable ctest --test-dir "$san" --output-on-failure -j "$(nproc)" -LE gpu \
  -E install_and_consume

venv=${BUILD_DIR:-build}/venv
if ! python3 -m venv --help >/dev/null 2>&1; then
  EXTRA_PACKAGES="python3-venv python3-pip" bash tools/install_deps.sh
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Without a GPU the package's CUDA code would only be compiled a second time (the build above
# compiled it) for tests that skip themselves there: the package is built without it.
pip_args=()
nvidia-smi -L >/dev/null 2>&1 || pip_args=(-Ccmake.define.VCONV_CUDA=OFF)
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${pip_args[@]}" . pytest
# torch and diffusers from PyPI (the versions these tests last ran against), so that vconv.torch,
# vconv.diffusers and vconv.distributed are tested too (about 2 minutes and 5 GB: PyPI's torch
# brings its CUDA libraries); VCONV_TEST_TORCH=0 leaves them out and those tests skip, visibly.
if [ "${VCONV_TEST_TORCH:-1}" != 0 ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check torch==2.15.0 diffusers==0.42.1
fi
"$venv/bin/python" -m pytest tests/python -q -rs
