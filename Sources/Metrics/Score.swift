/// One named per-example score with the direction that means "important / suspicious".
public struct Score: Sendable {
    /// The column name (a ``ScoreKind``'s for the scores Sieve computes; any name for a
    /// column read from a file).
    public var name: String
    public var values: [Double]
    /// Which end ranks an example as suspicious (likely mislabeled) or important.
    public var direction: ScoreDirection
    /// One line for `meta.json`: what the score is and how it was taken.
    public var note: String

    /// A column of a file, with the direction its run recorded.
    public init(name: String, values: [Double], direction: ScoreDirection, note: String) {
        self.name = name; self.values = values; self.direction = direction; self.note = note
    }

    /// One of Sieve's scores; `note` says how this run took it.
    public init(_ kind: ScoreKind, values: [Double], note: String) {
        self.init(name: kind.name, values: values, direction: kind.direction, note: note)
    }

    /// A score taken at the end of epoch `epoch` of a run's training (`grand_e3`, `el2n_e3`).
    public init(_ kind: ScoreKind, afterEpoch epoch: Int, values: [Double], note: String) {
        self.init(name: "\(kind.name)_e\(epoch)", values: values, direction: kind.direction, note: note)
    }
}
