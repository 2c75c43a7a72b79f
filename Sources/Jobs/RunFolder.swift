import Metrics
import Report
import Storage
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// A run's folder as the commands after it read it: `scores.csv` (or a scores file of its
/// own, from pandas too), `meta.json` beside it when there is one (directions and
/// meanings of the scores, the example count, the flipped list's checksum), `job.json`
/// (the job: its data, for the report's images), `prune_curve.csv`; and the one place a
/// report's input is assembled, for a finishing run and for `sieve report` alike.
public struct RunFolder {
    public static let scoresFile = "scores.csv"
    public static let metaFile = "meta.json"
    public static let pruneCurveFile = "prune_curve.csv"
    public static let reportFile = "report.html"
    public static let labelIssuesFile = "label_issues.csv"
    public static let nearDuplicatesFile = "near_duplicates.csv"

    /// `near_duplicates.csv`: every example's nearest other example by the final model's
    /// embeddings, closest pairs first (ties by index): `index,nearest,distance,label,
    /// nearest_label,conflict,near_duplicate` (conflict 1 when the two labels differ;
    /// near_duplicate 1 within ``nearDuplicateThreshold`` of the median nearest distance).
    static func nearDuplicatesCSV(_ nn: Neighbours, labels: [Int32]) -> String {
        let nearest = nn.nearest, distance = nn.nearestDistance
        let order = nearest.indices.sorted { distance[$0] < distance[$1] || (distance[$0] == distance[$1] && $0 < $1) }
        let cut = nearDuplicateThreshold * distance[order[order.count / 2]]
        var csv = "index,nearest,distance,label,nearest_label,conflict,near_duplicate\n"
        for i in order {
            let j = nearest[i]
            csv += "\(i),\(j),\(Float(distance[i])),\(labels[i]),\(labels[j]),\(labels[i] == labels[j] ? 0 : 1),\(distance[i] <= cut ? 1 : 0)\n"
        }
        return csv
    }

    /// A pair is a near duplicate when its distance is at most this share of the median
    /// nearest-neighbour distance of the data set (cleanlab Datalab's default, 0.13).
    static let nearDuplicateThreshold = 0.13

    /// One row of `label_issues.csv`.
    public struct LabelIssue: Sendable, Equatable {
        public var index: Int
        public var given: Int32
        public var suggested: Int32
        /// Whether the suggested label is a confident one (``LabelVerdict/sure``).
        public var sure: Bool
    }

    static let labelIssuesHeader = "index,given_label,suggested_label,suspicion,error_probability,sure"

    /// The flagged examples of the audit in `folder` (its `label_issues.csv`), strictly:
    /// the header, then index, given label and suggested label as integers and `sure` as
    /// 0 or 1 on every line.
    public static func readLabelIssues(_ folder: String) throws -> [LabelIssue] {
        let path = join(folder, labelIssuesFile)
        let bytes = try InputFile.read(path, expecting: "the label_issues.csv of `sieve audit`")
        let lines = InputFile.lines(bytes)
        guard let header = lines.first, header.hasPrefix(labelIssuesHeader) else {
            throw TrainerError.invalid("\(path): not a label_issues.csv of this sieve (\(labelIssuesHeader),...); audit again")
        }
        var issues: [LabelIssue] = []
        var seen = Set<Int>()
        for (k, line) in lines.dropFirst().enumerated() where !line.isEmpty {
            let f = line.split(separator: ",", maxSplits: 6, omittingEmptySubsequences: false)
            guard f.count >= 6, let i = Int(f[0]), let g = Int32(f[1]), let s = Int32(f[2]), f[5] == "0" || f[5] == "1",
                  i >= 0, seen.insert(i).inserted else {
                throw TrainerError.invalid("\(path):\(k + 2): not a row of \(labelIssuesHeader) (or a repeated index)")
            }
            issues.append(LabelIssue(index: i, given: g, suggested: s, sure: f[5] == "1"))
        }
        return issues
    }

