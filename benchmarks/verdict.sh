#!/usr/bin/env bash
# The verdict's evaluation (docs/performance.md, "The verdict"): one audit per noise
# setting on the first 12,000 Fashion-MNIST training images (small CNN, 8 epochs), each
# printing the estimated number of label errors, the flagged set's precision, recall and
# F1 and how often the suggested label is right, then every score's AUROC.
#   benchmarks/verdict.sh [OUT]          (about 5 minutes per setting on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/verdict}
swift build -c release --product sieve >/dev/null
mkdir -p "$out"
for noise in symmetric:0.2 symmetric:0.4 pairs:0.25 pairs:0.4; do
    dir="$out/${noise/:/-}"
    echo "== $noise"
    .build/release/sieve audit --limit 12000 --noise "$noise" --epochs 8 --no-report --quiet --force --out "$dir" \
        | grep -E "label errors|against the flipped|suspicion|^  (aum|correctness|confidence|first_learned_epoch|el2n_e2) "
done
