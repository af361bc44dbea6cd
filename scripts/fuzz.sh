#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ (clang, -DTF_FUZZ=ON, folder build-fuzz) and runs each for a
# bounded time: scripts/fuzz.sh [seconds per harness, default 60]. Each starts from its seed corpus
# (tests/fuzz/corpus/<harness>/) and dictionary (tests/fuzz/<harness>.dict); the corpus it grows stays in
# build-fuzz/corpus/<harness>/. A crash, sanitizer report, leak, hang past 10 s or 2 GB of memory fails the
# script, with the input saved as build-fuzz/artifacts/<harness>/crash-* (keep it in tests/fuzz/regressions/
# <harness>/ once fixed: test_fuzz_regressions replays that folder in every build).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
export CC=clang CXX=clang++
cmake -S . -B build-fuzz -DTF_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_scenario fuzz_set fuzz_trace
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
status=0
summary=""
for h in scenario set trace; do
  mkdir -p "build-fuzz/corpus/$h" "build-fuzz/artifacts/$h"
  log="build-fuzz/fuzz-$h.log"
  start=$(date +%s)
  rc=0
  "build-fuzz/tests/fuzz_$h" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=4096 \
    -dict="tests/fuzz/$h.dict" -artifact_prefix="build-fuzz/artifacts/$h/" -print_final_stats=1 \
    "build-fuzz/corpus/$h" "tests/fuzz/corpus/$h" >"$log" 2>&1 || rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  line="fuzz $h: ${execs:-?} executions in ${took} s, corpus $(ls "build-fuzz/corpus/$h" | wc -l) inputs, exit $rc"
  echo "$line"
  summary+="$line"$'\n'
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "--- fuzz $h failed; the end of its log ($log):"
    tail -n 60 "$log"
    ls -l "build-fuzz/artifacts/$h/"
  fi
done
printf '%s' "$summary" > build-fuzz/fuzz-summary.txt
exit "$status"