    /// `label_issues.csv`: the flagged examples, most suspicious first: index, given label,
    /// suggested label, suspicion, the probability that the given label is wrong, whether
    /// the suggestion is sure (1: a class the probabilities are confident of), and the source index (`--val`) and image path
    /// (ImageFolder data) when the data has them.
    public static func writeLabelIssues(_ v: LabelVerdict, data: TrainingData, suspicion: [Double], to path: String) throws {
        let source = data.sourceIndices, paths = data.split.train.paths
        var csv = labelIssuesHeader + (source != nil ? ",source_index" : "") + (paths != nil ? ",path" : "") + "\n"
        for (i, suggested) in zip(v.flagged, v.suggested) {
            csv += "\(i),\(data.labels[i]),\(suggested),\(suspicion[i]),\(v.errorProbability[i]),\(v.sure[i] ? 1 : 0)"
            if let source { csv += ",\(source[i])" }
            if let paths { csv += "," + ScoreTable.quoted(paths[i]) }
            csv += "\n"
        }
        try OutputFile.write(csv, to: path)
    }

    /// `meta.json`'s `label_errors`: the estimate, its interval, the flagged count, the noise
    /// structure, the calibrated joint and how the probabilities were taken.
    public static func labelErrorsMeta(_ v: LabelVerdict, method: String) -> JSON {
        .object([("estimated", .double(v.estimatedErrors)), ("interval_95", .array([.double(v.interval.low), .double(v.interval.high)])),
                 ("flagged", .int(v.flagged.count)), ("noise_structure", .double(v.noiseStructure)),
                 ("most_labels_look_wrong", .bool(v.mostLabelsLookWrong)),
                 ("joint", .array(v.joint.map { .array($0.map(JSON.double)) })), ("method", .string(method))])
    }

    /// The folder ("" for the current one when a bare scores file was named).
    public let path: String
    /// The scores, as written by a run or read from its file.
    public let scores: ScoreFile
    /// `meta.json`, when the folder has one.
    public let meta: JSON?

    /// `--scores DIR|FILE`: the scores.csv path.
    public static func scoresPath(_ p: String) -> String { p.hasSuffix(".csv") ? p : p + "/" + scoresFile }

    /// Reads `scores.csv` (a folder or the file itself) strictly and, when the run's
    /// `meta.json` sits beside it, checks that the file holds that run's example count.
    public init(scores: String) throws {
        let file = Self.scoresPath(scores)
        let dir = file.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        path = dir
        self.scores = try ScoreFile(path: file)
        let metaPath = Self.join(dir, Self.metaFile)
        meta = access(metaPath, F_OK) == 0 ? try JSONReader.read(path: metaPath) : nil
        if let n = meta?["examples"]?.int { try self.scores.checkRowCount(n) }
    }

    /// A finishing run's folder: its table as written and its meta.
    init(path: String, table: ScoreTable, meta: JSON) {
        self.path = path
        self.scores = ScoreFile(table: table, path: Self.join(path, Self.scoresFile))
        self.meta = meta
    }

    static func join(_ dir: String, _ name: String) -> String { (dir.isEmpty ? "" : dir + "/") + name }

    /// The file `name` of this folder.
    public func file(_ name: String) -> String { Self.join(path, name) }

    /// The suspicious end of score `name`: as the run's `meta.json` records it, else
    /// Sieve's catalog; nil when neither knows it.
    public func direction(of name: String) throws -> ScoreDirection? {
        if let text = meta?["scores"]?[name]?["direction"]?.string, let d = ScoreDirection(rawValue: text) { return d }
        return ScoreCatalog.direction(of: name)
    }

    /// The end a selection ranks `name` from: `override` (`--direction`), else as above;
    /// throws when neither knows it.
    public func rankingDirection(of name: String, override: ScoreDirection?) throws -> ScoreDirection {
        if let d = try override ?? direction(of: name) { return d }
        throw TrainerError.invalid("the suspicious end of \(name) is unknown; give --direction higher or --direction lower")
    }

    /// The `never_learned` flags of a dynamics run, when the file has them: selections by
    /// forgetting rank never-learned examples as the most forgettable.
    public var neverLearned: [Bool]? { scores.columns["never_learned"]?.map { $0 > 0.5 } }

    /// The flags a selection by `score` always keeps (never learned, for forgetting).
    public func alwaysKept(by score: String) -> [Bool]? { score == "forgetting" ? neverLearned : nil }

