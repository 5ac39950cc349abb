#!/usr/bin/env bash
# Fetch, on a machine with a package index, the wheels benchmarks/gpu_check.sh needs on a CUDA
# machine that has PyTorch but no index (CPython 3.12, x86-64 Linux): pipezero's runtime
# dependencies that such an image lacks, and ale-py for the Atari run. They land in .whl/
# (ignored by git), which gpu_check.sh installs from with --no-index.
#
#   benchmarks/gpu_wheels.sh            # then carry .whl/ to the CUDA machine with the tree
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
# easydict ships no wheel: build one here (pure Python, any platform)
"$PY" -m pip wheel -q --no-deps -w .whl "easydict>=1.10"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d .whl \
    "gymnasium>=0.29" farama-notifications "tensorboardX>=2.6" "ale-py>=0.9"
ls -1 .whl
