#!/usr/bin/env bash
# Sets up, builds with AddressSanitizer + UndefinedBehaviorSanitizer, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
# tokenizers.js for the tokenizer comparison tests (they skip themselves if node or it is missing).
command -v npm >/dev/null && npm ci --prefix tests/node --no-audit --no-fund >&2 || echo "test.sh: npm ci --prefix tests/node failed or npm is missing; tokenizer comparisons with @huggingface/tokenizers will be skipped" >&2
# -O1 -g1: under ASan, -O2 -g took twice as long to compile (http_session.cpp 71 s vs 40 s,
# hostile_client_test.cpp 20 s vs 11 s) and the build is most of CI's time; -g1 keeps the line
# numbers of sanitizer reports.
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLXCEL_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DMLXCEL_BUILD_BENCH=ON >/dev/null
cmake --build build-test
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-test --output-on-failure -j2 --timeout 600
