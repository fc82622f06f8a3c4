#!/usr/bin/env bash
# One device call: list the devices, verify the sm_90 bundle, run every kernel variant against
# the CPU reference at every size of the parity table (and the typed-launcher checks), and write
# the reports to $OUT. Expects the release binary and the bundle built on the
# development machine and carried in .devcarry/:
#   cargo build --release && mkdir -p .devcarry && strip -o .devcarry/rocmforge target/release/rocmforge
#   target/release/rocmforge compile --arch sm_90 -o .devcarry/rocmforge-sm_90.rfkb
# and, for the AMD algorithms executed with their wave and matrix instructions emulated
# (prelude/nvidia_wave64.h, partials/amd_matrix.hip.j2):
#   target/release/rocmforge compile --arch gfx942,gfx950,gfx1100 --emulate-on sm_90 --out-dir .devcarry
# then, through the device tool: bash scripts/gpu-check.sh   (carry: .devcarry)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rocmforge-gpu-check}
mkdir -p "$OUT"
BIN=.devcarry/rocmforge
BUNDLE=.devcarry/rocmforge-sm_90.rfkb
for f in "$BIN" "$BUNDLE"; do
    [ -f "$f" ] || { echo "gpu-check: $f is missing; see the header of $0" >&2; exit 1; }
done
chmod +x "$BIN"
export ROCMFORGE_KERNELS=.devcarry  # so `devices` shows the bundle it would use
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"
"$BIN" devices 2>&1 | tee -a "$OUT/device.txt"
"$BIN" kernels "$BUNDLE" > "$OUT/bundle.txt" 2>&1
echo "bundle: $(tail -1 "$OUT/bundle.txt")"
"$BIN" test-kernels --device cuda --bundle "$BUNDLE" --sizes "${SIZES:-full}" 2>&1 | tee "$OUT/parity.txt" | grep -Ev " ok$"
parity=$?
for emulated in .devcarry/rocmforge-*-on-sm_90.rfkb; do
    [ -f "$emulated" ] || continue
    name=$(basename "$emulated" .rfkb)
    "$BIN" test-kernels --device cuda --bundle "$emulated" --sizes "${SIZES:-full}" > "$OUT/parity-${name#rocmforge-}.txt" 2>&1 \
        || parity=1
    sed -n '/emulated on/,$p' "$OUT/parity-${name#rocmforge-}.txt"
done
"$BIN" bench-kernels --device cuda --bundle "$BUNDLE" 2>&1 | tee "$OUT/kernel-bench.txt"
exit $parity
