#!/usr/bin/env bash
# The main job: installs what is missing, builds, and benchmarks the seed's cases on the GPU when
# one is present, else on the CPU. Extra arguments go to `vconv bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_PACKAGES="python3 python3-venv" bash tools/install_deps.sh
# oneDNN 3.x joins the table as a comparison on the CPU: PyPI's onednn-devel, in a virtual
# environment of its own (Debian's libdnnl-dev is 2.x, 1.5-2.5x slower). Without PyPI (a machine
# that reaches no registry) the benchmark runs without it and says so.
onednn=$(realpath -m "${BUILD_DIR:-build}/onednn-venv")
onednn_args=(-DVCONV_ONEDNN=OFF)
if { [ -x "$onednn/bin/python" ] || python3 -m venv "$onednn"; } &&
  "$onednn/bin/python" -m pip install -q --disable-pip-version-check onednn onednn-devel; then
  onednn_args=(-DVCONV_ONEDNN=ON -DVCONV_ONEDNN_ROOT="$onednn")
  # PyPI's oneDNN runs its CPU engine on SYCL, whose CPU device is the OpenCL runtime beside it;
  # its .icd file names a path from the wheel's build, so the runtime is named here.
  export OCL_ICD_FILENAMES=$onednn/lib/libintelocl.so
else
  echo "bench.sh: oneDNN 3.x could not be installed from PyPI; benchmarking without it" >&2
fi
# cuDNN joins it on the GPU when its header is found beside CUDA.
cudnn=OFF
if command -v nvcc >/dev/null && [ -f "$(dirname "$(command -v nvcc)")/../include/cudnn.h" ]; then cudnn=ON; fi
bash tools/build.sh "${onednn_args[@]}" -DVCONV_CUDNN=$cudnn
"${BUILD_DIR:-build}/vconv" bench --suite seed "$@"
