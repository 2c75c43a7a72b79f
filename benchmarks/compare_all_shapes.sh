#!/usr/bin/env bash
# Every shape of the CPU speed goals against PyTorch, ROUNDS times: the audit's cnn on
# 1x28x28 and ResNet-18 widths 16 and 64 on 1x28x28 and 3x32x32, each a
# benchmarks/compare_pytorch_cpu.sh run (Sieve and PyTorch in one run). One text file per
# round and shape in OUT (r1-16_128_3_1x28x28_3.txt, ...); run it with nothing else of
# yours on the machine.
# Usage: benchmarks/compare_all_shapes.sh OUT [ROUNDS]     (SIEVE=path picks the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benchmarks/compare_all_shapes.sh OUT [ROUNDS]}; rounds=${2:-3}
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
    for cfg in "16 128 5 1x28x28 3 cnn" "16 128 3 1x28x28 3" "16 128 3 3x32x32 3" "64 128 2 1x28x28 3" "64 128 2 3x32x32 3"; do
        # shellcheck disable=SC2086
        benchmarks/compare_pytorch_cpu.sh $cfg > "$out/r$r-${cfg// /_}.txt" 2>&1
        grep -E "^(train step|eval forward|grand vs ghost) " "$out/r$r-${cfg// /_}.txt" | sed "s|^|r$r $cfg: |"
    done
done
