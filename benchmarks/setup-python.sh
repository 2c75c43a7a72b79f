#!/usr/bin/env bash
# Creates .venv-bench with PyTorch (CPU use) for the comparison scripts; Sieve itself never needs Python.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c "import torch" 2>/dev/null; then
    python3 -m venv .venv-bench
    .venv-bench/bin/pip install --quiet torch numpy
fi
