import Metrics

/// One score as the sections use it: its rank order, colour and detection figures,
/// computed once per page.
struct ScoreInfo {
    let score: Score
    let style: SeriesStyle
    /// Every example with a non-NaN value, most suspicious first (ties by the tie-break
    /// values, higher first, then by index).
    let order: [Int]
    let nanCount: Int
    /// AUROC / AP at finding the flipped labels: noise known and no NaN values.
    let detection: DetectionResult?

    var name: String { score.name }
    var values: [Double] { score.values }

    init(_ score: Score, index: Int, flipped: [Bool]?, tieBreak: [Double]? = nil) {
        self.score = score
        style = SeriesStyle.palette(index)
        let v = score.values
        let sign = score.direction == .higherIsSuspicious ? 1.0 : -1.0
        let defined = v.indices.filter { !v[$0].isNaN }
        order = defined.sorted { a, b in
            let x = sign * v[a], y = sign * v[b]
            if x != y { return x > y }
            if let t = tieBreak, t[a] != t[b] { return t[a] > t[b] }
            return a < b
        }
        nanCount = v.count - defined.count
        if let flipped {
            detection = Detection.evaluate([(score.name, v, score.direction)], positives: flipped).results.first
        } else {
            detection = nil
        }
    }

    /// The non-NaN values in ascending order.
    var sortedValues: [Double] {
        let byOrder = order.map { values[$0] }
        return score.direction == .higherIsSuspicious ? byOrder.reversed() : byOrder
    }

    /// The meaning of the suspicious end in words.
    var directionText: String {
        score.direction == .higherIsSuspicious ? "higher = suspicious" : "lower = suspicious"
    }
}

/// What every section reads: the checked input, the flipped mask, the classes and
/// the scores with their orders.
struct ReportModel {
    let input: ReportInput
    let count: Int
    let scores: [ScoreInfo]
    /// Problems with the input, shown in the summary.
    let warnings: [String]
    /// `originalLabels != givenLabels`, when the original labels are known.
    let flipped: [Bool]?
    let flippedCount: Int
    let classCount: Int
    let inputNorm: [Double]?
    let paths: [String]?
    /// How many of the most suspicious examples count as flagged by a score.
    let flaggedCount: Int

    init(_ input: ReportInput) {
        self.input = input
        let n = input.givenLabels.count
        count = n
        var warnings: [String] = []
        var flipped: [Bool]? = nil
        if let original = input.originalLabels {
            if original.count == n { flipped = (0..<n).map { original[$0] != input.givenLabels[$0] } }
            else { warnings.append("original labels ignored: \(original.count) labels for \(n) examples") }
        }
        self.flipped = flipped
        flippedCount = flipped?.reduce(0) { $0 + ($1 ? 1 : 0) } ?? 0
        var kept: [Score] = []
        for s in input.scores {
            if s.values.count == n { kept.append(s) }
            else { warnings.append("score \(s.name) left out: \(s.values.count) values for \(n) examples") }
        }
        // Ties in discrete scores (counts, flags, epochs) go to the audit's suspicion when the page has it.
        let tieBreak = kept.first { $0.name == "suspicion" }?.values
        scores = parallelMap(kept.count) { ScoreInfo(kept[$0], index: $0, flipped: flipped, tieBreak: tieBreak) }
        inputNorm = Self.checked(input.inputNorm, "input norm", n, &warnings)
        paths = Self.checked(input.paths, "paths", n, &warnings)
        let labels = input.givenLabels + (input.originalLabels ?? [])
        // Labels past 100,000 (without names) are not classes but corrupt data: no per-class rows for them.
        classCount = max(1, input.classNames.count, min(100_000, Int(labels.max() ?? 0) + 1))
        flaggedCount = flippedCount > 0 ? flippedCount : min(n, max(1, Int((0.1 * Double(n)).rounded())))
        self.warnings = warnings
    }

    /// The name of class `label` (its number when the list has no name for it).
    func className(_ label: Int32) -> String {
        label >= 0 && Int(label) < input.classNames.count ? input.classNames[Int(label)] : String(label)
    }

    /// `label` as a class index, nil when outside `0..<classCount`.
    func classIndex(_ label: Int32) -> Int? {
        label >= 0 && Int(label) < classCount ? Int(label) : nil
    }

    var noiseKnown: Bool { flipped != nil }

    private static func checked<T>(_ list: [T]?, _ what: String, _ n: Int, _ warnings: inout [String]) -> [T]? {
        guard let list else { return nil }
        if list.count == n { return list }
        warnings.append("\(what) ignored: \(list.count) entries for \(n) examples")
        return nil
    }
}
