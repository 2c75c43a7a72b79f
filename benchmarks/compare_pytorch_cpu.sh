#!/usr/bin/env bash
# Sieve vs PyTorch on this CPU, in one run: CIFAR ResNet-18 training step, eval forward
# (EL2N) and per-example gradient norms (GraNd: PyTorch vmap(grad) and hand-written
# ghost-norm hooks), examples/s and the ratios.
# Usage: benchmarks/compare_pytorch_cpu.sh [WIDTH] [BATCH] [STEPS]
# SIEVE=path/to/sieve compares another build (e.g. an older commit's) instead of this one.
set -euo pipefail
cd "$(dirname "$0")/.."
width=${1:-64}; batch=${2:-128}; steps=${3:-5}
sieve=${SIEVE:-.build/release/sieve}
[ -n "${SIEVE:-}" ] || swift build -c release --product sieve >/dev/null
benchmarks/setup-python.sh
out=$(mktemp -d)
"$sieve" bench --model resnet18 --width "$width" --batch "$batch" --input 3x32x32 --steps "$steps" --json "$out/sieve.json"
.venv-bench/bin/python benchmarks/pytorch_resnet18.py --width "$width" --batch "$batch" --steps "$steps" > "$out/torch.json"
(cd benchmarks && ../.venv-bench/bin/python pytorch_grand.py --width "$width" --batch "$batch" --steps 1 > "$out/grand.json")
python3 - "$out/sieve.json" "$out/torch.json" "$out/grand.json" <<'PY'
import json, sys
s, t, g = (json.load(open(p)) for p in sys.argv[1:4])
print(f"{'':14s} {'sieve':>10s} {t['framework']:>16s} {'ratio':>7s}")
for key, name in [("train_step_examples_per_second", "train step"), ("eval_forward_examples_per_second", "eval forward")]:
    print(f"{name:14s} {s[key]:10.1f} {t[key]:16.1f} {s[key] / t[key]:7.2f}x")
for key, name in [("vmap_examples_per_second", "grand vs vmap"), ("ghost_hooks_examples_per_second", "grand vs ghost")]:
    if key in g:
        print(f"{name:14s} {s['grand_examples_per_second']:10.1f} {g[key]:16.1f} {s['grand_examples_per_second'] / g[key]:7.2f}x")
print(f"grand / sieve train step: {s['grand_examples_per_second'] / s['train_step_examples_per_second']:.2f}x;"
      f" torch ghost vs vmap max rel. diff {g.get('max_relative_difference_ghost_vs_vmap', float('nan')):.1e}")
print(f"(examples/s; ResNet-18 width {s['width']}, batch {s['batch']}, {s['input']}; sieve on {s['device']}, torch threads {t['threads']})")
PY
