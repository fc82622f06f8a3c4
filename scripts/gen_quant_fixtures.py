#!/usr/bin/env python3
"""Writes tests/fixtures/quant/<type>.bin: blocks and what the PyPI `gguf` package (an
implementation independent of ours) makes of them.

Each file: u32 n_blocks, u32 block_len, then n_blocks raw blocks, then n_blocks*block_len f32
values from gguf.quants.dequantize; for types gguf can quantize, a second section follows:
u32 n_values, n_values f32 inputs, then gguf.quants.quantize's bytes of them.

    pip install gguf==0.19.0 numpy && python3 scripts/gen_quant_fixtures.py
"""
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T, GGML_QUANT_SIZES, quants

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "quant"
N_BLOCKS = 8

# Byte offsets of each format's scale fields: (offset, kind), kind f16 or e8m0 or f32.
SCALES = {
    T.Q4_0: [(0, "f16")], T.Q4_1: [(0, "f16"), (2, "f16")], T.Q5_0: [(0, "f16")],
    T.Q5_1: [(0, "f16"), (2, "f16")], T.Q8_0: [(0, "f16")],
    T.Q2_K: [(80, "f16"), (82, "f16")], T.Q3_K: [(108, "f16")], T.Q4_K: [(0, "f16"), (2, "f16")],
    T.Q5_K: [(0, "f16"), (2, "f16")], T.Q6_K: [(208, "f16")],
    T.IQ4_NL: [(0, "f16")], T.IQ4_XS: [(0, "f16")], T.MXFP4: [(0, "e8m0")],
}
QUANTIZABLE = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.BF16]


def random_blocks(rng, ty):
    block_len, block_bytes = GGML_QUANT_SIZES[ty]
    raw = rng.integers(0, 256, size=(N_BLOCKS, block_bytes), dtype=np.uint8)
    for off, kind in SCALES.get(ty, []):
        if kind == "f16":
            vals = rng.uniform(1e-3, 1e-1, size=N_BLOCKS).astype(np.float16)
            raw[:, off:off + 2] = vals.view(np.uint8).reshape(N_BLOCKS, 2)
        else:
            raw[:, off] = rng.integers(110, 135, size=N_BLOCKS)
    return raw


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261123)
    for ty in list(SCALES) + [T.F16, T.BF16]:
        block_len, block_bytes = GGML_QUANT_SIZES[ty]
        n_blocks = N_BLOCKS if block_len > 1 else 256
        if ty in SCALES:
            raw = random_blocks(rng, ty)
        else:
            raw = rng.standard_normal(n_blocks).astype(np.float16 if ty == T.F16 else np.float32)
            raw = quants.quantize(raw, ty).view(np.uint8).reshape(n_blocks, block_bytes)
        deq = quants.dequantize(raw.reshape(-1), ty).astype(np.float32).reshape(-1)
        parts = [struct.pack("<II", n_blocks, block_len), raw.tobytes(), deq.tobytes()]
        if ty in QUANTIZABLE:
            x = rng.standard_normal(4 * 32 * 8).astype(np.float32)
            q = quants.quantize(x, ty).reshape(-1).view(np.uint8)
            parts += [struct.pack("<I", x.size), x.tobytes(), q.tobytes()]
        (OUT / f"{ty.name.lower()}.bin").write_bytes(b"".join(parts))
        print(ty.name, file=sys.stderr)


if __name__ == "__main__":
    main()
