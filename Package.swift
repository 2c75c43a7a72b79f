// swift-tools-version: 6.1
// Sieve: train image classifiers and score every training example.
//
// Dependencies point one way (docs/architecture.md):
//   COpenCL, CBLAS, CKernels <- Kernels <- Trainer;  Storage <- Metrics <- Trainer;  Metrics <- Report;
//   Trainer, Report <- Jobs <- sieve.
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
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "Jobs", targets: ["Jobs"]),
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

        // Hand-vectorised C kernels (AVX2 + FMA, chosen at run time; CKernels.h).
        .target(name: "CKernels"),
        .target(name: "Kernels", dependencies: ["CBLAS", "COpenCL", "CKernels"],
                // OpenCL C sources compiled into the binary (never Bundle.module: it breaks
                // for copied or static binaries); one op family per file, and tiles.cl: the
                // tiled-GEMM macros gemm.cl and conv.cl share.
                resources: ["tiles", "elementwise", "gemm", "conv", "norm", "layers"].map { .embedInCode("OpenCL/\($0).cl") },
                swiftSettings: kernelSettings),
        // File formats and run storage: JSON, NPY, safetensors, index lists, atomic output
        // files, run folders and their locks, unit folders.
        .target(name: "Storage", swiftSettings: checked),
        // Scores, their accumulators over a training, evaluation and selection.
        .target(name: "Metrics", dependencies: ["Storage"], swiftSettings: checked),
        .target(name: "Trainer", dependencies: ["Kernels", "Metrics", "Storage", "CZlib", "CPNG", "CJPEG"],
                // The OpenCL tuning database's built-in entries (TuningDatabase).
                resources: [.embedInCode("Tuning/opencl-tuning.json")], swiftSettings: checked),
        // The HTML report: reads nothing itself, renders what Jobs hands it.
        .target(name: "Report", dependencies: ["Metrics", "Storage", "CPNG"], swiftSettings: checked),
        // The job layer: a typed job spec, one runner for every protocol (resume, shards,
        // merge, the run folder's commit) and the run folder's files.
        .target(name: "Jobs", dependencies: ["Kernels", "Trainer", "Metrics", "Storage", "Report"], swiftSettings: checked),
        .executableTarget(
            name: "sieve",
            dependencies: [
                "Kernels", "Trainer", "Metrics", "Storage", "Report", "Jobs",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]),

        // Child processes for the tests (posix_spawn + waitpid on the pid: see Subprocess).
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels", "TestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "Storage"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "JobsTests", dependencies: ["Jobs", "Trainer", "Metrics", "Storage", "Kernels"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Metrics", "Jobs", "TestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "TrainerTests", dependencies: ["Trainer", "Kernels", "Metrics", "Storage", "CPNG", "CJPEG", "TestSupport"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "SieveCLITests", dependencies: ["sieve", "Metrics", "Storage", "TestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
