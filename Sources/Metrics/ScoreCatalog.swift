/// Every score Sieve writes, as a type: its column name (in `scores.csv`, `NAME.npy`,
/// `meta.json`), the end that flags an example as suspicious (likely mislabeled) or
/// important, and what it measures in one line. Definitions and papers: docs/scores.md.
public enum ScoreKind: String, CaseIterable, Sendable {
    case grand, grandStd = "grand_std", grandInit = "grand_init", el2n, el2nStd = "el2n_std", el2nFinal = "el2n_final"
    case loss, margin, inputNorm = "input_norm"
    case forgetting, neverLearned = "never_learned", firstLearnedEpoch = "first_learned_epoch", unforgettable
    case aum, aumFlagged = "aum_flagged", confidence, variability, correctness, dynamicUncertainty = "dyn_unc"
    case ssft, fslt, vog, vogClassNormalized = "vog_class_normalized"
    case selfConfidence = "self_confidence", normalizedMargin = "normalized_margin"
    case suspicion, errorProbability = "error_probability"
    case outlier, nearDuplicate = "near_duplicate", prototypeDistance = "prototype_distance"

    /// The column name.
    public var name: String { rawValue }

    /// The end of the values that ranks an example as suspicious or important.
    public var direction: ScoreDirection {
        switch self {
        case .grand, .grandStd, .grandInit, .el2n, .el2nStd, .el2nFinal, .loss, .inputNorm, .forgetting, .neverLearned,
             .firstLearnedEpoch, .fslt, .vog, .dynamicUncertainty, .vogClassNormalized, .aumFlagged, .suspicion, .errorProbability, .outlier, .prototypeDistance:
            .higherIsSuspicious
        case .margin, .aum, .confidence, .variability, .correctness, .unforgettable, .ssft, .selfConfidence, .normalizedMargin, .nearDuplicate:
            .lowerIsSuspicious
        }
    }

    /// What the score measures, in one line.
    public var meaning: String {
        switch self {
        case .grand: "norm of the example's loss gradient over all parameters (GraNd)"
        case .grandStd: "standard deviation of GraNd over initialisations"
        case .grandInit: "GraNd of untrained networks"
        case .el2n: "norm of the softmax error vector (EL2N)"
        case .el2nStd: "standard deviation of EL2N over seeds"
        case .el2nFinal: "EL2N of the final model"
        case .loss: "cross-entropy loss"
        case .margin: "logit margin z_y - max_{k!=y} z_k"
        case .inputNorm: "norm of the normalised input (the baseline GraNd at initialisation tracks)"
        case .forgetting: "forgetting events (learned, then misclassified)"
        case .neverLearned: "never classified correctly during training"
        case .firstLearnedEpoch: "epoch from which the example stays learned"
        case .unforgettable: "learned and never forgotten"
        case .aum: "area under the margin over training"
        case .aumFlagged: "AUM below the threshold learned from fake-class examples"
        case .confidence: "mean probability of the given label over training (cartography)"
        case .variability: "spread of that probability over training (cartography)"
        case .correctness: "fraction of presentations classified correctly (cartography)"
        case .dynamicUncertainty: "spread of the given label's probability over sliding windows of epochs (DynUnc)"
        case .ssft: "second-split forgetting time"
        case .fslt: "first-split learning time"
        case .vog: "variance of input gradients over checkpoints (VoG)"
        case .vogClassNormalized: "VoG z-scored within each given class"
        case .selfConfidence: "cross-validated probability of the given label"
        case .normalizedMargin: "cross-validated margin of the given label over the most likely other"
        case .suspicion: "the audit's default ranking: error probability and the training's views of the fit (margins, confidence), weighted by how class-dependent the noise is"
        case .errorProbability: "posterior probability that the given label is wrong, under the estimated noise between classes"
        case .outlier: "mean cosine distance of the final model's embedding to its 10 nearest other examples"
        case .nearDuplicate: "cosine distance of the final model's embedding to the nearest other example"
        case .prototypeDistance: "cosine distance of the final model's embedding to its given class's mean embedding"
        }
    }
}

/// The scores Sieve writes and their suspicious ends, by name: the catalog of
/// ``ScoreKind`` plus the per-checkpoint columns of a run (`grand_eN`, `el2n_eN`).
public enum ScoreCatalog {
    /// The suspicious end of the column `name`; nil for a column Sieve does not write.
    public static func direction(of name: String) -> ScoreDirection? {
        if let kind = ScoreKind(rawValue: name) { return kind.direction }
        if let (kind, _) = checkpoint(name) { return kind.direction }
        return nil
    }

    /// `grand_eN` / `el2n_eN`: the score and the epoch.
    static func checkpoint(_ name: String) -> (ScoreKind, Int)? {
        for kind in [ScoreKind.grand, .el2n] where name.hasPrefix(kind.name + "_e") {
            if let e = Int(name.dropFirst(kind.name.count + 2)), e >= 1, name == "\(kind.name)_e\(e)" { return (kind, e) }
        }
        return nil
    }
}
