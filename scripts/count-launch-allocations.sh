#!/usr/bin/env bash
# Counts heap allocations per OpenCL kernel launch: builds a small LD_PRELOAD library
# that counts malloc/calloc/realloc/aligned allocations per thread, and runs the
# KernelsTests test `launchesAllocateNothing` under it (the test is skipped without the
# library). The test compares each device op with the same number of raw
# clSetKernelArg + clEnqueueNDRangeKernel calls: what the OpenCL driver itself allocates
# per enqueue is the baseline, anything above it would be Sieve's. Needs the OpenCL
# tests' platform (PoCL) and a release build with tests:
#   swift build -c release --build-tests -Xswiftc -enable-testing [--scratch-path DIR]
# Usage: scripts/count-launch-allocations.sh [--scratch-path DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$(mktemp -d)/malloc-count.so
trap 'rm -rf "$(dirname "$lib")"' EXIT
cc -O2 -shared -fPIC -x c -o "$lib" - <<'C'
#include <errno.h>
#include <stddef.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static __thread unsigned long calls __attribute__((tls_model("initial-exec")));
/* Allocation calls made so far by the calling thread. */
unsigned long sieve_malloc_calls(void) { return calls; }
void *malloc(size_t n) { calls++; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { calls++; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { calls++; return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { calls++; return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { calls++; return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
    calls++;
    void *r = __libc_memalign(a, n);
    if (!r) return ENOMEM;
    *p = r;
    return 0;
}
C
LD_PRELOAD="$lib" swift test -c release -Xswiftc -enable-testing --skip-build "$@" \
    --filter 'KernelsTests.OpenCLTests/launchesAllocateNothing' 2>&1 | grep -E 'allocations|passed|failed|skipped|error'
