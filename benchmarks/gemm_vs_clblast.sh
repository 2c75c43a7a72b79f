#!/usr/bin/env bash
# Sieve's OpenCL GEMM against CLBlast (Debian libclblast-dev) on one OpenCL device, same run.
# Usage: benchmarks/gemm_vs_clblast.sh [DEVICE_INDEX]   (index as in `sieve devices`)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg-query -W -f='${Status}' libclblast-dev 2>/dev/null | grep -q "install ok installed"; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get install -y -qq libclblast-dev ocl-icd-opencl-dev opencl-headers >/dev/null
fi
mkdir -p .build-bench
gcc -O2 -o .build-bench/gemm_vs_clblast benchmarks/gemm_vs_clblast.c -lclblast -lOpenCL
# gemm.cl is built with tiles.cl (the shared tiled loop) in front, as Sieve builds it.
cat Sources/Kernels/OpenCL/tiles.cl Sources/Kernels/OpenCL/gemm.cl > .build-bench/gemm-with-tiles.cl
.build-bench/gemm_vs_clblast "${1:-0}" .build-bench/gemm-with-tiles.cl
