#!/usr/bin/env bash
# Regenerates the golden outputs in tests/golden/ from the built binary, when a change to them is meant:
#   bash scripts/update-golden.sh [build/tokenfleet]
# Say in the commit which output changed and why. tests/test_golden.cpp runs the same command and compares bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/tokenfleet}
for toml in tests/golden/*.toml; do
  name=$(basename "$toml" .toml)
  rm -rf "tests/golden/$name"
  "$bin" run "$toml" --out "tests/golden/$name" --window 10 --quiet >/dev/null
  rm -f "tests/golden/$name/scenario.toml"
  echo "tests/golden/$name: $(ls "tests/golden/$name" | tr '\n' ' ')"
done
