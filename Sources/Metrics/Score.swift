/// One named per-example score with the direction that means "important / suspicious".
public struct Score: Sendable {
    public var name: String
    public var values: [Double]
    /// Which end ranks an example as suspicious (likely mislabeled) or important.
    public var direction: ScoreDirection
    /// One line for `meta.json`: what the score is and how it was taken.
    public var note: String

    public init(name: String, values: [Double], direction: ScoreDirection, note: String) {
        self.name = name; self.values = values; self.direction = direction; self.note = note
    }

    /// A score from ``ScoreCatalog``, which knows its direction.
    public init(name: String, values: [Double], note: String) {
        guard let direction = ScoreCatalog.direction(of: name) else { preconditionFailure("\(name) is not in ScoreCatalog") }
        self.init(name: name, values: values, direction: direction, note: note)
    }
}
