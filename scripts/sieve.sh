#!/usr/bin/env bash
# Builds (release) and runs the sieve command line, installing the Debian packages it
# needs first. Paths in the arguments are relative to the folder you run it from.
# Example: scripts/sieve.sh train --data fashion-mnist --model cnn --epochs 3 --out runs/cnn
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
(
    cd "$repo"
    source scripts/common.sh
    sieve_install_packages
    swift build -c release --product sieve >&2
)
exec "$repo/.build/release/sieve" "$@"
