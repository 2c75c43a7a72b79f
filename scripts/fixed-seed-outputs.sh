#!/usr/bin/env bash
# Runs every command that writes results with fixed seeds on a small slice of
# Fashion-MNIST, into OUT: the outputs two versions of Sieve must agree on byte for
# byte (compare two OUTs with `diff -r`; meta.json and report.html carry run ids and
# times, and the JSON summaries times).
#   scripts/fixed-seed-outputs.sh .build/release/sieve /tmp/outputs-new
set -euo pipefail
sieve=$(realpath "$1"); out=$2
rm -rf "$out"; mkdir -p "$out"; cd "$out"
common=(--limit 400 --test-limit 200 --model mlp --device cpu --quiet)
"$sieve" score grand "${common[@]}" --inits 2 --at-epoch 1 --out grand >/dev/null
"$sieve" score el2n "${common[@]}" --seeds 2 --at-epoch 1 --out el2n >/dev/null
"$sieve" score dynamics "${common[@]}" --epochs 3 --vog --aum-threshold --noise symmetric:0.2 --out dynamics >/dev/null
"$sieve" score ssft "${common[@]}" --epochs 2 --seeds 1 --out ssft >/dev/null
"$sieve" audit "${common[@]}" --epochs 3 --noise pairs:0.2 --inits 2 --ssft --ssft-epochs 1 --folds 2 --vog \
    --aum-threshold --checkpoints 1,3 --out audit --json audit.json >/dev/null
"$sieve" audit --limit 300 --test-limit 100 --device cpu --quiet --epochs 2 --val 0.2 --out audit-cnn >/dev/null
"$sieve" prune-curve --scores el2n --score el2n,margin --keep-hardest 0.5 --seeds 1 --epochs 1 \
    --limit 400 --test-limit 200 --model mlp --device cpu --quiet --out curve >/dev/null
"$sieve" evaluate --scores dynamics --json evaluate.json >/dev/null
"$sieve" prune --scores audit --score aum --drop-suspicious 0.1 --out keep.txt >/dev/null
"$sieve" train --limit 400 --test-limit 200 --model mlp --device cpu --epochs 1 --subset keep.txt --out train >/dev/null
"$sieve" report grand --output grand-again.html >/dev/null
for shard in 0 1 2; do
    "$sieve" score grand "${common[@]}" --inits 2 --at-epoch 1 --shard $shard/3 --out grand-shard$shard >/dev/null
done
"$sieve" merge grand-shard0 grand-shard1 grand-shard2 --quiet --out grand-merged >/dev/null
# Times and run ids out of the JSON summaries, so two versions compare.
for f in audit.json evaluate.json; do
    [ -f "$f" ] && sed -E -i 's/"seconds": [0-9.e+-]+/"seconds": T/g' "$f"
done
find . -type f | sort | xargs sha256sum > ../$(basename "$out").sha256
