// swift-tools-version: 6.1
// Sieve: train image classifiers and score every training example.
//
// Dependencies point one way: COpenCL, CBLAS <- Kernels <- Trainer -> Metrics <- Report; sieve -> all.
import PackageDescription

/// Kernels' hot loops only: overflow and exclusivity checks off in release builds, where
/// a measurement showed they matter (the GraNd scoring pass ran 10-25% faster, the eval
/// forward ~6%; `sieve bench`, docs/performance.md). Every guard that protects memory in
/// Kernels is a `fatalError` or a thrown error, which `-Ounchecked` keeps; the other
/// targets (data readers, metrics, CLI) build fully checked. SwiftPM refuses unsafe flags
/// in a package used as a versioned dependency: resolve and build with SIEVE_PORTABLE=1
/// to drop them (scripts/check-dependency.sh shows it).
let portable = Context.environment["SIEVE_PORTABLE"] == "1"
let kernelSettings: [SwiftSetting] = (portable ? [] : [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]) + [.swiftLanguageMode(.v5)]
let checked: [SwiftSetting] = [.swiftLanguageMode(.v5)]

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
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),

        .target(name: "Kernels", dependencies: ["CBLAS", "COpenCL"],
                // OpenCL C sources compiled into the binary (never Bundle.module: it breaks
                // for copied or static binaries); one op family per file, and tiles.cl: the
                // tiled-GEMM macros gemm.cl and conv.cl share.
                resources: ["tiles", "elementwise", "gemm", "conv", "norm", "layers"].map { .embedInCode("OpenCL/\($0).cl") },
                swiftSettings: kernelSettings),
        .target(name: "Metrics", swiftSettings: checked),
        .target(name: "Trainer", dependencies: ["Kernels", "Metrics", "CZlib", "CPNG", "CJPEG"],
                // The OpenCL tuning database's built-in entries (TuningDatabase).
                resources: [.embedInCode("Tuning/opencl-tuning.json")], swiftSettings: checked),
        // The HTML report: reads nothing itself, renders what the CLI hands it.
        .target(name: "Report", dependencies: ["Metrics", "CPNG"], swiftSettings: checked),
        .executableTarget(
            name: "sieve",
            dependencies: [
                "Kernels", "Trainer", "Metrics", "Report",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]),

        // Child processes for the tests (posix_spawn + waitpid on the pid: see Subprocess).
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Metrics", "TestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "TrainerTests", dependencies: ["Trainer", "Kernels", "Metrics", "CPNG", "CJPEG", "TestSupport"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "SieveCLITests", dependencies: ["sieve", "Metrics", "TestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
