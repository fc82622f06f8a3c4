#!/usr/bin/env bash
# Tuning on the GPU machine in one call (issue 11): `rocmforge tune` on each model into a copy of
# the bundle, then scripts/gpu-ab.sh with the untuned bundle as the base and the tuned one as the
# new (parity at every value of the tuning axes of the families PARITY names, default the
# mat-vecs; `bench-kernels`; `rocmforge bench --device cuda -p PROMPTS -n 128 -r 3`, default
# PROMPTS 512: A/B in the same run on the same files). `tune` times the mat-vecs at a decode
# step's shapes and the GEMM at a prompt's (64 to 512 tokens), so a short PROMPTS list such as
# 64,128,512 shows both.
# Results in $OUT (few files: the device tool returns about 8): tune (every shape's times), the
# tuning table, and gpu-ab.sh's (parity, bench-kernels base/new, summary.md); raw JSON and logs
# in $RAW.
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
for dir in $DEFAULT $TUNED; do
    cp .devcarry/rocmforge-sm_90.rfkb $dir/
    ln -sf "$BIN" $dir/rocmforge
done

for model in "$@" ${TUNE_ONLY:-}; do
    name=$(basename "$model" .gguf)
    echo "## $name" >> "$OUT/tune.txt"
    "$BIN" tune -m "$model" --bundle $TUNED/rocmforge-sm_90.rfkb >> "$OUT/tune.txt" 2> "$RAW/tune-$name.err" \
        || echo "$name: tune failed: $(tail -3 "$RAW/tune-$name.err")"
done
"$BIN" kernels $TUNED/rocmforge-sm_90.rfkb 2>/dev/null | sed -n '/^tuned/,$p' > "$OUT/tuning-table.txt"

# Parity of the mat-vec families, bench-kernels and bench with each bundle ("base" the untuned).
OUT=$OUT RAW=$RAW BASE=$DEFAULT NEW=$TUNED bash scripts/gpu-ab.sh "$@"
