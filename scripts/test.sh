#!/bin/sh
# Every test: unit and black-box tests on the release build, the same again
# on an ASan+UBSan build, then each fuzz target for a bounded time.
# Called by `make test` (after scripts/deps.sh) and by .ci/run.
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

step() { printf '\n=== %s\n' "$*"; }

step "release build (-Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTERN_WERROR=ON
cmake --build build -j "$JOBS"
step "unit + black-box tests"
(cd build && ctest --output-on-failure -j 2)

step "sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPOSTERN_WERROR=ON \
    -DPOSTERN_ASAN=ON -DPOSTERN_UBSAN=ON
cmake --build build-asan -j "$JOBS"
step "unit + black-box tests under ASan + UBSan"
(cd build-asan &&
    ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --output-on-failure -j 2)

step "fuzz targets (libFuzzer, ${FUZZ_SECONDS}s each)"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
    -DPOSTERN_FUZZ=ON -DPOSTERN_WERROR=ON \
    -DPOSTERN_FUZZ_SECONDS="$FUZZ_SECONDS"
cmake --build build-fuzz -j "$JOBS"
(cd build-fuzz && ctest --output-on-failure -j "$JOBS" -L fuzz-smoke)

step "all tests passed"
