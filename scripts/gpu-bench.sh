#!/usr/bin/env bash
# Decode and prefill speed on the GPU against llama.cpp CUDA, in one device call, on the same
# GGUF files: `rocmforge bench --device cuda` and `llama-bench -fa 1`, -p 512 -n 128 -r 3, at each
# depth of DEPTHS (comma-separated, default 0; issue 11 asks for 0,4096: `-d`, the cache holding
# that many positions before each test).
# Prints t/s, the ratio to llama.cpp, and tg128 as a share of the measured copy rate (weights
# read once per token: the file size).
# Usage: LLAMA_BENCH=/path/to/llama-bench bash scripts/gpu-bench.sh MODEL.gguf...   (the models: scripts/gpu-models.sh)
#   (.devcarry/rocmforge and .devcarry/rocmforge-sm_90.rfkb as for scripts/gpu-engine.sh;
#    without LLAMA_BENCH only our figures are given.)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rocmforge-gpu-bench}
RAW=${RAW:-/tmp/rocmforge-gpu-bench-raw}  # per-model JSON and logs (the device tool returns few files)
mkdir -p "$OUT" "$RAW"
DEPTHS=${DEPTHS:-0}
COPY_RATE=${COPY_RATE:-4.23e12}  # bytes/s, device-to-device copy measured on the H200
export ROCMFORGE_KERNELS=$PWD/.devcarry
BIN=$PWD/.devcarry/rocmforge
chmod +x "$BIN"
summary=$OUT/summary.md
echo "| model | test | rocmforge t/s | llama.cpp t/s | ratio | % of copy rate |" > "$summary"
echo "| --- | --- | ---: | ---: | ---: | ---: |" >> "$summary"
for model in "$@"; do
    name=$(basename "$model" .gguf)
    "$BIN" bench -m "$model" --device cuda -p 512 -n 128 -d "$DEPTHS" -r 3 -o json 2>"$RAW/$name-ours.err" > "$RAW/$name-ours.json" \
        || { echo "$name: rocmforge bench failed: $(tail -3 "$RAW/$name-ours.err")"; continue; }
    if [ -n "${LLAMA_BENCH:-}" ]; then
        "$LLAMA_BENCH" -m "$model" -fa 1 -ngl 99 -p 512 -n 128 -d "$DEPTHS" -r 3 -o json > "$RAW/$name-llama.json" 2>"$RAW/$name-llama.err" \
            || echo "$name: llama-bench failed: $(tail -3 "$RAW/$name-llama.err")"
    fi
    python3 - "$model" "$RAW/$name-ours.json" "$RAW/$name-llama.json" "$COPY_RATE" >> "$summary" <<'PY'
import json, os, sys
model, ours, theirs, rate = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
def load(p):
    try:
        name = lambda r: (("pp%d" % r["n_prompt"]) if r["n_prompt"] else ("tg%d" % r["n_gen"])) + (
            " @ d%d" % r["n_depth"] if r.get("n_depth") else "")
        return {name(r): r["avg_ts"] for r in json.load(open(p))}
    except (OSError, ValueError):
        return {}
a, b = load(ours), load(theirs)
size = os.path.getsize(model)
for test in sorted(a):
    peer = b.get(test)
    ratio = f"{a[test] / peer:.2f}x" if peer else "-"
    share = f"{100 * size * a[test] / rate:.0f} %" if test.startswith("tg") else ""
    print(f"| {os.path.basename(model)} | {test} | {a[test]:.1f} | {peer or 0:.1f} | {ratio} | {share} |")
PY
done
cat "$summary"
