import ArgumentParser
import Metrics
import Report
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// `sieve report DIR`: (re)writes `DIR/report.html` for any output folder of `audit`,
/// `score` or `prune-curve`.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write report.html for an output folder of `sieve audit` or `sieve score` (one self-contained file).",
        discussion: """
        Reads DIR/scores.csv and DIR/meta.json (and flipped.txt, prune_curve.csv when present) and reloads the run's data set (meta.json's data, limit and val) for the image grids; when the data cannot be loaded, the report says so and leaves the grids out.

        Examples:
          sieve report runs/audit
          sieve report runs/dyn --output /tmp/dyn.html
        """)

    @Argument(help: "The output folder of a run (holding scores.csv and meta.json).")
    var runFolder: String

    @Option(help: "Where to write the report (default: FOLDER/report.html).")
    var output: String?

    @Option(help: "Also show the prune curve of this `sieve prune-curve` output folder (its prune_curve.csv); default: FOLDER/prune_curve.csv when present.")
    var pruneCurve: String?

    func run() throws {
        let scores = scoresPath(runFolder)
        let dir = folder(of: scores)
        let metaPath = (dir.isEmpty ? "" : dir + "/") + "meta.json"
        guard access(runFolder, F_OK) == 0 else { throw UsageError("\(runFolder): no such folder") }
        guard access(metaPath, F_OK) == 0 else {
            throw UsageError("\(runFolder) has no meta.json: pass the output folder of `sieve audit` or `sieve score`")
        }
        let path = output ?? ((dir.isEmpty ? "" : dir + "/") + "report.html")
        // The run's own report.html is replaced as the run's: listed in its mark, or in a run of
        // an earlier version (no mark); any other existing file only if it is a Sieve report.
        let listed = RunMark.listedEntries(in: dir.isEmpty ? "." : dir)
        let ownReport = output == nil && (listed == nil || listed!.contains("report.html"))
        try OutputFile.checkWritable(path, option: "--output", replacing: ownReport ? nil : .htmlReport)
        let file = try readRun(scores: scores)
        let meta = try JSONReader.read(path: metaPath)
        var list: [Score] = []
        for name in file.scoreNames {
            guard let d = try recordedDirection(of: name, in: file) else {
                log("note: \(name) left out of the report: its suspicious end is unknown")
                continue
            }
            list.append(Score(name: name, values: try file.values(name), direction: d,
                              note: meta["scores"]?[name]?["meaning"]?.string ?? ""))
        }
        let given = try file.values("label").map { Int32($0) }
        let original = file.columns["original_label"].map { $0.map { Int32($0) } }
        var images: Dataset?
        do { images = try reloadTrainingImages(meta: meta, count: file.count) } catch {
            log("note: the image grids are left out: \(error)")
        }
        let curvePath = pruneCurve.map { $0.hasSuffix(".csv") ? $0 : $0 + "/prune_curve.csv" }
            ?? ((dir.isEmpty ? "" : dir + "/") + "prune_curve.csv")
        let curve = pruneCurve != nil || access(curvePath, F_OK) == 0 ? try readPruneCurve(curvePath) : nil
        let classes = max(meta["classes"]?.int ?? 0, Int((given + (original ?? [])).max() ?? 0) + 1)
        let html = HTMLReport.render(ReportInput(
            title: reportTitle(meta: meta, examples: file.count), facts: reportFacts(meta),
            scores: list.filter { $0.name != "input_norm" }, givenLabels: given, originalLabels: original,
            classNames: classNames(images?.classNames, classes: classes),
            inputNorm: file.columns["input_norm"], images: images.map(reportImages), paths: file.paths ?? images?.paths,
            pruneCurve: curve))
        try OutputFile.write(html, to: path)
        if output == nil { try RunMark.record("report.html", in: dir.isEmpty ? "." : dir) }   // part of the run now
        if path == "-" || path.hasPrefix("/dev/") { log("report: \(path)") } else { print("report: \(path)") }
    }
}

/// The training images of the run `meta` describes: its data set with the same
/// `--limit` and `--val`; throws when they cannot be loaded or the count differs.
func reloadTrainingImages(meta: JSONValue, count: Int) throws -> Dataset {
    guard let spec = meta["data"]?.string else { throw UsageError("meta.json names no data set") }
    var split = try DataSource.load(spec, classes: meta["classes"]?.int)
    split.train = split.train.prefix(meta["limit"]?.int)
    if let val = meta["val"]?.double {
        let held = Int((val * Double(split.train.count)).rounded())
        if held >= 1 && held < split.train.count {
            split = split.holdingOut(held, seed: UInt64(meta["val_seed"]?.int ?? 0)).0
        }
    }
    guard split.train.count == count else {
        throw UsageError("\(spec) now gives \(split.train.count) training examples, the run scored \(count)")
    }
    return split.train
}

