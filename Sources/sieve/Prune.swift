import ArgumentParser
import Kernels
import Metrics
import Trainer

/// `--scores DIR|FILE` -> the scores.csv path.
func scoresPath(_ p: String) -> String { p.hasSuffix(".csv") ? p : p + "/scores.csv" }

func parseStrategy(_ text: String, seed: UInt64) throws -> PruneStrategy {
    switch text {
    case "highest": return .highest
    case "lowest": return .lowest
    case "random": return .random(seed: seed)
    default:
        if text.hasPrefix("window:"), let k = Int(text.dropFirst(7)), k >= 0 { return .window(offset: k) }
        throw badInput("--strategy \(text) is not highest, lowest, random or window:K")
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "AUROC and average precision of every score at finding the flipped (noisy) labels.",
        discussion: "Each score ranks examples from its suspicious end (meta.json's direction; e.g. high EL2N, low AUM).")

    @Option(help: "A scores.csv, or the directory holding it.")
    var scores: String

    @Option(help: "The flipped indices (default: flipped.txt beside scores.csv).")
    var flipped: String?

    @Option(help: "Direction of a score not in Sieve's catalog: NAME=higher|lower (repeatable).")
    var direction: [String] = []

    @Option(help: "Write the figures as JSON here.")
    var json: String?

    func run() throws {
        let path = scoresPath(scores)
        let file = try reportingErrors { try ScoreFile(path: path) }
        let dir = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let flippedPath = flipped ?? (dir.isEmpty ? "flipped.txt" : dir + "/flipped.txt")
        let list = try reportingErrors { try Pruning.readIndexList(flippedPath) }
        var positives = [Bool](repeating: false, count: file.count)
        for i in list {
            guard i < file.count else { throw badInput("\(flippedPath) lists example \(i) but \(path) has \(file.count)") }
            positives[i] = true
        }
        var overrides: [String: ScoreDirection] = [:]
        for d in direction {
            let parts = d.split(separator: "=")
            guard parts.count == 2, let dir = ScoreDirection(rawValue: String(parts[1])) else {
                throw badInput("--direction \(d) is not NAME=higher or NAME=lower")
            }
            overrides[String(parts[0])] = dir
        }
        let reference = file.columns["input_norm"]
        print("\(list.count) flipped of \(file.count) examples (\(flippedPath))")
        print("  score                      AUROC   AP      rank corr. with input_norm")
        var results: [(String, JSON)] = []
        for name in file.scoreNames {
            guard let dir = overrides[name] ?? ScoreCatalog.direction(of: name) else {
                log("note: skipping \(name): unknown direction (give --direction \(name)=higher|lower)")
                continue
            }
            let v = try file.values(name)
            if v.contains(where: \.isNaN) { log("note: skipping \(name): it has NaN values"); continue }
            let auroc = Evaluation.auroc(scores: v, positives: positives, direction: dir)
            let ap = Evaluation.averagePrecision(scores: v, positives: positives, direction: dir)
            let rho = reference.map { Evaluation.spearman(v, $0) }
            print("  \(name.padding(25)) \(format(auroc, 4))  \(format(ap, 4))  \(rho.map { format($0, 3) } ?? "-")")
            results.append((name, .object([("direction", .string(dir.rawValue)), ("auroc", .double(auroc)),
                                           ("average_precision", .double(ap))]
                                          + (rho.map { [("spearman_input_norm", JSON.double($0))] } ?? []))))
        }
        if let json { try reportingErrors { try OutputFile.write(JSON.object(results).rendered + "\n", to: json) } }
    }
}

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep a fraction of the training set by a score; writes the kept indices for `sieve train --subset`.",
        discussion: """
        highest keeps the highest scores (Data Diet: the hardest examples); window:K first drops the K
        highest (often mislabeled) and keeps the next ones; lowest and random as named. Examples never
        learned (+inf forgetting) are always kept, as in the reference.
        """)

    @Option(help: "A scores.csv, or the directory holding it.")
    var scores: String

    @Option(help: "Score column to rank by.")
    var score: String

    @Option(help: "Fraction of the training set to keep, in (0, 1].")
    var keep: Double

    @Option(help: "highest, lowest, window:K or random.")
    var strategy: String = "highest"

    @Option(help: "Seed for random.")
    var seed: UInt64 = 0

    @Option(help: "Output file (one index per line).")
    var out: String = "subset.txt"

    func run() throws {
        let file = try reportingErrors { try ScoreFile(path: scoresPath(scores)) }
        let v = try reportingErrors { try file.values(score) }
        let kept = try reportingErrors {
            try Pruning.keep(scores: v, fraction: keep, strategy: try parseStrategy(strategy, seed: seed),
                             alwaysKeep: v.map { $0 == .infinity })
        }
        try reportingErrors { try Pruning.writeIndexList(kept, to: out) }
        print("kept \(kept.count) of \(v.count) examples by \(score) (\(strategy)) -> \(out)")
    }
}

