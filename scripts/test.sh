#!/usr/bin/env bash
# Runs Sieve's whole test suite (CPU only; the OpenCL tests use PoCL), installing the
# Debian packages it needs first. Release build: the numeric code is slow in debug.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
# Chromium renders the HTML report to a PNG in the report tests (scripts/render-report.sh).
SIEVE_APT_PACKAGES+=(chromium)
# Oclgrind simulates an OpenCL device and reports out-of-bounds accesses and data races (OclgrindTests).
SIEVE_APT_PACKAGES+=(oclgrind)
# A throwaway one-node Slurm cluster runs sharded `score grand` as a job array (SlurmTests, scripts/slurm-local.sh).
SIEVE_APT_PACKAGES+=(slurmctld slurmd slurm-client munge)
sieve_install_packages
sieve_openblas_coretype
swift build -c release --build-tests -Xswiftc -enable-testing

# The Slurm tests start munged when no munge daemon answers; a run leaves the machine as it
# found it, so a munged started during the tests is stopped at the end.
munge_was_up=false
if command -v munge >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then munge_was_up=true; fi
stop_our_munged() {
    if [ "$munge_was_up" = false ] && command -v munged >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        munged --stop >/dev/null 2>&1 || true
    fi
}
trap stop_our_munged EXIT

# A hung test fails the run after SIEVE_TEST_TIMEOUT seconds (default 30 minutes; the
# whole suite takes a few) instead of holding CI until its own limit.
# (Run from a terminal, without the limit: `timeout` would take the tests out of the
# terminal's foreground group, and Ctrl-C would no longer reach them.)
limit=${SIEVE_TEST_TIMEOUT:-1800}
status=0
if [ -t 0 ] && [ -z "${CI:-}" ]; then
    swift test -c release -Xswiftc -enable-testing --skip-build "$@" || status=$?
else
    timeout --kill-after=30 "$limit" swift test -c release -Xswiftc -enable-testing --skip-build "$@" || status=$?
fi
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "scripts/test.sh: the tests did not finish within $limit s (SIEVE_TEST_TIMEOUT); stopped" >&2
fi
exit "$status"
