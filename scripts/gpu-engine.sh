#!/usr/bin/env bash
# One device call: the model engine on the GPU against the CPU engine.
#   1. synthetic llama/qwen2/gemma3 models: GPU executor vs CPU executor (tests/gpu_engine.rs);
#   2. a real model, if one was brought over (see below): greedy ids on cpu and cuda against
#      llama.cpp's reference (near-tie rule), perplexity on both devices, and `bench`.
# Expects in .devcarry/ (built on the development machine):
#   rocmforge                the stripped release binary
#   rocmforge-sm_90.rfkb     `rocmforge compile --arch sm_90 -o .devcarry/rocmforge-sm_90.rfkb`
#   gpu_engine-test          `cargo test --release --test gpu_engine --no-run`'s binary
# A real model comes in parts (the carried tree is limited to 64 MiB): each call copies the parts
# in .devcarry/c/ to /tmp/mdl; once all are there, MODEL_SHA256 names the assembled file's hash.
# PPL_DEVICES (default "cuda cpu") names the devices that compute the perplexity.
# Then: bash scripts/gpu-engine.sh   (carry: .devcarry)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rocmforge-gpu-engine}
mkdir -p "$OUT" /tmp/mdl
D=.devcarry
for f in rocmforge rocmforge-sm_90.rfkb gpu_engine-test; do
    [ -f "$D/$f" ] || { echo "gpu-engine: $D/$f is missing; see the header of $0" >&2; exit 1; }
done
chmod +x "$D/rocmforge" "$D/gpu_engine-test"
export ROCMFORGE_KERNELS=$PWD/$D
BIN=$PWD/$D/rocmforge
[ -d "$D/c" ] && cp "$D"/c/* /tmp/mdl/ 2>/dev/null
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"

echo "== synthetic models: GPU executor vs CPU executor"
"$D/gpu_engine-test" --include-ignored --nocapture --test-threads 1 2>&1 | tee "$OUT/synthetic.txt" | grep -E "relative error|skipped|test result|panicked|FAILED"

MODEL=/tmp/model.gguf
if [ -n "${MODEL_SHA256:-}" ]; then
    cat /tmp/mdl/m.* > "$MODEL" 2>/dev/null
    if ! echo "$MODEL_SHA256  $MODEL" | sha256sum -c --quiet 2>/dev/null; then
        echo "gpu-engine: the model parts in /tmp/mdl do not assemble to $MODEL_SHA256 (the machine may have been given back): $(ls /tmp/mdl)" >&2
        exit 1
    fi
    echo "== real model: greedy on cpu and cuda vs llama.cpp (${GREEDY_JSON:-none})"
    if [ -n "${GREEDY_JSON:-}" ]; then
        python3 - "$BIN" "$MODEL" "$GREEDY_JSON" <<'PY' 2>&1 | tee "$OUT/greedy.txt"
import json, subprocess, sys
bin, model, ref = sys.argv[1:4]
cases = json.load(open(ref))["cases"]
for c in cases:
    got = {}
    for dev in ["cpu", "cuda"]:
        r = subprocess.run([bin, "generate", "-m", model, "--device", dev, "-p", c["prompt"], "-n", str(len(c["ids"])),
                            "--temp", "0", "--ignore-eos", "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            print(c["name"], dev, "FAILED:", r.stderr.strip()[-500:]); got[dev] = None; continue
        j = json.loads(r.stdout); got[dev] = j
        assert j["prompt_ids"] == c["prompt_ids"], f"{c['name']}: prompt ids differ"
    for dev, j in got.items():
        if j is None: continue
        ids, want = j["ids"], c["ids"]
        div = next((i for i, (a, b) in enumerate(zip(ids, want)) if a != b), None)
        if div is None:
            print(f"{c['name']} {dev}: {len(ids)} ids identical to llama.cpp ({j['gen_tps']:.1f} t/s)")
        else:
            s = c["steps"][div] if "steps" in c else "not recorded"
            print(f"{c['name']} {dev}: first divergence at step {div}: ours {ids[div]}, llama.cpp {want[div]}, its top2/margin {s}")
    if got.get("cpu") and got.get("cuda"):
        a, b = got["cpu"]["ids"], got["cuda"]["ids"]
        div = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
        print(f"{c['name']}: cuda vs cpu: " + ("identical" if div is None else f"first divergence at step {div}"))
PY
    fi
    echo "== real model: perplexity, GPL-3, c=512"
    for dev in ${PPL_DEVICES:-cuda cpu}; do
        "$BIN" perplexity -m "$MODEL" --device "$dev" -f tests/fixtures/gemma3-270m/gpl-3.txt -c 512 --json 2>"$OUT/ppl-$dev.err" \
            | python3 -c "import json,sys; j=json.load(sys.stdin); print('$dev', 'ppl %.4f +/- %.5f' % (j['ppl'], j['ppl_std']))" \
            || tail -3 "$OUT/ppl-$dev.err"
    done 2>&1 | tee "$OUT/perplexity.txt"
    echo "== real model: bench on cuda"
    "$BIN" bench -m "$MODEL" --device cuda -p 512 -n 128 -r 3 2>&1 | tee "$OUT/bench.txt"
fi
