#!/usr/bin/env bash
# Installs everything tokenfleet needs to build and test, from Debian 12's packages (clang and libclang-rt-14-dev:
# the sanitizer build and libFuzzer, scripts/test-sanitizers.sh and scripts/fuzz.sh; Open MPI: runs spread over
# machines with mpirun, and their tests).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config \
  clang libclang-rt-14-dev \
  libsimgrid-dev libboost-graph-dev libspdlog-dev libfmt-dev catch2 libcli11-dev \
  libtomlplusplus-dev nlohmann-json3-dev libopenmpi-dev openmpi-bin \
  gnuplot-nox chromium zlib1g-dev util-linux bsdutils >/dev/null
echo "dependencies installed"
