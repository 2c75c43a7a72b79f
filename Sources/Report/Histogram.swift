/// Equal-width bins over a robust range of a score: values outside the range
/// (outliers, infinities) fall into the edge bins.
struct Binning {
    let lo: Double, hi: Double, count: Int

    /// The bin of `v` (not NaN), clamped into `0..<count`.
    func bin(_ v: Double) -> Int {
        let t = (v - lo) / (hi - lo)  // NaN only where the range overflows Double
        if !(t > 0) { return 0 }
        if t >= 1 { return count - 1 }
        return min(count - 1, Int(t * Double(count)))
    }

    /// Bins over the 0.5%..99.5% quantiles of the finite values of `sorted` (ascending,
    /// no NaN), widened to the finite min..max when the quantiles coincide and around
    /// the value when every finite value is the same; nil without finite values.
    static func robust(sorted: [Double], count: Int = 40) -> Binning? {
        guard let first = sorted.firstIndex(where: { $0.isFinite }),
              let last = sorted.lastIndex(where: { $0.isFinite }) else { return nil }
        let finite = sorted[first...last]
        func quantile(_ p: Double) -> Double {
            finite[finite.startIndex + Int((p * Double(finite.count - 1)).rounded())]
        }
        var lo = quantile(0.005), hi = quantile(0.995)
        if !(hi > lo) { lo = finite.first!; hi = finite.last! }
        if !(hi > lo) {
            let pad = max(abs(lo), 1) * 0.05
            lo -= pad; hi += pad
        }
        return Binning(lo: lo, hi: hi, count: count)
    }
}

/// A score's values binned once, grouped afterwards (clean / flipped, per class).
struct BinnedScore {
    let binning: Binning
    /// The bin of every example; -1 for NaN.
    let bins: [Int]
    let nanCount: Int
    /// Values below `lo` / above `hi` (infinities included), counted in the edge bins.
    let clampedLow: Int, clampedHigh: Int
    let infinite: Int

    init(values: [Double], binning: Binning) {
        self.binning = binning
        var bins = [Int](repeating: -1, count: values.count)
        var nan = 0, low = 0, high = 0, inf = 0
        for (i, v) in values.enumerated() {
            if v.isNaN { nan += 1; continue }
            if v.isInfinite { inf += 1 }
            if v < binning.lo { low += 1 } else if v > binning.hi { high += 1 }
            bins[i] = binning.bin(v)
        }
        self.bins = bins; nanCount = nan; clampedLow = low; clampedHigh = high; infinite = inf
    }

    /// Bin counts over the examples `include` accepts (NaN values skipped).
    func counts(where include: (Int) -> Bool = { _ in true }) -> [Int] {
        var counts = [Int](repeating: 0, count: binning.count)
        for (i, b) in bins.enumerated() where b >= 0 && include(i) { counts[b] += 1 }
        return counts
    }

    /// Bin counts per group: `group(i)` in `0..<groups`, or nil to leave example i out.
    func counts(groups: Int, group: (Int) -> Int?) -> [[Int]] {
        var counts = [[Int]](repeating: [Int](repeating: 0, count: binning.count), count: groups)
        for (i, b) in bins.enumerated() where b >= 0 {
            if let g = group(i), g >= 0, g < groups { counts[g][b] += 1 }
        }
        return counts
    }
}
