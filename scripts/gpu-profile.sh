#!/usr/bin/env bash
# Where a decode step's time goes on the GPU: every kernel of `bench -p 0 -n N` timed by Nsight
# Compute (gpu__time_duration, clocks left alone), summed per kernel and divided by the tokens
# generated, against the step time the same bench gives without the profiler. The difference
# is what launches and dependencies between kernels cost.
# Usage: bash scripts/gpu-profile.sh MODEL.gguf   (carry .devcarry as for scripts/gpu-bench.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rocmforge-gpu-profile}
mkdir -p "$OUT"
export ROCMFORGE_KERNELS=$PWD/.devcarry
BIN=$PWD/.devcarry/rocmforge
N=${N:-16}
chmod +x "$BIN"
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "gpu-profile: ncu not found" >&2; exit 1; }
for model in "$@"; do
    name=$(basename "$model" .gguf)
    "$BIN" bench -m "$model" --device cuda -p 0 -n "$N" -r 1 -o json 2>/dev/null > "$OUT/$name-tg.json"
    "$NCU" --clock-control none --metrics gpu__time_duration.sum --csv \
        "$BIN" bench -m "$model" --device cuda -p 0 -n "$N" -r 1 > "$OUT/$name-ncu.csv" 2>"$OUT/$name-ncu.err" \
        || { echo "$name: ncu failed: $(tail -3 "$OUT/$name-ncu.err")"; continue; }
    python3 - "$OUT/$name-ncu.csv" "$OUT/$name-tg.json" "$N" > "$OUT/$name-profile.md" <<'PY'
import csv, json, re, sys, collections
path, tg, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [r for r in csv.reader(l for l in open(path) if l.startswith('"'))]
head, rows = rows[0], rows[1:]
iname, ival = head.index("Kernel Name"), head.index("Metric Value")
unit = rows[0][head.index("Metric Unit")] if rows else "ns"
scale = {"ns": 1e-3, "us": 1.0, "usecond": 1.0, "nsecond": 1e-3, "msecond": 1e3}.get(unit, 1e-3)
per = collections.defaultdict(lambda: [0, 0.0])
for r in rows:
    k = re.sub(r"\(.*", "", r[iname])
    per[k][0] += 1
    per[k][1] += float(r[ival].replace(",", "")) * scale
# The bench runs a warm-up and one timed repetition of n tokens: 2n decode steps.
steps = 2 * n
total = sum(v[1] for v in per.values()) / steps
ts = json.load(open(tg))[0]["avg_ts"]
print(f"decode step {1e6 / ts:.1f} us ({ts:.1f} t/s); kernels alone {total:.1f} us; launches {sum(v[0] for v in per.values()) / steps:.0f} a step")
print("| kernel | launches a step | us a step | share |")
print("| --- | ---: | ---: | ---: |")
for k, (c, t) in sorted(per.items(), key=lambda kv: -kv[1][1]):
    print(f"| {k} | {c / steps:.1f} | {t / steps:.1f} | {100 * t / steps / total:.1f} % |")
PY
    cat "$OUT/$name-profile.md"
done
