#!/usr/bin/env bash
# Builds a portable sieve for a GPU machine without Swift (design.md, "Running on a GPU
# machine"): a release binary with the Swift runtime linked in statically, plus the shared
# libraries it needs that such a machine may lack (OpenBLAS and its Fortran runtime, the
# OpenCL ICD loader), and a launcher that points LD_LIBRARY_PATH at them and, where the
# NVIDIA OpenCL driver is installed but not registered, OCL_ICD_VENDORS at an nvidia.icd.
# Output: bundle/ (ignored by git). Usage: scripts/gpu-bundle.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
sieve_install_packages
out=${1:-bundle}
swift build -c release --static-swift-stdlib --product sieve --scratch-path .build-static
rm -rf "$out" && mkdir -p "$out/lib"
cp .build-static/release/sieve "$out/sieve.bin"
# every shared library but the C/C++ runtime every Linux has
ldd "$out/sieve.bin" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libstdc++.so*|libgcc_s.so*|ld-linux*) ;;
        *) cp -L "$lib" "$out/lib/" ;;
    esac
done
cat > "$out/sieve" <<'LAUNCH'
#!/usr/bin/env bash
# Runs the bundled sieve with its libraries; registers the NVIDIA OpenCL driver when the
# system's ICD list lacks it.
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -z "${OCL_ICD_VENDORS:-}" ]; then
    for nv in /usr/lib/libnvidia-opencl.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1; do
        if [ -e "$nv" ] && ! grep -qs nvidia /etc/OpenCL/vendors/*.icd; then
            mkdir -p "$here/icd" && echo "$nv" > "$here/icd/nvidia.icd"
            export OCL_ICD_VENDORS="$here/icd"
            break
        fi
    done
fi
exec "$here/sieve.bin" "$@"
LAUNCH
chmod +x "$out/sieve"
echo "bundle in $out/: sieve (launcher), sieve.bin, lib/:"
ls -1 "$out/lib"
