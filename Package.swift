// swift-tools-version: 6.1
// Sieve: train image classifiers and score every training example.
//
// Dependencies point one way: COpenCL, CBLAS <- Kernels <- Trainer -> Metrics; sieve -> all.
import PackageDescription

/// Numeric targets: bounds checks and exclusivity checks off in release builds (the
/// kernels are tested against Double references in every configuration).
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    .swiftLanguageMode(.v5),
]

let package = Package(
    name: "Sieve",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sieve", targets: ["sieve"]),
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "Trainer", targets: ["Trainer"]),
        .library(name: "Metrics", targets: ["Metrics"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C modules: only Kernels (and the gzip reader in Trainer) import them.
        .systemLibrary(name: "COpenCL", pkgConfig: "OpenCL",
                       providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        .target(name: "Kernels", dependencies: ["CBLAS", "COpenCL"],
                // OpenCL C sources compiled into the binary (never Bundle.module: it breaks
                // for copied or static binaries); one op family per file.
                resources: ["elementwise", "gemm", "conv", "norm", "layers"].map { .embedInCode("OpenCL/\($0).cl") },
                swiftSettings: fastMath),
        .target(name: "Metrics", swiftSettings: fastMath),
        .target(name: "Trainer", dependencies: ["Kernels", "Metrics", "CZlib"], swiftSettings: fastMath),
        .executableTarget(
            name: "sieve",
            dependencies: [
                "Kernels", "Trainer", "Metrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]),

        .testTarget(name: "KernelsTests", dependencies: ["Kernels"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "TrainerTests", dependencies: ["Trainer", "Kernels", "Metrics"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "SieveCLITests", dependencies: ["sieve"], swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
