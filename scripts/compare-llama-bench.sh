#!/usr/bin/env bash
# Runs `rocmforge bench` and llama.cpp's `llama-bench` on the same model, threads and tests, in
# the same run, and prints tokens/s side by side with the ratio rocmforge / llama.cpp.
#
#   LLAMA_BENCH=/path/to/llama-bench scripts/compare-llama-bench.sh [MODEL] [-p 64,256] [-n 32] [-t 2] [-r 5]
#
# llama-bench is not built by this project: bring your own (a CPU build of the same llama.cpp
# the reference data came from is the fair peer; see tests/fixtures/gemma3-270m/).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${LLAMA_BENCH:?set LLAMA_BENCH to a llama-bench binary}"
model=${1:-$(cargo run --release -q -- fetch)}
shift || true
p=64,256 n=32 t=2 r=5
while getopts "p:n:t:r:" o; do
    case $o in p) p=$OPTARG ;; n) n=$OPTARG ;; t) t=$OPTARG ;; r) r=$OPTARG ;; *) exit 2 ;; esac
done
cargo build --release -q
ours=$(./target/release/rocmforge bench -m "$model" -p "$p" -n "$n" -t "$t" -r "$r" -o json)
peer=$("$LLAMA_BENCH" -m "$model" -p "$p" -n "$n" -t "$t" -r "$r" -o json 2>/dev/null)
python3 - "$ours" "$peer" <<'PY'
import json, sys
ours, peer = (json.loads(a) for a in sys.argv[1:3])
key = lambda o: ("pp%d" % o["n_prompt"]) if o["n_prompt"] else ("tg%d" % o["n_gen"])
peer = {key(o): o for o in peer}
print("| test | rocmforge t/s | llama.cpp t/s | ratio |")
print("| --- | ---: | ---: | ---: |")
for o in ours:
    k = key(o); q = peer.get(k)
    if q is None:
        print(f"| {k} | {o['avg_ts']:.2f} ± {o['stddev_ts']:.2f} | – | – |"); continue
    print(f"| {k} | {o['avg_ts']:.2f} ± {o['stddev_ts']:.2f} | {q['avg_ts']:.2f} ± {q['stddev_ts']:.2f} | {o['avg_ts']/q['avg_ts']:.2f}× |")
PY
