#!/usr/bin/env bash
# The synthetic llama models the GPU figures are measured on, written on the device machine by
# `rocmforge synth` (random quantized weights, llama.cpp's Q4_K_M mix, a real tokenizer) into
# MODELS_DIR (default /tmp/rfm), unless already there: llama-8b and llama-1b in q4_0 and q4_k_m,
# or those named in MODELS (e.g. MODELS="llama-8b:q4_0"). Prints the files' paths.
# Expects .devcarry/rocmforge and .devcarry/ggml-vocab-llama-bpe.gguf (copied from llama.cpp's
# models/, or ../shared/reference/vocab/).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${MODELS_DIR:-/tmp/rfm}
MODELS=${MODELS:-llama-8b:q4_0 llama-8b:q4_k_m llama-1b:q4_0 llama-1b:q4_k_m}
VOCAB=${VOCAB:-.devcarry/ggml-vocab-llama-bpe.gguf}
mkdir -p "$DIR"
chmod +x .devcarry/rocmforge
for m in $MODELS; do
    shape=${m%%:*} type=${m#*:}
    f=$DIR/$shape-$type.gguf
    [ -s "$f" ] || .devcarry/rocmforge synth --shape "$shape" --type "$type" --vocab "$VOCAB" -o "$f" >&2
    echo "$f"
done