struct PruneCurve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune-curve",
        abstract: "Score -> prune -> retrain -> test accuracy for several fractions and seeds, against random subsets.",
        discussion: "Subsets train for the same number of steps as the full set (Data Diet), not the same number of epochs.")

    @OptionGroup var options: TrainingOptions

    @Option(help: "A scores.csv, or the directory holding it (from `sieve score ...` on the same --data/--limit).")
    var scores: String

    @Option(help: "Score columns to rank by, comma-separated (they share the random baseline).")
    var score: String

    @Option(help: "Fractions to prune, comma-separated (0.3 = drop 30%).")
    var prune: String = "0.3,0.5"

    @Option(help: "highest or window:K (K highest dropped first).")
    var strategy: String = "highest"

    @Option(help: "Seeds per point.")
    var seeds: Int = 3

    @Option(help: "Epochs of a full-data training (subsets get the same number of steps).")
    var epochs: Int = 10

    @Option(help: "Output directory.")
    var out: String = "prune-curve"

    @Flag var quiet: Bool = false

    func run() throws {
        try options.check()
        let fractions = prune.split(separator: ",").compactMap { Double($0) }
        guard !fractions.isEmpty, fractions.allSatisfy({ $0 > 0 && $0 < 1 }) else {
            throw badInput("--prune \(prune) must list fractions in (0, 1)")
        }
        guard seeds >= 1, epochs >= 1 else { throw badInput("--seeds and --epochs must be at least 1") }
        let device = try options.model.makeDevice()
        let loaded = try options.loadData(quiet: quiet)
        let file = try reportingErrors { try ScoreFile(path: scoresPath(scores)) }
        let names = score.split(separator: ",").map(String.init)
        var columns: [String: [Double]] = [:]
        for name in names { columns[name] = try reportingErrors { try file.values(name) } }
        let n = file.count, b = options.model.batch
        guard n == loaded.split.train.count else {
            throw badInput("\(scoresPath(scores)) scores \(n) examples but --data/--limit give \(loaded.split.train.count)")
        }
        let fullSteps = epochs * ((n + b - 1) / b)
        try makeDirectory(out)
        var csv = "pruned,kept,selection,seed,epochs,test_accuracy\n"
        var rows: [(Double, String, [Double])] = []
        for f in fractions {
            let keep = 1 - f
            for name in names + ["random"] {
                let v = columns[name] ?? columns[names[0]]!
                let selection = name == "random" ? "random" : strategy
                var accuracies: [Double] = []
                for s in 0..<seeds {
                    let kept = try reportingErrors {
                        try Pruning.keep(scores: v, fraction: keep, strategy: try parseStrategy(selection, seed: UInt64(s)),
                                         alwaysKeep: name == "random" ? nil : v.map { $0 == .infinity })
                    }
                    let stepsPerEpoch = (kept.count + b - 1) / b
                    let subsetEpochs = (fullSteps + stepsPerEpoch - 1) / stepsPerEpoch
                    var config = try options.configuration(epochs: subsetEpochs, seed: UInt64(s), examples: kept.count)
                    config.evaluateEveryEpoch = false
                    let session = try reportingErrors {
                        try TrainingSession(configuration: config, data: loaded.split, device: device, trainLabels: loaded.labels)
                    }
                    session.trainingIndices = kept.map { Int32($0) }
                    let summaries = try reportingErrors { try session.run() }
                    let acc = summaries.last!.testAccuracy!
                    accuracies.append(acc)
                    let label = name == "random" ? "random" : "\(name) \(selection)"
                    csv += "\(f),\(kept.count),\(label),\(s),\(subsetEpochs),\(acc)\n"
                    if !quiet { log("pruned \(format(100 * f, 0))% by \(label), seed \(s): test accuracy \(format(100 * acc, 2))% (\(subsetEpochs) epochs)") }
                }
                rows.append((f, name == "random" ? "random" : "\(name) \(selection)", accuracies))
            }
        }
        try reportingErrors { try OutputFile.write(csv, to: out + "/prune_curve.csv") }
        print("pruned  selection            test accuracy (mean ± std over \(seeds) seeds)")
        for (f, selection, acc) in rows {
            let stats = meanAndStd(acc.map { [$0] })   // over seeds, population std
            let (mean, std) = (stats.mean[0], stats.std[0])
            print("\((format(100 * f, 0) + "%").padding(7)) \(selection.padding(20)) "
                  + "\(format(100 * mean, 2))% ± \(format(100 * std, 2))")
        }
    }
}
