#!/usr/bin/env bash
# Downloads (here, where Debian's archive and PyPI are reachable) what tools/gpu_check.sh needs on
# the GPU machine: the Debian packages it unpacks, into .deps/, and the wheels of diffusers and its
# two dependencies the machine lacks (for the Wan decode benchmark; the machine's Python is 3.12),
# into .whl/. Both are ignored by git; name them in the device call's carry.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .deps .whl
(cd .deps && apt-get download libgtest-dev libcli11-dev nlohmann-json3-dev)
python3 -m pip download -q --no-deps --python-version 3.12 --only-binary=:all: -d .whl \
  diffusers==0.42.1 importlib_metadata==10.2.0 lazy_importer==0.1.0
