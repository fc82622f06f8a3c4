#!/usr/bin/env bash
# Installs the GPU kernel toolchain on a Debian 12 machine without ROCm or CUDA:
#   clang-22 + lld-22 + llvm-22 (Debian)  -> AMD code objects for gfx1100, gfx942, gfx950, and PTX for sm_90
#   ptxas 13.0 (PyPI nvidia-cuda-nvcc)     -> sm_90 cubins; 13.0 matches the CUDA 13.0 driver of the test GPU
# Idempotent: a tool that is already there is not installed again. `rocmforge compile` finds both.
set -euo pipefail

LLVM=22
PTXAS_VERSION=13.0.88
CACHE=${ROCMFORGE_CACHE:-$HOME/.cache/rocmforge}
NV_DIR=$CACHE/toolchain/nvidia-cuda-nvcc-$PTXAS_VERSION

need_apt=()
for tool in clang++-$LLVM ld.lld-$LLVM llvm-readelf-$LLVM; do
    command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
if ((${#need_apt[@]})); then
    echo "toolchain: installing clang-$LLVM lld-$LLVM llvm-$LLVM (missing: ${need_apt[*]})" >&2
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        clang-$LLVM lld-$LLVM llvm-$LLVM >/dev/null
fi

if ! ls "$NV_DIR"/nvidia/cu13/bin/ptxas >/dev/null 2>&1; then
    echo "toolchain: installing ptxas $PTXAS_VERSION into $NV_DIR" >&2
    python3 -m pip install -q --disable-pip-version-check --no-deps --target "$NV_DIR" \
        "nvidia-cuda-nvcc==$PTXAS_VERSION"
fi

echo "toolchain: $(clang++-$LLVM --version | head -1)" >&2
echo "toolchain: $("$NV_DIR"/nvidia/cu13/bin/ptxas --version | tail -1)" >&2
