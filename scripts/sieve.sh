#!/usr/bin/env bash
# Builds (release) and runs the sieve command line, installing the Debian packages it
# needs first. Example: scripts/sieve.sh train --data fashion-mnist --model cnn --epochs 10 --lr 0.02
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
sieve_install_packages
swift build -c release --product sieve >&2
exec .build/release/sieve "$@"
