import ArgumentParser
import Foundation
import Storage
import Trainer

/// `sieve convert`: a data set as Sieve reads it (decoded, resized), written once as the
/// four NPY files, so that many runs on a folder of photos decode and resize it once,
/// and the pixels Sieve trains on can be compared with another pipeline's.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a data set as Sieve reads it (decoded, --resize applied) as NPY files that --data reads back.",
        discussion: """
        Writes into --out DIR:
          train_images.npy, test_images.npy   uint8, (N, H, W, C), the pixels as decoded and resized
          train_labels.npy, test_labels.npy   int32, (N,)
          classes.txt                         the class names, one per line, by label (when the data has them)
          train_paths.txt, test_paths.txt     each example's image file (ImageFolder data)
        `sieve audit --data DIR` then trains on exactly these pixels without decoding the images again
        (the class names and paths are not read back: keep them beside the results).

        Examples:
          sieve convert --data ./photos --resize 64 --out photos-64
          sieve convert --data ./photos --resize 32x32 --limit 1000 --out sample
        """)

    @Option(help: "Data set: fashion-mnist, mnist, or a directory with IDX, CIFAR binary, NPY files or ImageFolder class folders.")
    var data: String = "fashion-mnist"

    @Option(help: "Bring every image to one size: S (shorter side to S, then the centre SxS) or HxW, bilinear with antialiasing as PIL.")
    var resize: String?

    @Option(parsing: .unconditional, help: "Write only the first N training examples.")
    var limit: Int?

    @Option(parsing: .unconditional, help: "Number of classes, when the labels do not show it.")
    var classes: Int?

    @Option(help: "Output directory.")
    var out: String

    @Flag(help: "Replace --out whole if it already holds files (another run's).")
    var force = false

    func run() throws {
        if let limit, limit < 1 { throw UsageError("--limit must be at least 1") }
        let transform = try resize.map { try ImageResize(parsing: $0) }
        let run = try RunDirectory(out, force: force, reads: [(option: "--data", path: DataSource.folder(of: data))])
        defer { run.abandon() }
        let start = Date()
        var split = try DataSource.load(data, classes: classes, resize: transform)
        split.train = split.train.prefix(limit)
        for (name, set) in [("train", split.train), ("test", split.test)] {
            try NPYFormat.write(try set.pixelsHWC(), shape: [set.count, set.height, set.width, set.channels], to: run.path(name + "_images.npy"))
            try NPYFormat.write(set.labels, shape: [set.count], to: run.path(name + "_labels.npy"))
            if let paths = set.paths { try OutputFile.write(paths.joined(separator: "\n") + "\n", to: run.path(name + "_paths.txt")) }
        }
        if let names = split.train.classNames { try OutputFile.write(names.joined(separator: "\n") + "\n", to: run.path("classes.txt")) }
        try run.commit()
        let t = split.train
        print("\(t.count) training and \(split.test.count) test images of \(t.height)x\(t.width)x\(t.channels)"
              + (transform.map { " (resized: \($0.torchvision))" } ?? "") + " in \(format(Date().timeIntervalSince(start), 1)) s -> \(out)")
    }
}
