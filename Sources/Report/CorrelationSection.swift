import Metrics

/// `correlations`: Spearman rank correlations between all scores and the input norm.
enum CorrelationSection {
    static let title = "Rank correlations between scores"

    static func html(_ m: ReportModel) -> String {
        var columns = m.scores.map { (name: $0.name, values: $0.values) }
        if let norm = m.inputNorm { columns.append(("input_norm", norm)) }
        let matrix = spearmanMatrix(columns.map(\.values))
        return HTML.note("Spearman rank correlation of every pair over the examples where both are defined "
                         + "(not NaN); – : undefined (a constant column). Signs are as the values are, "
                         + "not oriented to the suspicious end.")
            + Charts.heatmap(labels: columns.map(\.name), values: matrix, title: "Spearman rank correlations") + "\n"
    }

    /// The symmetric matrix of Spearman correlations. Columns without NaN are ranked
    /// once (``Ranking/ranks(_:)``) and correlated on their ranks, which is what
    /// ``Ranking/spearman(_:_:)`` computes, without ranking each column once per pair;
    /// pairs with NaN values go through `Ranking.spearman` on the examples both define.
    static func spearmanMatrix(_ columns: [[Double]]) -> [[Double]] {
        let n = columns.count
        let ranks = parallelMap(n) { k in columns[k].contains(where: \.isNaN) ? nil : Ranking.ranks(columns[k]) }
        var matrix = [[Double]](repeating: [Double](repeating: .nan, count: n), count: n)
        for i in 0..<n {
            for j in i..<n {
                let r: Double
                if let a = ranks[i], let b = ranks[j] { r = Ranking.pearson(a, b) }
                else {
                    let both = columns[i].indices.filter { !columns[i][$0].isNaN && !columns[j][$0].isNaN }
                    r = Ranking.spearman(both.map { columns[i][$0] }, both.map { columns[j][$0] })
                }
                matrix[i][j] = r; matrix[j][i] = r
            }
        }
        return matrix
    }
}
