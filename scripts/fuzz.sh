#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ (clang, ASan + UBSan) in build-fuzz/, prepares their
# corpora, replays every regression input, then fuzzes each harness for SECONDS (default 30).
# Prints per harness: executions, exec/s, coverage (edges), corpus (units/bytes as libFuzzer
# counts them), crashes while fuzzing, and failing/total regression inputs. Exits 1 if anything
# crashed (a regression input or a new finding), 2 on usage errors. See docs/reliability.md,
# "Fuzzing".
#
#   scripts/fuzz.sh [--keep-going] [SECONDS] [HARNESS...]
#
#   SECONDS       fuzzing time per harness (0: build, prepare and replay the regressions only)
#   HARNESS...    a subset (names as in fuzz/CMakeLists.txt, e.g. chat_template_fuzz)
#   --keep-going  fuzz in libFuzzer's fork mode (-fork=1 -ignore_crashes=1 -ignore_timeouts=1
#                 -ignore_ooms=1): keep fuzzing after a finding and save every one, instead of
#                 stopping at the first
#
# Environment: MLXCEL_FUZZ_JOBS (build parallelism, default 2), MLXCEL_FUZZ_FLAGS (optimization
# and debug flags, default "-O2 -g"; CI's smoke uses "-O1 -g1" to compile faster), MLXCEL_TESTDATA (default
# ../shared/testdata next to the checkout), MLXCEL_FUZZ_RSS_MB (default 2048),
# MLXCEL_FUZZ_TIMEOUT (seconds per input, default 10).
#
# Work files (kept between runs, not committed) are in build-fuzz/fuzz-work/<harness>/:
# corpus/ (the seeds plus what fuzzing found), regress/ (regression inputs), crashes/
# (crash-*, leak-*, timeout-*, oom-* artifacts of this run) and logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

KEEP_GOING=0
SECONDS_PER=30
ONLY=()
for arg in "$@"; do
  case "$arg" in
    --keep-going) KEEP_GOING=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    ''|*[!0-9]*) ONLY+=("$arg") ;;
    *) SECONDS_PER=$arg ;;
  esac
done

