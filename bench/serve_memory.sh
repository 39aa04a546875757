#!/bin/bash
# The plan against the process while serving: starts `mlxcel serve MODEL --parallel P --ctx-size C`,
# sends P concurrent greedy completions of C/2 tokens, then prints the plan and memory lines of
# /metrics (planned, estimate, allocator peak, VmRSS, VmHWM) and stops the server.
#   bench/serve_memory.sh MODEL P C      (env: MLXCEL=path to the binary, default build-rel/mlxcel;
#                                          PORT, default 18181)
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: bench/serve_memory.sh MODEL PARALLEL CTX" >&2; exit 2; }
MODEL=$1 P=$2 C=$3
BIN=${MLXCEL:-$(dirname "$0")/../build-rel/mlxcel}
PORT=${PORT:-18181}
ERR=$(mktemp)
"$BIN" serve "$MODEL" --port "$PORT" --parallel "$P" --ctx-size "$C" --threads 2 2>"$ERR" &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -f "$ERR"' EXIT
for _ in $(seq 1 240); do grep -q "on http://" "$ERR" && break; sleep 0.5; done
grep -q "on http://" "$ERR" || { cat "$ERR" >&2; exit 1; }
CLIENTS=""
for i in $(seq 1 "$P"); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/v1/completions" -H 'Content-Type: application/json' \
    -d "{\"prompt\": \"Memory check request number $i with a few words of prompt\", \"max_tokens\": $((C / 2)), \"temperature\": 0}" &
  CLIENTS="$CLIENTS $!"
done
wait $CLIENTS
curl -s "http://127.0.0.1:$PORT/metrics" |
  grep -E "^mlxcel_(memory_planned|memory_estimate|memory_peak|process_resident|generated_tokens)"
