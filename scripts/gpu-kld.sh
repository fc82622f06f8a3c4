#!/usr/bin/env bash
# KL divergence of our GPU engine's logits against a base run's, in one device call, on the
# same GGUF files and text (`perplexity --kl-divergence-base` / `--kl-divergence`, the
# llama-perplexity file format):
#   base = llama.cpp CUDA (LLAMA_PERPLEXITY=/path/to/llama-perplexity), base = our CPU engine
#   (WITH_CPU=1), and base = another build of ours on the GPU (BASE=DIR holding its rocmforge and
#   rocmforge-sm_90.rfkb: a kernel change that reorders sums is judged by this, not by greedy text).
# Usage: [LLAMA_PERPLEXITY=…] [WITH_CPU=1] [BASE=DIR] [TEXT=file] [CTX=512] bash scripts/gpu-kld.sh MODEL.gguf...
#   (.devcarry/rocmforge and its sm_90 bundle as for scripts/gpu-engine.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rocmforge-gpu-kld}
mkdir -p "$OUT"
export ROCMFORGE_KERNELS=$PWD/.devcarry
BIN=$PWD/.devcarry/rocmforge
chmod +x "$BIN"
TEXT=${TEXT:-tests/fixtures/gemma3-270m/gpl-3.txt}
CTX=${CTX:-512}
kld() {  # label, log name, base file: our cuda run against it
    "$BIN" perplexity -m "$model" --device cuda --kl-divergence --kl-divergence-base "$3" --json 2>"$OUT/$2.err" \
        | python3 -c "import json,sys; r=json.load(sys.stdin); print('$1: mean KLD %.6f ± %.6f, max %.4f, 99.9%% %.4f, same top %.2f %%, PPL %.4f vs base %.4f (ratio %.4f)' % (r['kld_mean'], r['kld_mean_err'], r['kld_max'], r['kld_p99_9'], r['same_top_pct'], r['ppl'], r['ppl_base'], r['ppl']/r['ppl_base']))" \
        || tail -3 "$OUT/$2.err"
}
for model in "$@"; do
    name=$(basename "$model" .gguf)
    if [ -n "${LLAMA_PERPLEXITY:-}" ]; then
        "$LLAMA_PERPLEXITY" -m "$model" -f "$TEXT" -c "$CTX" -ngl 99 -fa on --kl-divergence-base "/tmp/$name-llama.kld" \
            > "$OUT/$name-llama-base.log" 2>&1 || tail -3 "$OUT/$name-llama-base.log"
        kld "$name: cuda vs llama.cpp CUDA" "$name-vs-llama" "/tmp/$name-llama.kld"
    fi
    if [ -n "${WITH_CPU:-}" ]; then
        "$BIN" perplexity -m "$model" --device cpu -f "$TEXT" -c "$CTX" --kl-divergence-base "/tmp/$name-cpu.kld" \
            > "$OUT/$name-cpu-base.log" 2>&1 || tail -3 "$OUT/$name-cpu-base.log"
        kld "$name: cuda vs our cpu" "$name-vs-cpu" "/tmp/$name-cpu.kld"
    fi
    if [ -n "${BASE:-}" ]; then
        chmod +x "$BASE/rocmforge"
        ROCMFORGE_KERNELS=$(realpath "$BASE") "$BASE/rocmforge" perplexity -m "$model" --device cuda -f "$TEXT" -c "$CTX" \
            --kl-divergence-base "/tmp/$name-base-build.kld" > "$OUT/$name-base-build.log" 2>&1 \
            || tail -3 "$OUT/$name-base-build.log"
        kld "$name: cuda vs the base build on cuda" "$name-vs-base-build" "/tmp/$name-base-build.kld"
    fi
done 2>&1 | tee "$OUT/kld.txt"
