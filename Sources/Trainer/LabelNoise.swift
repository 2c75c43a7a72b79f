/// Seeded label noise for mislabel-detection experiments (docs/scores.md, "Label noise").
public enum LabelNoise: Sendable, Equatable, CustomStringConvertible {
    /// Flip exactly `round(rate * N)` examples, chosen uniformly, each to a uniformly
    /// random *other* class.
    case symmetric(rate: Double)
    /// Class-dependent ("pair flip"): flip `round(rate * N)` uniformly chosen examples
    /// from class k to class `(k + 1) mod K`.
    case pairs(rate: Double)

    /// Parses `symmetric:0.2` or `pairs:0.2`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let rate = Double(parts[1]), rate > 0, rate < 1 else {
            throw TrainerError.invalid("--noise \(text) is not symmetric:RATE or pairs:RATE with 0 < RATE < 1")
        }
        switch parts[0] {
        case "symmetric": self = .symmetric(rate: rate)
        case "pairs": self = .pairs(rate: rate)
        default: throw TrainerError.invalid("--noise \(text): kind must be symmetric or pairs")
        }
    }

    public var description: String {
        switch self {
        case .symmetric(let r): "symmetric:\(r)"
        case .pairs(let r): "pairs:\(r)"
        }
    }

    /// The noisy labels and the sorted indices whose label changed.
    public func apply(to labels: [Int32], classes: Int, seed: UInt64) -> (labels: [Int32], flipped: [Int]) {
        precondition(classes >= 2)
        let rate: Double
        switch self { case .symmetric(let r), .pairs(let r): rate = r }
        var rng = SeededRandom(seed: seed, purpose: "label-noise/" + description)
        let order = rng.permutation(labels.count)
        let count = Int((rate * Double(labels.count)).rounded())
        var noisy = labels
        for i in order.prefix(count).map(Int.init) {
            let y = Int(labels[i])
            switch self {
            case .symmetric:
                let shift = 1 + Int(rng.next() % UInt64(classes - 1))   // 1...K-1: never the same class
                noisy[i] = Int32((y + shift) % classes)
            case .pairs:
                noisy[i] = Int32((y + 1) % classes)
            }
        }
        return (noisy, order.prefix(count).map(Int.init).sorted())
    }
}
