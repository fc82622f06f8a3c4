#!/usr/bin/env bash
# The mat-vec against the ceiling of its structure, in one device call on an NVIDIA GPU: the
# `bench-kernels` mat-vec table, then scripts/gpu-bounds.cu (built here with nvcc) at each
# table row's weight bytes: a chain of dependent launches that only read those bytes, all
# loaded before the wait. summary.md gives, per row, the mat-vec's and the read-only chain's
# share of the copy rate, and the mat-vec's share of that ceiling; also the read-only chain
# without the wait (launches overlapping freely), which no decode step can have.
# Usage: bash scripts/gpu-bounds.sh   (.devcarry/rocmforge and .devcarry/rocmforge-sm_90.rfkb as
#   for scripts/gpu-engine.sh; FILTER, default matvec, picks the bench-kernels families)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rocmforge-gpu-bounds}
FILTER=${FILTER:-matvec}
mkdir -p "$OUT"
chmod +x .devcarry/rocmforge
nvcc -O3 -arch=sm_90a -o /tmp/gpu-bounds scripts/gpu-bounds.cu
.devcarry/rocmforge bench-kernels --bundle .devcarry/rocmforge-sm_90.rfkb --filter "$FILTER" > "$OUT/bench-kernels.txt"
# A row: "matvec q4_0 4096x4096   3.42   2748 GB/s   65%". Its bytes, from the time and the rate
# (within the rounding of the printed figures, under 0.5 %): the sizes are bench-kernels'.
# The one-token mat-vecs only: a batch's rate counts its weights once for all its tokens.
rows=$(awk '$1 ~ /^matvec(_glu|_multi)?$/ && $(NF-1) == "GB/s" { printf "%s %s %s %.0f %s\n", $1, $2, $3, $(NF-3) * $(NF-2) * 1e3, $(NF-3) }' \
    "$OUT/bench-kernels.txt")
sizes=$(echo "$rows" | awk '{ print $4 }' | sort -un)
# shellcheck disable=SC2086  # one argument per size
/tmp/gpu-bounds $sizes | tee "$OUT/bounds.txt"
python3 - "$OUT/bounds.txt" > "$OUT/summary.md" <<PY
import sys
lines = open(sys.argv[1]).read().split("\n")
copy = float(lines[0].split()[1]) * 1e9
bounds = {int(f[0]): (float(f[1]), float(f[3])) for f in (l.split() for l in lines[2:]) if f}
print(f"copy rate {copy / 1e9:.0f} GB/s")
print()
print("| kernel | MB | mat-vec µs | % of copy | dependent read-only µs | % of copy | mat-vec / ceiling | overlapped read-only, % of copy |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for row in """$rows""".strip().split("\n"):
    family, quant, shape, size, us = row.split()
    size, us = int(size), float(us)
    key = min(bounds, key=lambda b: abs(b - size))
    dep, free = bounds[key]
    pct = lambda t: 100 * size / (t * 1e-6) / copy
    print(f"| {family} {quant} {shape} | {size / 1e6:.1f} | {us:.2f} | {pct(us):.0f} | {dep:.2f} | {pct(dep):.0f} | {100 * dep / us:.0f} % | {pct(free):.0f} |")
PY
cat "$OUT/summary.md"
