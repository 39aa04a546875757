#!/usr/bin/env bash
# Sets up, builds (Release) and runs mlxcel. With no arguments it runs the main job on the
# embedded default model; otherwise the arguments go to mlxcel (e.g. ./run.sh inspect MODEL).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLXCEL_BUILD_TESTS=OFF >/dev/null
cmake --build build --target mlxcel >&2
if [ $# -eq 0 ]; then
  # The main job: print the memory plan, check it against this machine, then generate.
  set -- generate --estimate-memory --prompt "Once upon a time" --max-tokens 200
fi
exec ./build/mlxcel "$@"
