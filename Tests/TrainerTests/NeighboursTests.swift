import Testing
import Kernels
@testable import Trainer

/// The audit's kNN against a brute-force Double-precision reference, planted duplicates,
/// and the class-prototype distance by hand.
struct NeighboursTests {
    static func embeddings(_ n: Int, _ d: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<(n * d)).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(state >> 11) / Double(1 << 53)) - 0.3
        }
    }

    @Test func matchesBruteForceCosineNeighbours() throws {
        let n = 300, d = 7, k = 4
        var e = Self.embeddings(n, d, seed: 5)
        // Planted: 17 is a scaled copy of 3 (cosine distance 0), 250 a zero row.
        for f in 0..<d { e[17 * d + f] = 2 * e[3 * d + f]; e[250 * d + f] = 0 }
        // Blocks of 64 queries: the last block is partial.
        let nn = try Neighbours(embeddings: e, count: n, dimensions: d, k: k, device: CPUDevice(), block: 64)
        func cosine(_ i: Int, _ j: Int) -> Double {
            var dot = 0.0, a = 0.0, b = 0.0
            for f in 0..<d { dot += Double(e[i * d + f] * e[j * d + f]); a += Double(e[i * d + f] * e[i * d + f]); b += Double(e[j * d + f] * e[j * d + f]) }
            return a > 0 && b > 0 ? 1 - dot / (a * b).squareRoot() : 1
        }
        for i in 0..<n where i != 250 {
            let reference = (0..<n).filter { $0 != i }.map { ($0, cosine(i, $0)) }.sorted { $0.1 < $1.1 }.prefix(k)
            for (t, r) in reference.enumerated() {
                #expect(abs(Double(nn.distances[i * k + t]) - r.1) < 1e-5, "example \(i), neighbour \(t)")
            }
            // The nearest is the reference's unless two distances tie within float rounding.
            let first = reference.first!, second = reference.dropFirst().first!
            if second.1 - first.1 > 1e-5 { #expect(nn.nearest[i] == first.0, "example \(i)") }
        }
        #expect(nn.nearest[3] == 17 && nn.nearest[17] == 3 && nn.nearestDistance[3] < 1e-6)
        #expect(nn.nearestDistance[250] == 1 && nn.outlier[250] == 1)
        #expect(nn.outlier.count == n && nn.outlier.allSatisfy { $0 >= 0 && $0 <= 2 })
        // k is capped at the n - 1 others; one example has none.
        #expect(try Neighbours(embeddings: Array(e[0..<(3 * d)]), count: 3, dimensions: d, k: 10, device: CPUDevice()).k == 2)
        #expect(throws: TrainerError.self) { try Neighbours(embeddings: Array(e[0..<d]), count: 1, dimensions: d, k: 1, device: CPUDevice()) }
    }

    @Test func prototypeDistanceIsTheCosineToTheClassMean() {
        // Class 0: (1, 0) and (0, 1) -> mean direction (1, 1)/sqrt2; class 1: (2, 0) alone.
        let e: [Float] = [1, 0, 0, 1, 2, 0]
        let p = Neighbours.prototypeDistance(embeddings: e, count: 3, dimensions: 2, labels: [0, 0, 1], classes: 2)
        #expect(abs(p[0] - (1 - 1 / 2.0.squareRoot())) < 1e-12 && abs(p[1] - p[0]) < 1e-12 && abs(p[2]) < 1e-12)
    }
}
