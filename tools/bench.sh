#!/usr/bin/env bash
# The main job: installs what is missing, builds, and benchmarks the seed's cases on the GPU when
# one is present, else on the CPU. Extra arguments go to `vconv bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
# oneDNN joins the table as a comparison on the CPU.
EXTRA_PACKAGES=libdnnl-dev bash tools/install_deps.sh
# cuDNN joins it on the GPU when its header is found beside CUDA.
cudnn=OFF
if command -v nvcc >/dev/null && [ -f "$(dirname "$(command -v nvcc)")/../include/cudnn.h" ]; then cudnn=ON; fi
bash tools/build.sh -DVCONV_ONEDNN=ON -DVCONV_CUDNN=$cudnn
"${BUILD_DIR:-build}/vconv" bench --suite seed "$@"
