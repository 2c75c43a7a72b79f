#!/usr/bin/env bash
# Creates .venv-bench with PyTorch (CPU use), cleanlab and scikit-learn for the comparison
# scripts; Sieve itself never needs Python. Idempotent: an existing venv is kept, and only
# packages it cannot import are installed.
# Note: torch from PyPI on Linux x86_64 brings the CUDA runtime wheels (the venv is about
# 5.7 GB), though the scripts only use the CPU; pip prefers PyPI's newest torch even over an
# older +cpu wheel in PIP_FIND_LINKS.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-bench/bin/python ]; then
    python3 -m venv .venv-bench
fi
missing=()
for spec in torch:torch numpy:numpy cleanlab:cleanlab sklearn:scikit-learn; do
    module=${spec%%:*} package=${spec#*:}
    .venv-bench/bin/python -c "import $module" 2>/dev/null || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    .venv-bench/bin/pip install --quiet "${missing[@]}"
fi
