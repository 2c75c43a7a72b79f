# Shared by scripts/*.sh: install missing Debian packages, pick OpenBLAS kernels.
# shellcheck shell=bash

# Debian packages Sieve builds, runs and tests with.
SIEVE_APT_PACKAGES=(libopenblas-dev ocl-icd-opencl-dev opencl-headers zlib1g-dev libpng-dev libjpeg62-turbo-dev pocl-opencl-icd dataset-fashion-mnist)

# Installs whichever of SIEVE_APT_PACKAGES are missing (as root, or through sudo).
sieve_install_packages() {
    local missing=()
    for p in "${SIEVE_APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing Debian packages: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian's OpenBLAS falls back to slow SSE3 kernels on CPUs it does not know (common on
# virtual machines); choose the kernels from the CPU flags unless the user already did.
# (The sieve binary does the same by itself; this covers the test binaries.)
sieve_openblas_coretype() {
    [ -n "${OPENBLAS_CORETYPE:-}" ] && return 0
    local flags
    flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
    if [[ $flags == *avx512f* && $flags == *avx512bw* && $flags == *avx512vl* && $flags == *avx512dq* ]]; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif [[ $flags == *avx2* && $flags == *fma* ]]; then
        export OPENBLAS_CORETYPE=Haswell
    fi
}
