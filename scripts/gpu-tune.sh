#!/usr/bin/env bash
# Tuning on the GPU machine in one call (issue 11): the mat-vec families' parity at every value of
# their tuning axes, `rocmforge tune` on each model into a copy of the bundle, then `bench-kernels` and
# `rocmforge bench --device cuda -p 512 -n 128 -r 3` with the untuned and the tuned bundle, A/B in
# the same run on the same files. Results in $OUT (few files: the device tool returns about 8):
# parity, tune (every shape's times), the tuning table, bench-kernels untuned/tuned, summary.md;
# raw JSON and logs in $RAW.
# Usage: [TUNE_ONLY="more.gguf ..."] bash scripts/gpu-tune.sh MODEL.gguf...
#   (TUNE_ONLY: models only tuned, for their shapes in bench-kernels' table, e.g. synth's 8B in
#   q5_0, q8_0, q6_k; models: scripts/gpu-models.sh; expects
# .devcarry/rocmforge and .devcarry/rocmforge-sm_90.rfkb)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rocmforge-gpu-tune}
RAW=${RAW:-/tmp/rocmforge-gpu-tune-raw}
mkdir -p "$OUT" "$RAW"
BIN=$PWD/.devcarry/rocmforge
chmod +x "$BIN"
DEFAULT=/tmp/rf-bundle-default TUNED=/tmp/rf-bundle-tuned
mkdir -p $DEFAULT $TUNED
cp .devcarry/rocmforge-sm_90.rfkb $DEFAULT/
cp .devcarry/rocmforge-sm_90.rfkb $TUNED/

"$BIN" test-kernels --bundle $DEFAULT/rocmforge-sm_90.rfkb --filter matvec > "$OUT/parity-matvec.txt" 2>&1
tail -1 "$OUT/parity-matvec.txt"

for model in "$@" ${TUNE_ONLY:-}; do
    name=$(basename "$model" .gguf)
    echo "## $name" >> "$OUT/tune.txt"
    "$BIN" tune -m "$model" --bundle $TUNED/rocmforge-sm_90.rfkb >> "$OUT/tune.txt" 2> "$RAW/tune-$name.err" \
        || echo "$name: tune failed: $(tail -3 "$RAW/tune-$name.err")"
done
"$BIN" kernels $TUNED/rocmforge-sm_90.rfkb 2>/dev/null | sed -n '/^tuned/,$p' > "$OUT/tuning-table.txt"

for which in default tuned; do
    dir=$DEFAULT; [ $which = tuned ] && dir=$TUNED
    "$BIN" bench-kernels --bundle $dir/rocmforge-sm_90.rfkb > "$OUT/bench-kernels-$which.txt" 2>&1
done
summary=$OUT/summary.md
echo "| model | test | untuned t/s | tuned t/s | tuned/untuned |" > "$summary"
echo "| --- | --- | ---: | ---: | ---: |" >> "$summary"
for model in "$@"; do
    name=$(basename "$model" .gguf)
    for which in default tuned; do
        dir=$DEFAULT; [ $which = tuned ] && dir=$TUNED
        ROCMFORGE_KERNELS=$dir "$BIN" bench -m "$model" --device cuda -p 512 -n 128 -r 3 -o json \
            > "$RAW/bench-$name-$which.json" 2> "$RAW/bench-$name-$which.err" \
            || echo "$name: bench ($which) failed: $(tail -3 "$RAW/bench-$name-$which.err")"
    done
    python3 - "$name" "$RAW/bench-$name-default.json" "$RAW/bench-$name-tuned.json" >> "$summary" <<'PY'
import json, sys
name, a, b = sys.argv[1:]
def load(p):
    try:
        return {(("pp%d" % r["n_prompt"]) if r["n_prompt"] else ("tg%d" % r["n_gen"])): r["avg_ts"] for r in json.load(open(p))}
    except (OSError, ValueError):
        return {}
x, y = load(a), load(b)
for test in sorted(x):
    t = y.get(test)
    print(f"| {name} | {test} | {x[test]:.1f} | {t or 0:.1f} | {t / x[test] if t else 0:.3f} |")
PY
done
cat "$summary"
