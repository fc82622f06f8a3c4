#!/usr/bin/env bash
# `rocmforge serve` against llama-server on the same GGUF file and machine, in one run: each
# server in turn with the same number of slots and context, driven by `rocmforge bench-serve`
# (streaming /v1/completions, temperature 0, end of generation ignored) at each concurrency
# level. Writes per-server JSON lines and summary.md (throughput, TTFT and ITL, and ratios).
#
#   LLAMA_SERVER=/path/to/llama-server bash scripts/serve-bench.sh MODEL.gguf
#
# Settings (environment): DEVICE (cuda; cpu here), NP slots (32), CTX total context (NP×1024),
# LEVELS (1,8,32), MAX_TOKENS per request (128), PROMPT_WORDS (128), THREADS (0: all cores),
# LLAMA_ARGS (-ngl 99 -fa on), BIN (.devcarry/rocmforge unless DEVICE=cpu, else
# target/release/rocmforge).
# On the device machine (one call): carry .devcarry (binary, sm_90 bundle, peer), build
# llama-server with .devcarry/peer/prep.sh first.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rocmforge-serve-bench}
mkdir -p "$OUT"
MODEL=${1:?usage: LLAMA_SERVER=... bash scripts/serve-bench.sh MODEL.gguf}
DEVICE=${DEVICE:-cuda} NP=${NP:-32} LEVELS=${LEVELS:-1,8,32}
# The carried binary on the device machine; the one just built on a CPU run (a stale
# .devcarry here would measure an old build).
BIN=${BIN:-$([ "$DEVICE" != cpu ] && [ -x .devcarry/rocmforge ] && echo .devcarry/rocmforge || echo target/release/rocmforge)}
chmod +x "$BIN" 2>/dev/null
[ -d .devcarry ] && export ROCMFORGE_KERNELS=$PWD/.devcarry
CTX=${CTX:-$((NP * 1024))} MAX_TOKENS=${MAX_TOKENS:-128} PROMPT_WORDS=${PROMPT_WORDS:-128} THREADS=${THREADS:-0}
LLAMA_ARGS=${LLAMA_ARGS:--ngl 99 -fa on}

wait_ready() {  # URL PID: until /health answers 200, or the server died
    for _ in $(seq 1500); do
        kill -0 "$2" 2>/dev/null || return 1
        python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/health', timeout=1)" "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

measure() {  # NAME PORT COMMAND...
    local name=$1 port=$2; shift 2
    "$@" > "$OUT/$name-server.log" 2>&1 &
    local pid=$!
    if wait_ready "http://127.0.0.1:$port" $pid; then
        "$BIN" bench-serve --url "http://127.0.0.1:$port" -c "$LEVELS" --max-tokens "$MAX_TOKENS" \
            --prompt-words "$PROMPT_WORDS" --json > "$OUT/$name.jsonl" 2> "$OUT/$name-bench.err" \
            || echo "$name: bench-serve failed: $(tail -2 "$OUT/$name-bench.err")"
    else
        echo "$name: the server did not start: $(tail -3 "$OUT/$name-server.log")"
    fi
    kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null
}

measure rocmforge 8091 "$BIN" serve -m "$MODEL" --device "$DEVICE" --parallel "$NP" -c "$CTX" -t "$THREADS" --port 8091
if [ -n "${LLAMA_SERVER:-}" ]; then
    threads=(); [ "$THREADS" != 0 ] && threads=(-t "$THREADS")
    # shellcheck disable=SC2086
    measure llama-server 8092 "$LLAMA_SERVER" -m "$MODEL" $LLAMA_ARGS -np "$NP" -c "$CTX" "${threads[@]}" --port 8092
fi

python3 - "$OUT" "$MODEL" "$DEVICE" <<'PY' | tee "$OUT/summary.md"
import json, os, sys
out, model, device = sys.argv[1:4]
def load(name):
    p = os.path.join(out, name + ".jsonl")
    return {r["concurrency"]: r for r in map(json.loads, open(p))} if os.path.exists(p) else {}
ours, peer = load("rocmforge"), load("llama-server")
print(f"{os.path.basename(model)} on {device}: generated tokens/s, time to first token and inter-token latency (ms)\n")
print("| clients | rocmforge t/s | llama-server t/s | ratio | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
pair = lambda a, b, k: f"{a[k]:.0f} / {b[k]:.0f}" if b else f"{a[k]:.0f}"
for c, a in sorted(ours.items()):
    b = peer.get(c)
    ratio = f"{a['tokens_per_second'] / b['tokens_per_second']:.2f}×" if b else "-"
    print(f"| {c} | {a['tokens_per_second']:.1f} | {b['tokens_per_second'] if b else float('nan'):.1f} | {ratio} | "
          + " | ".join(pair(a, b, k) for k in ("ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms")) + " |")
print("\n(latency columns: rocmforge / llama-server)")
PY
