#!/usr/bin/env bash
# A kernel change A/B on the GPU machine in one call: the changed families' parity with the new
# bundle (PARITY, a test-kernels filter, default matvec), then `bench-kernels` (KERNELS, its
# --filter, default every family) and `rocmforge bench --device cuda -p PROMPTS -n 128 -d DEPTHS
# -r 3` (both comma-separated, defaults 512 and 0) with the base build and the new one, alternated on the same files in the same run. Results in $OUT:
# parity, bench-kernels of both, summary.md (tg/pp per model and depth, new/base), and whether
# greedy decoding (GREEDY tokens, default 64; 0 skips it) after a prompt long enough for the
# GEMM gives the same text with both builds: a change meant to compute the same numbers (a
# fusion) must; one that reorders sums (split-K) may part at a near-tie, and is judged by the
# KL divergence of its logits (`perplexity --kl-divergence`).
# EVERY=1 times the mat-vecs in every tuning geometry too (bench-kernels --every-tuning).
# Usage: BASE=DIR [NEW=DIR] [PARITY=FILTER] [KERNELS=FILTER] [EVERY=1] [PROMPTS=64,512] [DEPTHS=0,4096]
#   bash scripts/gpu-ab.sh MODEL.gguf...
#   Each DIR holds a build's rocmforge and rocmforge-sm_90.rfkb: BASE the one before the change
#   (e.g. built from main), NEW (default .devcarry) the one after. Models: scripts/gpu-models.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rocmforge-gpu-ab}
RAW=${RAW:-/tmp/rocmforge-gpu-ab-raw}
BASE=$(realpath "${BASE:?BASE=DIR: the base build}")
NEW=$(realpath "${NEW:-.devcarry}")
PARITY=${PARITY:-matvec}
DEPTHS=${DEPTHS:-0}
PROMPTS=${PROMPTS:-512}
KERNELS=${KERNELS:-}
GREEDY=${GREEDY:-64}
EVERY=${EVERY:+--every-tuning}
# A prompt of about 150 tokens: past the batched mat-vec's 32, so prefill goes through the GEMM.
PROMPT=$(printf 'The history of the city begins with a small village by the river. %.0s' $(seq 12))
mkdir -p "$OUT" "$RAW"
chmod +x "$BASE/rocmforge" "$NEW/rocmforge"
dir() { [ "$1" = base ] && echo "$BASE" || echo "$NEW"; }
bin() { echo "$(dir "$1")/rocmforge"; }
bundle() { echo "$(dir "$1")/rocmforge-sm_90.rfkb"; }

"$(bin new)" test-kernels --bundle "$(bundle new)" --filter "$PARITY" > "$OUT/parity-$PARITY.txt" 2>&1
tail -1 "$OUT/parity-$PARITY.txt"
for which in base new; do
    "$(bin $which)" bench-kernels --bundle "$(bundle $which)" --filter "$KERNELS" $EVERY > "$OUT/bench-kernels-$which.txt" 2>&1
done
summary=$OUT/summary.md
echo "| model | test | base t/s | new t/s | new/base |" > "$summary"
echo "| --- | --- | ---: | ---: | ---: |" >> "$summary"
for model in "$@"; do
    name=$(basename "$model" .gguf)
    if [ "$GREEDY" -gt 0 ]; then
        for which in base new; do
            ROCMFORGE_KERNELS=$(dir $which) "$(bin $which)" generate -m "$model" --device cuda --temp 0 -n "$GREEDY" \
                -p "$PROMPT" > "$OUT/greedy-$name-$which.txt" 2> "$RAW/greedy-$name-$which.err"
        done
        if cmp -s "$OUT/greedy-$name-base.txt" "$OUT/greedy-$name-new.txt"; then
            echo "$name: greedy $GREEDY tokens: base and new identical"
        else
            echo "$name: greedy $GREEDY tokens: base and new DIFFER (greedy-$name-*.txt)"
        fi | tee -a "$OUT/greedy.txt"
    fi
    for which in base new base new; do
        ROCMFORGE_KERNELS=$(dir $which) "$(bin $which)" bench -m "$model" --device cuda -p "$PROMPTS" -n 128 -d "$DEPTHS" -r 3 -o json \
            >> "$RAW/bench-$name-$which.json" 2> "$RAW/bench-$name-$which.err" \
            || echo "$name: bench ($which) failed: $(tail -3 "$RAW/bench-$name-$which.err")"
    done
    python3 - "$name" "$RAW/bench-$name-base.json" "$RAW/bench-$name-new.json" >> "$summary" <<'PY'
import json, sys
name, a, b = sys.argv[1:]
def load(p):
    # Two runs appended to one file (JSON arrays back to back): the better of each test.
    best, dec, text, i = {}, json.JSONDecoder(), open(p).read(), 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return best
        runs, i = dec.raw_decode(text, i)
        for r in runs:
            test = ("pp%d" % r["n_prompt"]) if r["n_prompt"] else ("tg%d" % r["n_gen"])
            if r.get("n_depth"):
                test += " @ d%d" % r["n_depth"]
            best[test] = max(best.get(test, 0), r["avg_ts"])
x, y = load(a), load(b)
for test in sorted(x):
    t = y.get(test, 0)
    print(f"| {name} | {test} | {x[test]:.1f} | {t:.1f} | {t / x[test]:.3f} |")
PY
done
cat "$summary"
for which in base new; do grep -E "copy|^matvec [a-z0-9_]+ (4096x4096|14336x4096)|^attn_prefill|^gemm_f16|matrix rate" "$OUT/bench-kernels-$which.txt" | sed "s/^/$which: /"; done
