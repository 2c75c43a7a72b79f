#!/usr/bin/env bash
# Checks that Sieve's library products work as a versioned dependency of another
# package: tags a throw-away clone of this checkout, builds a consumer that imports
# Kernels, Trainer and Metrics with SIEVE_PORTABLE=1 (SwiftPM refuses the unsafe
# -Ounchecked flag of Kernels in a versioned dependency; Package.swift drops it then),
# and runs it. Not part of scripts/test.sh: it builds Sieve a second time.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
sieve_install_packages
sieve_openblas_coretype
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q . "$work/sieve"
git -C "$work/sieve" add -A >/dev/null 2>&1 || true
git -C "$work/sieve" tag 99.0.0
mkdir -p "$work/consumer/Sources/Consumer"
cat > "$work/consumer/Package.swift" <<SWIFT
// swift-tools-version: 6.1
import PackageDescription
let package = Package(
    name: "Consumer",
    dependencies: [.package(url: "file://$work/sieve", from: "99.0.0")],
    targets: [.executableTarget(name: "Consumer", dependencies: [
        .product(name: "Kernels", package: "sieve"), .product(name: "Trainer", package: "sieve"),
        .product(name: "Metrics", package: "sieve"),
    ])])
SWIFT
cat > "$work/consumer/Sources/Consumer/main.swift" <<'SWIFT'
import Kernels
import Metrics
import Trainer

// A score, a ranking metric and a model on the CPU device, through the public API.
let auroc = Ranking.auroc(scores: [0.9, 0.1, 0.8, 0.3], positives: [true, false, true, false], direction: .higherIsSuspicious)
let model = try Model(.cnn, input: FeatureShape(1, 8, 8), classes: 3, device: CPUDevice(), maxBatch: 4)
print("auroc \(auroc), cnn with \(model.parameterCount) parameters")
SWIFT
cd "$work/consumer"
SIEVE_PORTABLE=1 swift build -c release
SIEVE_PORTABLE=1 swift run -c release --skip-build Consumer