    /// Checks that `flipped` (read from `flippedPath`) is the list of flipped labels this
    /// run injected, as its `meta.json` records it: files of different runs are refused.
    public func check(flipped: [Int], from flippedPath: String) throws {
        guard let meta else { return }
        if let recorded = meta["flipped"] {
            let count = recorded["count"]?.int, checksum = recorded["checksum"]?.string
            guard count == flipped.count, checksum == IndexList.checksum(flipped) else {
                throw TrainerError.invalid("\(flippedPath) (\(flipped.count) indices) is not the list of flipped labels of the run in "
                                           + "\(file(Self.metaFile)) (\(count ?? 0) flipped): the files come from different runs")
            }
        } else if meta["run_id"] != nil {
            throw TrainerError.invalid("the run in \(file(Self.metaFile)) injected no label noise, so \(flippedPath) belongs to another run; "
                                       + "pass the flipped list of this run's data with --flipped")
        }
    }

    /// The data the run trained on: `job.json`'s, or for a folder of an earlier version the
    /// data, limit, val split and classes its `meta.json` recorded.
    public func dataSpec() throws -> DataSpec {
        let jobPath = file(JobRunner.jobFile)
        if access(jobPath, F_OK) == 0 { return try JobSpec.read(path: jobPath).data }
        guard let meta, let source = meta["data"]?.string else { throw TrainerError.invalid("\(file(Self.metaFile)) names no data set") }
        var d = DataSpec()
        d.source = source
        d.limit = meta["limit"]?.int
        d.val = meta["val"]?.double
        d.valSeed = meta["val_seed"]?.number?.uint64 ?? 0
        d.classes = meta["classes"]?.int
        return d
    }

    /// The run's training images, reloaded as the run cut them; throws when they cannot
    /// be loaded or their count differs from the scores'.
    public func trainingImages() throws -> Dataset {
        let spec = try dataSpec()
        let train = try spec.split().split.train
        guard train.count == scores.count else {
            throw TrainerError.invalid("\(spec.source) now gives \(train.count) training examples, the run scored \(scores.count)")
        }
        return train
    }

    /// The scores a report shows: every column with a known direction (`left` hears the
    /// names of those left out), with its meaning from `meta.json`; `input_norm` is the
    /// report's baseline, not a score.
    public func reportScores(left: (String) -> Void = { _ in }) throws -> [Score] {
        var list: [Score] = []
        for name in scores.scoreNames where name != "input_norm" {
            guard let d = try direction(of: name) else { left(name); continue }
            list.append(Score(name: name, values: try scores.values(name), direction: d,
                              note: meta?["scores"]?[name]?["meaning"]?.string ?? ""))
        }
        return list
    }

    /// The report's input: the scores, labels and facts of this folder, the run's images
    /// (nil: the grids are left out), class names (the data set's, else the indices) and
    /// the prune curve to show.
    public func reportInput(scores list: [Score], images: Dataset?, classes: Int, classNames names: [String]?,
                            pruneCurve: [PruneCurvePoint]? = nil) throws -> ReportInput {
        let given = try scores.values("label").map { Int32($0) }
        let original = scores.columns["original_label"].map { $0.map { Int32($0) } }
        let meta = self.meta ?? .object([])
        return ReportInput(
            title: Self.title(meta: meta, examples: scores.count), facts: Self.facts(meta), scores: list,
            givenLabels: given, originalLabels: original,
            classNames: names.flatMap { $0.count >= classes ? $0 : nil } ?? (0..<classes).map(String.init),
            inputNorm: scores.columns["input_norm"], images: images.map(Self.reportImages), paths: scores.paths ?? images?.paths,
            pruneCurve: pruneCurve, verdict: try verdict(), nearDuplicates: try nearDuplicatePairs())
    }

    /// The pairs marked `near_duplicate` in `near_duplicates.csv`, each once (a pair
    /// found from both ends is one pair), pairs with conflicting labels first, then by
    /// distance; nil for a run without the file.
    func nearDuplicatePairs() throws -> [NearDuplicatePair]? {
        guard access(file(Self.nearDuplicatesFile), F_OK) == 0 else { return nil }
        let rows = try Self.readNearDuplicates(path)
        var seen = Set<[Int]>(), pairs: [(NearDuplicatePair, Bool)] = []
        for r in rows where r.nearDuplicate && seen.insert([min(r.index, r.nearest), max(r.index, r.nearest)]).inserted {
            pairs.append((NearDuplicatePair(first: r.index, second: r.nearest, distance: r.distance), r.conflict))
        }
        return pairs.enumerated().sorted { a, b in
            a.element.1 != b.element.1 ? a.element.1 : a.element.0.distance != b.element.0.distance
                ? a.element.0.distance < b.element.0.distance : a.offset < b.offset
        }.map(\.element.0)
    }

