/// The scores Sieve writes and the end of each that flags an example as suspicious
/// (likely mislabeled) or important (docs/scores.md).
public enum ScoreCatalog {
    public static let directions: [String: ScoreDirection] = [
        "grand": .higherIsSuspicious, "grand_std": .higherIsSuspicious, "el2n": .higherIsSuspicious,
        "el2n_std": .higherIsSuspicious, "el2n_final": .higherIsSuspicious, "loss": .higherIsSuspicious,
        "margin": .lowerIsSuspicious, "input_norm": .higherIsSuspicious,
        "forgetting": .higherIsSuspicious, "never_learned": .higherIsSuspicious, "first_learned_epoch": .higherIsSuspicious, "fslt": .higherIsSuspicious,
        "aum": .lowerIsSuspicious, "confidence": .lowerIsSuspicious, "variability": .lowerIsSuspicious,
        "correctness": .lowerIsSuspicious, "unforgettable": .lowerIsSuspicious, "ssft": .lowerIsSuspicious,
        "vog": .higherIsSuspicious, "aum_flagged": .higherIsSuspicious, "vog_class_normalized": .higherIsSuspicious,
        "self_confidence": .lowerIsSuspicious, "normalized_margin": .lowerIsSuspicious,
    ]

    public static func direction(of name: String) -> ScoreDirection? { directions[name] }
}
