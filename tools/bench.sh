#!/usr/bin/env bash
# The main job: installs what is missing, builds, and benchmarks the seed's cases on the GPU when
# one is present, else on the CPU. Extra arguments go to `vconv bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
bash tools/build.sh
"${BUILD_DIR:-build}/vconv" bench --suite seed "$@"
