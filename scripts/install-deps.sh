#!/usr/bin/env bash
# Installs everything tokenfleet needs to build and test, from Debian 12's packages.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config \
  libsimgrid-dev libboost-graph-dev libspdlog-dev libfmt-dev catch2 libcli11-dev \
  libtomlplusplus-dev nlohmann-json3-dev \
  gnuplot-nox chromium zlib1g-dev util-linux bsdutils >/dev/null
echo "dependencies installed"
