import Storage
/// VoG (Agarwal et al.): the per-pixel standard deviation, across checkpoints, of the
/// gradient of the given-label logit w.r.t. the input (averaged over colour channels),
/// averaged over pixels. High = hard / atypical / possibly mislabeled.
public final class VarianceOfGradients {
    public let exampleCount: Int
    public let pixels: Int
    public private(set) var checkpoints = 0
    var mean: [Float]
    var m2: [Float]

    public init(exampleCount: Int, pixels: Int) {
        self.exampleCount = exampleCount
        self.pixels = pixels
        mean = [Float](repeating: 0, count: exampleCount * pixels)
        m2 = [Float](repeating: 0, count: exampleCount * pixels)
    }

    /// Adds one checkpoint: `gradients[i * pixels + p]` for every example (Welford update).
    public func add(_ gradients: [Float]) {
        precondition(gradients.count == exampleCount * pixels, "one gradient map per example expected")
        checkpoints += 1
        let k = Float(checkpoints)
        for j in 0..<gradients.count {
            let delta = gradients[j] - mean[j]
            mean[j] += delta / k
            m2[j] += delta * (gradients[j] - mean[j])
        }
    }

    /// The running mean and second moment and the checkpoint count, as unit arrays named
    /// `prefix + field` (float32 as accumulated: a restored accumulator continues bit for bit).
    public func state(prefix: String) -> [(String, UnitArray)] {
        [(prefix + "checkpoints", .float64([Double(checkpoints)])), (prefix + "mean", .float32(mean)), (prefix + "m2", .float32(m2))]
    }

    /// Restores ``state(prefix:)``; throws naming `file` when it does not fit.
    public func restore(_ arrays: [String: UnitArray], prefix: String, file: String) throws {
        checkpoints = Int(try arrays.doubles(prefix + "checkpoints", count: 1, in: file)[0])
        mean = try arrays.floats(prefix + "mean", count: exampleCount * pixels, in: file)
        m2 = try arrays.floats(prefix + "m2", count: exampleCount * pixels, in: file)
    }

    /// Mean over pixels of the population standard deviation across checkpoints.
    public var scores: [Double] {
        precondition(checkpoints >= 2, "VoG needs at least two checkpoints")
        return (0..<exampleCount).map { i in
            var s = 0.0
            for p in 0..<pixels { s += Double(max(m2[i * pixels + p], 0) / Float(checkpoints)).squareRoot() }
            return s / Double(pixels)
        }
    }

    /// ``scores`` z-scored within each class (`labels[i]`), as the paper's normalised VoG.
    public func classNormalized(labels: [Int32]) -> [Double] {
        let raw = scores
        var groups: [Int32: [Int]] = [:]
        for (i, y) in labels.enumerated() { groups[y, default: []].append(i) }
        var out = raw
        for members in groups.values {
            let m = members.map { raw[$0] }.reduce(0, +) / Double(members.count)
            let sd = (members.map { (raw[$0] - m) * (raw[$0] - m) }.reduce(0, +) / Double(members.count)).squareRoot()
            for i in members { out[i] = sd > 0 ? (raw[i] - m) / sd : 0 }
        }
        return out
    }
}