# harness  max_len  dictionaries (fuzz/dict/*.dict, concatenated)
HARNESSES=(
  "safetensors_header_fuzz 65536  json"
  "gguf_header_fuzz        65536  gguf"
  "config_plan_fuzz        65536  json,config"
  "tokenizer_json_fuzz     131072 json,tokenizer"
  "tiktoken_fuzz           65536  tokenizer"
  "gguf_vocab_fuzz         131072 gguf"
  "chat_template_fuzz      65536  jinja"
  "openai_request_fuzz     32768  json,openai"
)
if ((${#ONLY[@]})); then
  for o in "${ONLY[@]}"; do
    found=0
    for h in "${HARNESSES[@]}"; do [[ ${h%% *} == "$o" ]] && found=1; done
    if ((!found)); then echo "fuzz.sh: unknown harness '$o'" >&2; exit 2; fi
  done
fi
selected() {
  ((${#ONLY[@]} == 0)) && return 0
  local o
  for o in "${ONLY[@]}"; do [[ $o == "$1" ]] && return 0; done
  return 1
}

# --- tools --------------------------------------------------------------------------------------
bash scripts/setup.sh
need=()
for p in clang-14 libclang-rt-14-dev llvm-14; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "fuzz.sh: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
CXX_BIN=$(command -v clang++-14 || command -v clang++)
CC_BIN=$(command -v clang-14 || command -v clang)
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)}

# --- build --------------------------------------------------------------------------------------
BUILD=build-fuzz
JOBS=${MLXCEL_FUZZ_JOBS:-2}
t0=$(date +%s)
FLAGS=${MLXCEL_FUZZ_FLAGS:--O2 -g}
# A cache made with another spelling of the compiler makes CMake wipe it and drop this command's
# -D options (MLXCEL_BUILD_FUZZ among them): start that cache afresh instead.
if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -qx "CMAKE_CXX_COMPILER:[A-Z]*=$CXX_BIN" "$BUILD/CMakeCache.txt"; then
  rm -f "$BUILD/CMakeCache.txt"
fi
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$FLAGS" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$FLAGS" \
  -DCMAKE_CXX_COMPILER="$CXX_BIN" -DCMAKE_C_COMPILER="$CC_BIN" \
  -DMLXCEL_BUILD_FUZZ=ON -DMLXCEL_BUILD_TESTS=OFF -DMLXCEL_BUILD_BENCH=OFF >/dev/null
nice -n 10 cmake --build "$BUILD" --target mlxcel_fuzz -j "$JOBS"
t1=$(date +%s)
echo "fuzz.sh: build took $((t1 - t0)) s" >&2

# --- corpora ------------------------------------------------------------------------------------
WORK=$BUILD/fuzz-work
TESTDATA=${MLXCEL_TESTDATA:-$ROOT/../shared/testdata}
GEN=$WORK/generated
rm -rf "$GEN"
mkdir -p "$GEN"
"$BUILD/fuzz/fuzz_seeds" huge "$GEN/huge"
if [ -d "$TESTDATA" ]; then
  "$BUILD/fuzz/fuzz_seeds" derive "$TESTDATA" "$GEN/derived"
else
  echo "fuzz.sh: no testdata at $TESTDATA; fuzzing from the committed seeds only" >&2
fi
mkdir -p "$WORK/dict"
for h in "${HARNESSES[@]}"; do
  read -r name _ dicts <<<"$h"
  selected "$name" || continue
  d=$WORK/$name
  rm -rf "$d/regress" "$d/crashes" "$d/logs"
  mkdir -p "$d/corpus" "$d/regress" "$d/crashes" "$d/logs"
  # Seeds: committed (fuzz/corpus/<name>, regressions included: once fixed they are good seeds)
  # and derived from testdata; regression inputs: committed regress-* and the generated huge ones.
  cp -f fuzz/corpus/"$name"/* "$d/corpus/" 2>/dev/null || true
  [ -d "$GEN/derived/$name" ] && cp -f "$GEN/derived/$name"/* "$d/corpus/"
  cp -f fuzz/corpus/"$name"/regress-* "$d/regress/" 2>/dev/null || true
  [ -d "$GEN/huge/$name" ] && cp -f "$GEN/huge/$name"/* "$d/regress/"
  : >"$WORK/dict/$name.dict"
  for x in ${dicts//,/ }; do cat "fuzz/dict/$x.dict" >>"$WORK/dict/$name.dict"; done
done

# --- run ----------------------------------------------------------------------------------------
RSS_MB=${MLXCEL_FUZZ_RSS_MB:-2048}
TIMEOUT=${MLXCEL_FUZZ_TIMEOUT:-10}
export MLXCEL_FUZZ_TMP
MLXCEL_FUZZ_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlxcel-fuzz.XXXXXX")
trap 'rm -rf "$MLXCEL_FUZZ_TMP"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:handle_abort=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The first three frames of a crash log in mlxcel's sources, as "function (src/file.cpp:line)";
# else (e.g. a stack overflow deep inside a library) the first frame, shortened.
top_frames() {
  local frames
  frames=$(grep -E '^ *#[0-9]+ 0x[0-9a-f]+ in .* [^ ]*/src/[^ ]+$' "$1" | head -n 3 |
    sed -E 's/^ *#[0-9]+ 0x[0-9a-f]+ in //; s/^([^(]*)\(.* [^ ]*\/(src\/[^ ]+)$/\1 (\2)/' |
    paste -sd ';' - | sed 's/;/ <- /g')
  if [ -z "$frames" ]; then
    frames=$(grep -m1 -E '^ *#0 ' "$1" | sed -E 's/^ *#0 0x[0-9a-f]+ (in )?//' | cut -c1-100)
  fi
  echo "$frames"
}
# What went wrong, in one line: the sanitizer / libFuzzer / broken-promise headline, or the
# type and what() of an exception that escaped the harness.
reason() {
  local r
  r=$(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|BROKEN PROMISE|terminate called|ALARM: working on the last Unit' "$1" |
    sed -E 's/^==[0-9]+==//; s/^ +//; s/ on address 0x[0-9a-f]+.*//; s/terminate called after throwing an instance of/uncaught/')
  if [[ $r == uncaught* ]]; then
    r="$r: $(grep -m1 'what(): ' "$1" | sed -E 's/^ *what\(\): *//')"
  fi
  echo "$r" | cut -c1-200
}

failed=0
summary=()
for h in "${HARNESSES[@]}"; do
  read -r name max_len _ <<<"$h"
  selected "$name" || continue
  bin=$BUILD/fuzz/$name
  d=$WORK/$name
  opts=(-rss_limit_mb="$RSS_MB" -timeout="$TIMEOUT")

  # 1. Regressions: each input once, in its own process (no -max_len: the huge ones are whole).
  reg_total=0 reg_bad=0
  for f in "$d"/regress/*; do
    [ -e "$f" ] || continue
    reg_total=$((reg_total + 1))
    log=$d/logs/regress-$(basename "$f").log
    if ! "$bin" "${opts[@]}" "$f" >"$log" 2>&1; then
      reg_bad=$((reg_bad + 1))
      echo "  $name: REGRESSION $(basename "$f"): $(reason "$log") @ $(top_frames "$log")  [log: $log]"
      # A crashing regression input stays out of the fuzzing corpus (it would stop the run).
      rm -f "$d/corpus/$(basename "$f")"
    fi
  done

  # 2. Fuzzing.
  execs=0 rate=0 found=0 cov=- corp=-
  if ((SECONDS_PER > 0)); then
    log=$d/logs/fuzz.log
    fopts=("${opts[@]}" -max_len="$max_len" -max_total_time="$SECONDS_PER" -print_final_stats=1
           -dict="$WORK/dict/$name.dict" -artifact_prefix="$d/crashes/")
    if ((KEEP_GOING)); then
      fopts+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    fi
    # New units found go into corpus/ next to the seeds.
    "$bin" "${fopts[@]}" "$d/corpus" >"$log" 2>&1 || true
    # The last status line ("#N DONE cov: C ft: F corp: U/S exec/s: R ..."; in fork mode
    # "#N: cov: C ft: F corp: U exec/s R ...", cov counted differently) and the final stats
    # when libFuzzer printed them.
    last=$(grep -E '^#[0-9]+:?[[:space:]]' "$log" | tail -n1)
    execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([0-9]+(\/[0-9]+[a-zA-Z]*)?).*/\1/p' <<<"$last")
    rate=$(sed -nE 's/.* exec\/s:? ([0-9]+).*/\1/p' <<<"$last")
    x=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
    [ -n "$x" ] && execs=$x
    x=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
    [ -n "$x" ] && rate=$x
    for a in "$d"/crashes/*; do
      [ -e "$a" ] || continue
      found=$((found + 1))
    done
    if ((found)); then
      echo "  $name: $found finding(s) while fuzzing: $(reason "$log") @ $(top_frames "$log")  [log: $log]"
      ls "$d"/crashes/ | sed 's/^/    /'
    fi
  fi
  crashes=$((reg_bad + found))
  ((crashes)) && failed=1
  summary+=("$(printf '%-24s %9s %7s %6s %14s %8s %9s' "$name" "${execs:-0}" "${rate:-0}" \
    "${cov:--}" "${corp:--}" "$found" "$reg_bad/$reg_total")")
done

t2=$(date +%s)
echo
printf '%-24s %9s %7s %6s %14s %8s %9s\n' harness execs exec/s cov corpus crashes regress
printf '%s\n' "${summary[@]}"
echo "fuzz.sh: build $((t1 - t0)) s, corpora + regressions + fuzzing $((t2 - t1)) s (${SECONDS_PER} s per harness)"
exit $failed
