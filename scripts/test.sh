#!/usr/bin/env bash
# Runs Sieve's whole test suite (CPU only; the OpenCL tests use PoCL), installing the
# Debian packages it needs first. Release build: the numeric code is slow in debug.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
# Chromium renders the HTML report to a PNG in the report tests (scripts/render-report.sh).
SIEVE_APT_PACKAGES+=(chromium)
# A throwaway one-node Slurm cluster runs sharded `score grand` as a job array (SlurmTests, scripts/slurm-local.sh).
SIEVE_APT_PACKAGES+=(slurmctld slurmd slurm-client munge)
sieve_install_packages
sieve_openblas_coretype
swift build -c release --build-tests -Xswiftc -enable-testing
swift test -c release -Xswiftc -enable-testing --skip-build "$@"
