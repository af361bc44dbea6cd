#!/usr/bin/env bash
# Builds everything, tests included, with clang's AddressSanitizer (and LeakSanitizer) and
# UndefinedBehaviorSanitizer (float-cast-overflow included; the first report stops the process) in the folder
# build-san, and runs the whole ctest suite there. SimGrid runs on thread contexts: under ASan its raw contexts
# (the default) give a false stack-buffer-overflow when an exception crosses an actor. The mpirun tests
# (tests/test_mpi.cpp) run their ranks without LeakSanitizer: what MPI_Init leaves allocated comes partly from Open
# MPI components it has unloaded again, which LeakSanitizer cannot attribute to a library to suppress.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
export CC=clang CXX=clang++
# The build runs the test executables too (catch_discover_tests lists their cases), so the options are set first.
export TOKENFLEET_CONTEXT_FACTORY=thread
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=0:strict_string_checks=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cmake -S . -B build-san -DTF_SANITIZE=ON -DTF_MPI=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" >/dev/null
cmake --build build-san -j"$(nproc)"
cd build-san && ctest --output-on-failure -j"$(nproc)"
