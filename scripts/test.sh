#!/usr/bin/env bash
# Builds tokenfleet (Release) and runs the whole test suite with ctest. With MPI (-DTF_MPI=ON: configuring fails
# without Open MPI, so the mpirun tests cannot be left out unseen).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTF_MPI=ON >/dev/null
cmake --build build -j"$(nproc)"
cd build && ctest --output-on-failure -j"$(nproc)"
