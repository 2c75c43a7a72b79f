#!/usr/bin/env bash
# The verdict's evaluation (docs/performance.md, "The verdict"). One audit per noise
# setting on the first LIMIT Fashion-MNIST training images (small CNN, 8 epochs), each
# printing the estimated number of label errors, the flagged set's precision, recall and
# F1, how often the suggested label is right, and every score's AUROC; then, for pairs
# 25% (--mode fix) and symmetric 40% (--mode drop), `sieve clean --oracle` (one seed): test accuracy with noisy
# labels, the cleaned set, a random drop of its size, the oracle drop and clean labels.
#   benchmarks/verdict.sh [OUT] [LIMIT]     (12,000: about 3 minutes per audit and
#                                            10 per cleaning on 2 cores)
# benchmarks/verdict_table.py OUT/symmetric-* OUT/pairs-* prints the tables of docs/performance.md from the folders.
#   VERDICT_SETTINGS="pairs:0.25" VERDICT_CLEAN="drop relabel" benchmarks/verdict.sh
#   SIEVE=path/to/sieve benchmarks/verdict.sh      (a built binary; no build)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/verdict}
limit=${2:-12000}
settings=${VERDICT_SETTINGS:-symmetric:0.2 symmetric:0.4 pairs:0.25 pairs:0.4}
modes=${VERDICT_CLEAN:-}   # default: fix under pairs noise, drop under symmetric (docs/performance.md)
sieve=${SIEVE:-}
if [ -z "$sieve" ]; then swift build -c release --product sieve >/dev/null; sieve=.build/release/sieve; fi
mkdir -p "$out"
for noise in $settings; do
    dir="$out/${noise/:/-}"
    echo "== $noise"
    start=$SECONDS
    "$sieve" audit --limit "$limit" --noise "$noise" --epochs 8 --no-report --quiet --force --out "$dir" \
        | grep -E "label errors|against the flipped|^  (suspicion|error_probability|aum|correctness|confidence|first_learned_epoch|forgetting|el2n_e2|prototype_distance) "
    echo "audit: $((SECONDS - start)) s"
done
for noise in $settings; do
    case $noise in pairs:0.25|symmetric:0.4) ;; *) continue ;; esac
    case $noise in pairs:*) default=fix ;; *) default=drop ;; esac
    for mode in ${modes:-$default}; do
        echo "== clean $noise --mode $mode"
        "$sieve" clean --audit "$out/${noise/:/-}" --mode "$mode" --seeds 1 --oracle --quiet --force --out "$out/clean-$mode-${noise/:/-}" \
            | grep -vE "^kept examples"
    done
done
