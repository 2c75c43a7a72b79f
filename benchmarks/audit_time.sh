#!/usr/bin/env bash
# The README's main job timed end to end: `sieve audit --limit 12000 --noise symmetric:0.2
# --epochs 8` (report included), wall seconds, ROUNDS times, alternating the builds given
# (e.g. this one and an older commit's, so that both see the same machine), then the
# equivalent PyTorch loop (benchmarks/pytorch_audit_loop.py) ROUNDS times.
# Usage: benchmarks/audit_time.sh [ROUNDS] [SIEVE_BINARY ...]   (default: 3, .build/release/sieve)
#   e.g. benchmarks/audit_time.sh 3 .build/release/sieve /tmp/old/.build/release/sieve
# SKIP_PYTORCH=1 leaves the PyTorch loop out.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
builds=("$@")
if [ ${#builds[@]} -eq 0 ]; then
    swift build -c release --product sieve >/dev/null
    builds=(.build/release/sieve)
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
    for b in "${builds[@]}"; do
        t0=$(date +%s.%N)
        "$b" audit --limit 12000 --noise symmetric:0.2 --epochs 8 --out "$out/run" --quiet > "$out/stdout" 2>&1 \
            || { cat "$out/stdout" >&2; exit 1; }
        t1=$(date +%s.%N)
        echo "round $r  $b  $(python3 -c "print(f'{$t1 - $t0:.1f}')") s  $(grep -m1 -o 'test accuracy [0-9.]*%' "$out/stdout" || true)"
        rm -rf "$out/run"
    done
done
if [ -z "${SKIP_PYTORCH:-}" ]; then
    benchmarks/setup-python.sh
    for r in $(seq 1 "$rounds"); do
        (cd benchmarks && ../.venv-bench/bin/python pytorch_audit_loop.py --limit 12000 --epochs 8 --noise 0.2)
    done
fi
