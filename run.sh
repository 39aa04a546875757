#!/usr/bin/env bash
# Sets up, builds (Release) and runs mlxcel. With no arguments it runs the main job on the
# embedded default model; otherwise the arguments go to mlxcel (e.g. ./run.sh inspect MODEL).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLXCEL_BUILD_TESTS=OFF >/dev/null
cmake --build build --target mlxcel >&2
if [ $# -eq 0 ]; then
  set -- inspect
fi
exec ./build/mlxcel "$@"