/// The report's view of a data set's pixels: bytes as they are, float images scaled to
/// 0...255 per image.
func reportImages(_ d: Dataset) -> ReportImages {
    let size = d.exampleSize
    switch d.pixels {
    case .uint8(let a):
        return ReportImages(channels: d.channels, height: d.height, width: d.width) { Array(a[($0 * size)..<(($0 + 1) * size)]) }
    case .float32(let a):
        return ReportImages(channels: d.channels, height: d.height, width: d.width) { i in
            let x = a[(i * size)..<((i + 1) * size)]
            let lo = x.min() ?? 0, hi = x.max() ?? 1
            let scale = hi > lo ? 255 / (hi - lo) : 0
            return x.map { UInt8(max(0, min(255, (($0 - lo) * scale).rounded()))) }
        }
    }
}

/// Class names: the data set's own (ImageFolder folders, Fashion-MNIST's), else the indices.
func classNames(_ names: [String]?, classes: Int) -> [String] {
    if let names, names.count >= classes { return names }
    return (0..<classes).map(String.init)
}

func reportTitle(meta: JSONValue, examples: Int) -> String {
    let command = meta["score_command"]?.string ?? "sieve"
    return "sieve \(command): \(meta["data"]?.string ?? "data") (\(examples) examples, \(meta["model"]?.string ?? "model"))"
}

/// The facts at the top of a report, from a run's `meta.json`.
func reportFacts(_ meta: JSONValue) -> [(String, String)] {
    var facts: [(String, String)] = []
    func add(_ key: String, _ label: String) {
        guard let v = meta[key] else { return }
        let text: String
        if let s = v.string { text = s } else if let i = v.int { text = String(i) } else if let d = v.double {
            text = key.contains("accuracy") ? format(100 * d, 2) + "%" : format(d, key == "seconds" ? 1 : 4)
        } else if let b = v.bool { text = b ? "yes" : "no" } else if let a = v.array {
            text = a.map { $0.string ?? $0.number?.text ?? "?" }.joined(separator: ", ")
        } else { return }
        facts.append((label, text))
    }
    for (key, label) in [("command", "command"), ("data", "data"), ("train_examples", "training examples"),
                         ("classes", "classes"), ("noise", "label noise"), ("model", "model"), ("epochs", "epochs"),
                         ("checkpoints", "GraNd/EL2N checkpoints"), ("test_accuracy", "test accuracy"),
                         ("device", "device"), ("seconds", "seconds"), ("run_id", "run id"), ("version", "sieve version")] {
        add(key, label)
    }
    if let warnings = meta["warnings"]?.array, !warnings.isEmpty {
        facts.append(("warnings", warnings.compactMap(\.string).joined(separator: "; ")))
    }
    return facts
}

/// The points of a `prune_curve.csv` (columns kept_fraction, kept, selection, seed,
/// epochs, test_accuracy): mean and std over seeds per (fraction, selection), with the
/// random subsets of the same fraction as each point's baseline.
func readPruneCurve(_ path: String) throws -> [PruneCurvePoint] {
    let bytes = try InputFile.read(path, expecting: "the prune_curve.csv of `sieve prune-curve`")
    let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
    guard let header = lines.first?.map(String.init), let f = header.firstIndex(of: "kept_fraction"),
          let s = header.firstIndex(of: "selection"), let a = header.firstIndex(of: "test_accuracy") else {
        throw UsageError("\(path) is not a prune_curve.csv (kept_fraction,kept,selection,seed,epochs,test_accuracy)")
    }
    var groups: [(fraction: Double, selection: String, accuracies: [Double])] = []
    for (k, row) in lines.dropFirst().enumerated() {
        guard row.count == header.count, let fraction = Double(row[f]), let accuracy = Double(row[a]) else {
            throw UsageError("\(path):\(k + 2): not a row of kept_fraction,...,test_accuracy numbers")
        }
        let selection = String(row[s])
        if let g = groups.firstIndex(where: { $0.fraction == fraction && $0.selection == selection }) {
            groups[g].accuracies.append(accuracy)
        } else {
            groups.append((fraction, selection, [accuracy]))
        }
    }
    let random = groups.filter { $0.selection == "random" }
    return groups.filter { $0.selection != "random" }.map { g in
        let (mean, std) = Summary.meanAndStd(g.accuracies)
        let baseline = random.first { $0.fraction == g.fraction }.map { Summary.meanAndStd($0.accuracies) }
        return PruneCurvePoint(fraction: g.fraction, selection: g.selection, meanAccuracy: mean, std: std,
                               randomMeanAccuracy: baseline?.mean, randomStd: baseline?.std)
    }
}
