#!/usr/bin/env bash
# Builds here, on the development machine, the binaries tools/gpu_check.sh runs on the GPU machine
# (vconv, vconv_cuda_tests for sm_90a, and vconv_tests, whose CPU kernels the GPU machine's host
# may run where this one cannot, e.g. AVX-512; the cuDNN comparison compiled against the headers of the
# cuDNN wheel PyTorch brings there), stripped, into devbin/NAME.tar.xz (ignored by git; name
# devbin in the device call's carry). A device call then spends no minutes compiling, and one call
# can time two commits' binaries side by side:
#   BINARIES=devbin/NAME.tar.xz STEPS="gpu sanitizer verify bench" bash tools/gpu_check.sh
# The Python extension is not among them (the GPU machine's Python differs from this one's): the
# python and pybuild steps still build there.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: tools/pack_gpu_binaries.sh NAME}
build=${BUILD_DIR:-build-bins}
cudnn=${CUDNN_DIR:-/tmp/vconv-cudnn}
if [ ! -f "$cudnn/nvidia/cudnn/include/cudnn.h" ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_27_x86_64 -d "$cudnn" "nvidia-cudnn-cu13==9.19.*"
  unzip -q -o "$cudnn"/nvidia_cudnn_cu13-*.whl 'nvidia/cudnn/include/*' \
    'nvidia/cudnn/lib/libcudnn.so.9' -d "$cudnn"
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DVCONV_CUDNN=ON -DVCONV_CUDNN_ROOT="$cudnn/nvidia/cudnn" >/dev/null
cmake --build "$build" --target vconv vconv_cuda_tests vconv_tests
staging=$(mktemp -d)
mkdir -p "$staging/tests" devbin
strip -o "$staging/vconv" "$build/vconv"
strip -o "$staging/tests/vconv_cuda_tests" "$build/tests/vconv_cuda_tests"
strip -o "$staging/tests/vconv_tests" "$build/tests/vconv_tests"
tar cJf "devbin/$name.tar.xz" -C "$staging" vconv tests/vconv_cuda_tests tests/vconv_tests
rm -rf "$staging"
ls -l "devbin/$name.tar.xz"
