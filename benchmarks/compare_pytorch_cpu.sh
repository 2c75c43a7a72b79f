#!/usr/bin/env bash
# Sieve vs PyTorch on this CPU, in one run: training step, eval forward (EL2N) and
# per-example gradient norms (GraNd: PyTorch vmap(grad) and hand-written ghost-norm hooks)
# of one network (CIFAR ResNet-18 by default, or MODEL: cnn, the audit's), examples/s
# (median of REPEATS rounds of STEPS batches, both sides) and the ratios. PyTorch at its
# strongest: its eval forward and GraNd run with batch-norm statistics computed from the
# data after it has trained in the same process, denormals flushed.
# Usage: benchmarks/compare_pytorch_cpu.sh [WIDTH] [BATCH] [STEPS] [INPUT] [REPEATS] [MODEL]
#   e.g. benchmarks/compare_pytorch_cpu.sh 64 128 3 3x32x32 3
#        benchmarks/compare_pytorch_cpu.sh 16 128 3 1x28x28 3
#        benchmarks/compare_pytorch_cpu.sh 16 128 5 1x28x28 3 cnn
# SIEVE=path/to/sieve compares another build (e.g. an older commit's) instead of this one.
# SIEVE_COMPARE_OUT=FILE.json keeps both sides' figures (benchmarks/plot_passes.py draws them).
set -euo pipefail
cd "$(dirname "$0")/.."
width=${1:-64}; batch=${2:-128}; steps=${3:-3}; input=${4:-3x32x32}; repeats=${5:-3}; model=${6:-resnet18}
sieve=${SIEVE:-.build/release/sieve}
[ -n "${SIEVE:-}" ] || swift build -c release --product sieve >/dev/null
benchmarks/setup-python.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$sieve" bench --model "$model" --width "$width" --batch "$batch" --input "$input" --steps "$steps" --repeats "$repeats" \
    --json "$out/sieve.json"
threads=$(nproc)
.venv-bench/bin/python benchmarks/pytorch_resnet18.py --model "$model" --width "$width" --batch "$batch" --input "$input" --steps "$steps" \
    --repeats "$repeats" --threads "$threads" > "$out/torch.json"
(cd benchmarks && ../.venv-bench/bin/python pytorch_grand.py --model "$model" --width "$width" --batch "$batch" --input "$input" --steps 1 \
    --repeats "$repeats" --threads "$threads" > "$out/grand.json")
python3 - "$out/sieve.json" "$out/torch.json" "$out/grand.json" "${SIEVE_COMPARE_OUT:-}" <<'PY'
import json, sys
s, t, g = (json.load(open(p)) for p in sys.argv[1:4])
print(f"\n{'':14s} {'sieve':>10s} {t['framework']:>16s} {'ratio':>7s}")
for key, name in [("train_step_examples_per_second", "train step"), ("eval_forward_examples_per_second", "eval forward")]:
    print(f"{name:14s} {s[key]:10.1f} {t[key]:16.1f} {s[key] / t[key]:7.2f}x")
for key, name in [("vmap_examples_per_second", "grand vs vmap"), ("ghost_hooks_examples_per_second", "grand vs ghost")]:
    if key in g:
        print(f"{name:14s} {s['grand_examples_per_second']:10.1f} {g[key]:16.1f} {s['grand_examples_per_second'] / g[key]:7.2f}x")
print(f"grand / sieve train step: {s['grand_examples_per_second'] / s['train_step_examples_per_second']:.2f}x;"
      f" torch ghost vs vmap max rel. diff {g.get('max_relative_difference_ghost_vs_vmap', float('nan')):.1e}")
passes = s["models"][0]["passes"]
if "sgemm_gflops" in s:
    print("sieve's passes as share of cblas_sgemm (" + f"{s['sgemm_gflops']:.0f} GFLOP/s): "
          + ", ".join(f"{p['pass']} {100 * p['share_of_sgemm']:.0f}%" for p in passes))
print(f"(examples/s, median of {s['repeats']} rounds of {s['steps']} batches; {t['model']} width {s['width']}, batch {s['batch']},"
      f" {s['input']}; sieve on {s['device']}, torch threads {t['threads']})")
if sys.argv[4]:
    json.dump({"sieve": s, "pytorch": t, "pytorch_grand": g}, open(sys.argv[4], "w"), indent=1)
PY
