#!/usr/bin/env bash
# Downloads (here, where Debian's archive is reachable) the packages tools/gpu_check.sh unpacks on
# the GPU machine, into .deps/ (ignored by git; name it in the device call's carry).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .deps
cd .deps
apt-get download libgtest-dev libcli11-dev nlohmann-json3-dev libopenblas-openmp-dev libopenblas0-openmp
