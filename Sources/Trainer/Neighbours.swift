import Kernels

/// Exact k-nearest neighbours of every example among all the others, by cosine distance
/// (`1 - cos`, in [0, 2]) between embeddings, as cleanlab's Datalab measures them on
/// features of more than three dimensions: the Gram matrix of the L2-normalised rows in
/// blocks of queries by one GEMM each on the device, then a top-k per row on the CPU.
/// The kNN behind the audit's `outlier` and `near_duplicate` scores (docs/scores.md).
public struct Neighbours: Sendable {
    /// The number of neighbours of each example.
    public var k: Int
    /// `[N, k]` row-major: each example's neighbours, nearest first (ties by index).
    public var indices: [Int32]
    /// `[N, k]` row-major: their cosine distances.
    public var distances: [Float]

    /// - Parameters:
    ///   - embeddings: `[n, d]` row-major.
    ///   - k: neighbours per example (at most `n - 1`).
    ///   - block: queries per GEMM (`block x n` floats of scratch on the device).
    public init(embeddings e: [Float], count n: Int, dimensions d: Int, k: Int, device: Device, block: Int = 512) throws {
        precondition(e.count == n * d && d >= 1, "embeddings are [n, d]")
        guard n >= 2 else { throw TrainerError.invalid("nearest neighbours need at least 2 examples, the data has \(n)") }
        let k = min(k, n - 1)
        precondition(k >= 1)
        let rows = device.makeTensor([n, d])
        device.upload(Self.unitRows(e, count: n, dimensions: d), to: rows)
        let b = min(block, n)
        let gram = device.makeTensor([b, n])
        var similarities = [Float](repeating: 0, count: b * n)
        var indices = [Int32](repeating: 0, count: n * k), distances = [Float](repeating: 0, count: n * k)
        var first = 0
        while first < n {
            let m = min(b, n - first)
            // gram[m, n] = unit[first ..< first + m, :] * unit^T
            device.gemm(transposeA: false, transposeB: true, m: m, n: n, k: d, alpha: 1, a: rows, aOffset: first * d, lda: d,
                        b: rows, bOffset: 0, ldb: d, beta: 0, c: gram, cOffset: 0, ldc: n)
            similarities.withUnsafeMutableBufferPointer { device.download(gram, into: UnsafeMutableBufferPointer(rebasing: $0[0..<(m * n)])) }
            try device.checkFailure()
            similarities.withUnsafeBufferPointer { sim in
                indices.withUnsafeMutableBufferPointer { idx in
                    distances.withUnsafeMutableBufferPointer { dist in
                        parallelRanges(m, grain: 16) { range in
                            var topS = [Float](repeating: 0, count: k), topI = [Int32](repeating: 0, count: k)
                            for q in range {
                                Self.nearest(row: sim.baseAddress! + q * n, count: n, skipping: first + q, k: k, scratch: &topS, &topI,
                                             indices: idx.baseAddress! + (first + q) * k, distances: dist.baseAddress! + (first + q) * k)
                            }
                        }
                    }
                }
            }
            first += m
        }
        self.k = k; self.indices = indices; self.distances = distances
    }

    /// The rows of `e` (`[n, d]`) scaled to unit length; a zero row stays zero (cosine
    /// distance 1 to everything).
    static func unitRows(_ e: [Float], count n: Int, dimensions d: Int) -> [Float] {
        var unit = e
        for i in 0..<n {
            var s: Float = 0
            for f in 0..<d { s += unit[i * d + f] * unit[i * d + f] }
            let scale: Float = s > 0 ? 1 / s.squareRoot() : 0
            for f in 0..<d { unit[i * d + f] *= scale }
        }
        return unit
    }

    /// The `k` largest similarities of `row` but `skipping`'s, as distances, nearest first
    /// (ties by the smaller index): an insertion into a sorted top-k (`topS`, `topI`: the
    /// caller's scratch of `k` each), most values rejected by one comparison with the k-th.
    static func nearest(row: UnsafePointer<Float>, count n: Int, skipping self_: Int, k: Int,
                        scratch topS: inout [Float], _ topI: inout [Int32],
                        indices: UnsafeMutablePointer<Int32>, distances: UnsafeMutablePointer<Float>) {
        for t in 0..<k { topS[t] = -.infinity; topI[t] = Int32.max }
        var kth = -Float.infinity
        for j in 0..<n where j != self_ {
            let s = row[j]
            guard s > kth || (s == kth && Int32(j) < topI[k - 1]) else { continue }
            var p = k - 1
            while p > 0 && (topS[p - 1] < s || (topS[p - 1] == s && topI[p - 1] > Int32(j))) {
                topS[p] = topS[p - 1]; topI[p] = topI[p - 1]; p -= 1
            }
            topS[p] = s; topI[p] = Int32(j)
            kth = topS[k - 1]
        }
        for t in 0..<k {
            indices[t] = topI[t]
            distances[t] = max(0, 1 - topS[t])
        }
    }

    /// `[N]`: the mean distance to the `k` nearest (high = far from everything: an outlier).
    public var outlier: [Double] {
        stride(from: 0, to: distances.count, by: k).map { r in (0..<k).reduce(0.0) { $0 + Double(distances[r + $1]) } / Double(k) }
    }

    /// `[N]`: the distance to the nearest other example (low = a near duplicate).
    public var nearestDistance: [Double] { stride(from: 0, to: distances.count, by: k).map { Double(distances[$0]) } }

    /// `[N]`: the index of the nearest other example.
    public var nearest: [Int] { stride(from: 0, to: indices.count, by: k).map { Int(indices[$0]) } }
}

extension Neighbours {
    /// `[N]`: the cosine distance of each example's embedding to its given class's
    /// prototype, the mean of that class's L2-normalised embeddings (Sorscher et al. 2022's
    /// prototype metric with the labels as clusters, as Moderate-DS measures distance to
    /// the class centre). High = atypical for its label (hard, or mislabeled).
    public static func prototypeDistance(embeddings e: [Float], count n: Int, dimensions d: Int, labels: [Int32], classes: Int) -> [Double] {
        precondition(e.count == n * d && labels.count == n)
        let unit = unitRows(e, count: n, dimensions: d)
        var centre = [Double](repeating: 0, count: classes * d)
        for i in 0..<n {
            let c = Int(labels[i])
            for f in 0..<d { centre[c * d + f] += Double(unit[i * d + f]) }
        }
        for c in 0..<classes {
            var s = 0.0
            for f in 0..<d { s += centre[c * d + f] * centre[c * d + f] }
            let scale = s > 0 ? 1 / s.squareRoot() : 0
            for f in 0..<d { centre[c * d + f] *= scale }
        }
        return (0..<n).map { i in
            let c = Int(labels[i])
            var dot = 0.0
            for f in 0..<d { dot += Double(unit[i * d + f]) * centre[c * d + f] }
            return max(0, 1 - dot)
        }
    }
}