    /// One row of `near_duplicates.csv`.
    public struct NearDuplicateRow: Sendable, Equatable {
        public var index: Int, nearest: Int, distance: Double, conflict: Bool, nearDuplicate: Bool
    }

    static let nearDuplicatesHeader = "index,nearest,distance,label,nearest_label,conflict,near_duplicate"

    /// Reads an audit's `near_duplicates.csv` strictly (the file and line named in errors).
    public static func readNearDuplicates(_ folder: String) throws -> [NearDuplicateRow] {
        let path = join(folder, nearDuplicatesFile)
        let bytes = try InputFile.read(path, expecting: "the near_duplicates.csv of `sieve audit`")
        let lines = InputFile.lines(bytes)
        guard lines.first == Substring(nearDuplicatesHeader) else {
            throw TrainerError.invalid("\(path): not a near_duplicates.csv of this sieve (\(nearDuplicatesHeader)); audit again")
        }
        return try lines.dropFirst().enumerated().filter { !$0.element.isEmpty }.map { k, line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count == 7, let i = Int(f[0]), let j = Int(f[1]), let d = Double(f[2]), d.isFinite, i >= 0, j >= 0, i != j,
                  f[5] == "0" || f[5] == "1", f[6] == "0" || f[6] == "1" else {
                throw TrainerError.invalid("\(path):\(k + 2): not a row of \(nearDuplicatesHeader)")
            }
            return NearDuplicateRow(index: i, nearest: j, distance: d, conflict: f[5] == "1", nearDuplicate: f[6] == "1")
        }
    }

    /// The audit's verdict as the report shows it: `meta.json`'s estimate and
    /// `label_issues.csv`; nil for a run without one.
    func verdict() throws -> ReportVerdict? {
        guard let errors = meta?["label_errors"], let estimated = errors["estimated"]?.double,
              let low = errors["interval_95"]?[0]?.double, let high = errors["interval_95"]?[1]?.double,
              access(file(Self.labelIssuesFile), F_OK) == 0 else { return nil }
        let issues = try Self.readLabelIssues(path)
        return ReportVerdict(estimated: estimated, interval: (low, high), flagged: issues.map(\.index), suggested: issues.map(\.suggested))
    }

    static func title(meta: JSON, examples: Int) -> String {
        let command = meta["score_command"]?.string ?? "sieve"
        return "sieve \(command): \(meta["data"]?.string ?? "data") (\(examples) examples, \(meta["model"]?.string ?? "model"))"
    }

    /// The facts at the top of a report, from a run's `meta.json`.
    static func facts(_ meta: JSON) -> [(String, String)] {
        var facts: [(String, String)] = []
        func add(_ key: String, _ label: String) {
            guard let v = meta[key] else { return }
            let text: String
            if let s = v.string { text = s } else if let i = v.int { text = String(i) } else if let d = v.double {
                text = key.contains("accuracy") ? Format.fixed(100 * d, 2) + "%" : Format.fixed(d, key == "seconds" ? 1 : 4)
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

    /// The report's view of a data set's pixels: bytes as they are, float images scaled to
    /// 0...255 per image.
    static func reportImages(_ d: Dataset) -> ReportImages {
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

    /// The points of a `prune_curve.csv` (columns kept_fraction, kept, selection, seed,
    /// epochs, test_accuracy): mean and std over seeds per (fraction, selection), with the
    /// random subsets of the same fraction as each point's baseline.
    public static func readPruneCurve(_ path: String) throws -> [PruneCurvePoint] {
        let bytes = try InputFile.read(path, expecting: "the prune_curve.csv of `sieve prune-curve`")
        let lines = InputFile.lines(bytes).filter { !$0.isEmpty }.map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        guard let header = lines.first?.map(String.init), let f = header.firstIndex(of: "kept_fraction"),
              let s = header.firstIndex(of: "selection"), let a = header.firstIndex(of: "test_accuracy") else {
            throw TrainerError.invalid("\(path) is not a prune_curve.csv (kept_fraction,kept,selection,seed,epochs,test_accuracy)")
        }
        var groups: [(fraction: Double, selection: String, accuracies: [Double])] = []
        for (k, row) in lines.dropFirst().enumerated() {
            guard row.count == header.count, let fraction = Double(row[f]), let accuracy = Double(row[a]) else {
                throw TrainerError.invalid("\(path):\(k + 2): not a row of kept_fraction,...,test_accuracy numbers")
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
}
