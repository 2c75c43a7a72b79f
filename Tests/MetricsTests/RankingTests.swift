import Testing
@testable import Metrics
import Storage

#if canImport(Glibc)
import Glibc
#endif

private func scratchDirectory() -> String {
    var template = Array("/tmp/sieve-eval-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}

private func writeText(_ text: String, _ path: String) {
    let f = fopen(path, "wb")!
    _ = text.utf8CString.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count - 1, f) }
    fclose(f)
}

private func near(_ a: Double, _ b: Double, _ tol: Double = 1e-12) -> Bool { abs(a - b) <= tol }

private func invalidInputMessage(_ body: () throws -> Void) -> String? {
    do { try body() } catch MetricsError.invalidInput(let message) { return message } catch { return nil }
    return nil
}

@Suite struct RankingTests {
    // MARK: ranks

    @Test func averageRanks() {
        #expect(Ranking.ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1])
        #expect(Ranking.ranks([3, 3, 3]) == [2, 2, 2])
        #expect(Ranking.ranks([.infinity, 0, -.infinity, .infinity]) == [3.5, 2, 1, 3.5])
        #expect(Ranking.ranks([]) == [])
    }

    // MARK: AUROC

    @Test func aurocPerfectReversedTies() {
        let s: [Double] = [0.1, 0.2, 0.3, 0.4]
        let p = [false, false, true, true]
        #expect(Ranking.auroc(scores: s, positives: p, direction: .higherIsSuspicious) == 1.0)
        #expect(Ranking.auroc(scores: s, positives: p, direction: .lowerIsSuspicious) == 0.0)
        #expect(Ranking.auroc(scores: [1, 1, 1, 1], positives: p, direction: .higherIsSuspicious) == 0.5)
        #expect(Ranking.auroc(scores: s, positives: [false, false, false, false], direction: .higherIsSuspicious).isNaN)
        #expect(Ranking.auroc(scores: s, positives: [true, true, true, true], direction: .higherIsSuspicious).isNaN)
    }

    @Test func aurocWithTiesByHand() {
        // Pairs (positive, negative): (0.4, 0.1) = 1, (0.4, 0.4) = 1/2, (0.8, 0.1) = 1,
        // (0.8, 0.4) = 1  ->  3.5 / 4 = 0.875.
        let s: [Double] = [0.1, 0.4, 0.4, 0.8]
        let p = [false, true, false, true]
        let up = Ranking.auroc(scores: s, positives: p, direction: .higherIsSuspicious)
        #expect(near(up, 0.875))
        let down = Ranking.auroc(scores: s, positives: p, direction: .lowerIsSuspicious)
        #expect(near(down, 1 - up))
    }

    @Test func aurocInfinities() {
        // Pairs: (+inf, +inf) = 1/2, (+inf, -inf) = 1, (1, +inf) = 0, (1, -inf) = 1 -> 2.5 / 4.
        let s: [Double] = [.infinity, .infinity, 1, -.infinity]
        let p = [true, false, true, false]
        #expect(near(Ranking.auroc(scores: s, positives: p, direction: .higherIsSuspicious), 0.625))
        #expect(near(Ranking.auroc(scores: s, positives: p, direction: .lowerIsSuspicious), 0.375))
    }

    @Test func aurocMatchesPairCounting() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<20 {
            let n = 2 + Int(rng.below(60))
            let s = (0..<n).map { _ in Double(rng.below(8)) }     // many ties
            var p = (0..<n).map { _ in rng.below(3) == 0 }
            p[0] = true; p[1] = false
            var wins = 0.0, pairs = 0.0
            for i in 0..<n where p[i] {
                for j in 0..<n where !p[j] {
                    pairs += 1
                    wins += s[i] > s[j] ? 1 : (s[i] == s[j] ? 0.5 : 0)
                }
            }
            #expect(near(Ranking.auroc(scores: s, positives: p, direction: .higherIsSuspicious), wins / pairs))
            #expect(near(Ranking.auroc(scores: s, positives: p, direction: .lowerIsSuspicious), 1 - wins / pairs))
        }
    }

    // MARK: average precision

    @Test func averagePrecisionByHand() {
        // Hits at ranks 1 and 3: (1 + 2/3) / 2 = 0.8333...
        let ap = Ranking.averagePrecision(scores: [0.9, 0.8, 0.7, 0.6], positives: [true, false, true, false],
                                             direction: .higherIsSuspicious)
        #expect(near(ap, (1.0 + 2.0 / 3.0) / 2))
        let apLow = Ranking.averagePrecision(scores: [0.1, 0.2, 0.3, 0.4], positives: [true, false, true, false],
                                                direction: .lowerIsSuspicious)
        #expect(near(apLow, (1.0 + 2.0 / 3.0) / 2))
        #expect(Ranking.averagePrecision(scores: [0.9, 0.8, 0.1], positives: [true, true, false],
                                            direction: .higherIsSuspicious) == 1.0)
        #expect(Ranking.averagePrecision(scores: [1, 2], positives: [false, false],
                                            direction: .higherIsSuspicious).isNaN)
    }

    @Test func averagePrecisionWithTies() {
        // sklearn: average_precision_score([1,0,1,0,1], [0.9,0.8,0.8,0.5,0.3])
        // thresholds 0.9: R=1/3 P=1/1; 0.8 (two examples enter together): R=2/3 P=2/3;
        // 0.5: R=2/3 (no step); 0.3: R=1 P=3/5
        // AP = 1/3*1 + 1/3*2/3 + 0 + 1/3*3/5 = 15/45 + 10/45 + 9/45 = 34/45 = 0.755555...
        let ap = Ranking.averagePrecision(scores: [0.9, 0.8, 0.8, 0.5, 0.3],
                                             positives: [true, false, true, false, true],
                                             direction: .higherIsSuspicious)
        #expect(near(ap, 34.0 / 45.0))
        // All tied: one threshold, AP = prevalence (sklearn gives 0.4 for 2 of 5).
        let flat = Ranking.averagePrecision(scores: [1, 1, 1, 1, 1], positives: [true, false, true, false, false],
                                               direction: .higherIsSuspicious)
        #expect(near(flat, 0.4))
        // Infinities tie with each other: +inf group {pos, neg} R=1/2 P=1/2; then 0 (pos): R=1 P=2/3.
        // AP = 1/4 + 1/3 = 7/12.
        let inf = Ranking.averagePrecision(scores: [.infinity, .infinity, 0, -.infinity],
                                              positives: [true, false, true, false], direction: .higherIsSuspicious)
        #expect(near(inf, 7.0 / 12.0))
    }

    // MARK: Spearman

    @Test func spearmanValues() {
        #expect(near(Ranking.spearman([1, 2, 3, 4], [10, 20, 30, 400]), 1))
        #expect(near(Ranking.spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1))
        // No ties: 1 - 6 * sum d^2 / (n (n^2 - 1)) = 1 - 6 * 4 / 120 = 0.8.
        #expect(near(Ranking.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]), 0.8))
        // Ties: ranks b = [1, 2, 3.5, 5, 3.5]; sxy = 8, sxx = 10, syy = 9.5 -> 8 / sqrt(95).
        #expect(near(Ranking.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 8 / (95.0).squareRoot()))
        #expect(Ranking.spearman([1, 1, 1], [1, 2, 3]).isNaN)
        #expect(Ranking.spearman([1, 2, 3], [2, 2, 2]).isNaN)
        #expect(Ranking.spearman([1], [2]).isNaN)
    }

    // MARK: pruning

    static let scores: [Double] = [0.5, 0.9, 0.1, 0.9, 0.3, 0.7]
    // Descending (ties by index): 1, 3, 5, 0, 4, 2.

    @Test func pruneHighestLowest() throws {
        #expect(try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .highest) == [1, 3, 5])
        #expect(try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .lowest) == [0, 2, 4])
        // Tie between 1 and 3 goes to the smaller index.
        #expect(try Pruning.keep(scores: Self.scores, fraction: 1.0 / 6, strategy: .highest) == [1])
        // 0.4 * 6 = 2.4 -> 2; 0.25 * 6 = 1.5 -> 2 (rounded half away from zero).
        #expect(try Pruning.keep(scores: Self.scores, fraction: 0.4, strategy: .highest) == [1, 3])
        #expect(try Pruning.keep(scores: Self.scores, fraction: 0.25, strategy: .lowest) == [2, 4])
        #expect(try Pruning.keep(scores: Self.scores, fraction: 1, strategy: .lowest) == [0, 1, 2, 3, 4, 5])
        // Infinities are the extremes.
        let inf: [Double] = [1, .infinity, -.infinity, 2]
        #expect(try Pruning.keep(scores: inf, fraction: 0.25, strategy: .highest) == [1])
        #expect(try Pruning.keep(scores: inf, fraction: 0.25, strategy: .lowest) == [2])
    }

    @Test func pruneWindow() throws {
        #expect(try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .window(offset: 0)) == [1, 3, 5])
        // Drop the highest one (index 1), keep the next three: 3, 5, 0.
        #expect(try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .window(offset: 1)) == [0, 3, 5])
        #expect(try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .window(offset: 3)) == [0, 2, 4])
        #expect(throws: MetricsError.self) {
            try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .window(offset: 4))
        }
        #expect(throws: MetricsError.self) {
            try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .window(offset: -1))
        }
    }

    @Test func coverageCutsTheHardestAndSpreadsTheBudgetOverStrata() throws {
        // Suspiciousness 0..<100 (one example per value) plus 100 examples crowded at 0.5:
        // strata of width 2 over [0, 99]; the first stratum holds 2 + 100 examples.
        let s = (0..<100).map(Double.init) + [Double](repeating: 0.5, count: 100)
        let kept = Pruning.coverage(s, count: 60, hardCut: 10, strata: 50, seed: 1)
        #expect(kept.count == 60 && Set(kept).count == 60 && kept == kept.sorted())
        // The 10 hardest (90...99) are cut.
        #expect(kept.allSatisfy { $0 < 90 || $0 >= 100 })
        // 50 strata of width 1.78 over [0, 89] share 60: one or two from each sparse stratum,
        // so the crowded first one (values 0, 1 and the 100 at 0.5) gets a stratum's share
        // and what is left, not its 102/190 of the budget as a random subset would.
        let crowded = kept.filter { $0 < 2 || $0 >= 100 }.count
        #expect(crowded >= 1 && crowded <= 11)
        #expect(kept.filter { $0 >= 2 && $0 < 90 }.count == 60 - crowded)
        // Seeded: same seed, same subset; another seed samples the crowded stratum differently.
        #expect(Pruning.coverage(s, count: 60, hardCut: 10, strata: 50, seed: 1) == kept)
        let wide = Pruning.coverage(s, count: 150, hardCut: 0, strata: 50, seed: 1)
        #expect(wide.count == 150)
        #expect(wide != Pruning.coverage(s, count: 150, hardCut: 0, strata: 50, seed: 2))
        // Infinite values join the extreme strata; an all-equal score is one stratum.
        let inf = [Double.infinity, 0, 1, 2, -Double.infinity, 3]
        #expect(Pruning.coverage(inf, count: 6, hardCut: 0, seed: 0) == [0, 1, 2, 3, 4, 5])
        #expect(Pruning.coverage([Double](repeating: 1, count: 10), count: 4, hardCut: 0, seed: 0).count == 4)
    }

    @Test func coverageSelectionFollowsTheDirectionAndChecksItsCut() throws {
        let s = (0..<100).map(Double.init)
        // Lower is suspicious: the cut takes the smallest values.
        let kept = try Pruning.select(scores: s, direction: .lowerIsSuspicious, .coverage(0.5, hardCut: 0.2, perClass: false), seed: 0)
        #expect(kept.count == 50 && kept.allSatisfy { $0 >= 20 })
        #expect(throws: MetricsError.self) { try Pruning.select(scores: s, direction: .higherIsSuspicious, .coverage(0.9, hardCut: 0.2, perClass: false)) }
        #expect(throws: MetricsError.self) { try Pruning.select(scores: s + [.nan], direction: .higherIsSuspicious, .coverage(0.5, hardCut: 0, perClass: false)) }
        // Per class (the default) needs the labels, one per example.
        #expect(throws: MetricsError.self) { try Pruning.select(scores: s, direction: .higherIsSuspicious, .coverage(0.5, hardCut: 0)) }
        #expect(throws: MetricsError.self) {
            try Pruning.select(scores: s, direction: .higherIsSuspicious, .coverage(0.5, hardCut: 0), labels: [0, 1])
        }
        // The paper's cuts by pruning rate.
        #expect(Pruning.coverageHardCut(keeping: 0.7) == 0 && Pruning.coverageHardCut(keeping: 0.5) == 0)
        #expect(Pruning.coverageHardCut(keeping: 0.3) == 0.1 && Pruning.coverageHardCut(keeping: 0.2) == 0.1)
        #expect(Pruning.coverageHardCut(keeping: 0.1) == 0.3)
    }

    @Test func coveragePerClassKeepsEachClassInProportion() throws {
        // Class 0 (60 examples) is easy (scores 0..<1), class 1 (40) hard (scores 10..<11):
        // pooled strata over [0, 11] spend the budget by score alone; per class, each class
        // gets its share of the budget (60% and 40% of 20) and of the cut (6 and 4 of 10),
        // cut from its own hardest end.
        let labels = (0..<100).map { $0 < 60 ? 0 : 1 }
        let s: [Double] = (0..<100).map { (i: Int) -> Double in i < 60 ? Double(i) / 60 : 10 + Double(i - 60) / 40 }
        let kept = try Pruning.select(scores: s, direction: .higherIsSuspicious, .coverage(0.2, hardCut: 0.1),
                                      labels: labels, seed: 3)
        #expect(kept.count == 20 && kept == kept.sorted())
        #expect(kept.filter { $0 < 60 }.count == 12 && kept.filter { $0 >= 60 }.count == 8)
        #expect(kept.allSatisfy { $0 < 54 || ($0 >= 60 && $0 < 96) })          // each class's hardest cut
        let pooled = try Pruning.select(scores: s, direction: .higherIsSuspicious, .coverage(0.2, hardCut: 0.1, perClass: false), seed: 3)
        #expect(pooled.allSatisfy { $0 < 90 })                                  // the 10 hardest overall: class 1's
        // Seeded, and labels need not be 0-based or contiguous.
        #expect(try Pruning.select(scores: s, direction: .higherIsSuspicious, .coverage(0.2, hardCut: 0.1),
                                   labels: labels.map { $0 * 7 + 3 }, seed: 3) == kept)
        // Shares by largest remainder, capped: 7 over sizes 3, 3, 4 gives 2, 2, 3; a cap
        // of 1 on the first sends its excess to the entry with the most room (ties: the earlier).
        #expect(Pruning.apportion(7, sizes: [3, 3, 4], caps: [3, 3, 4]) == [2, 2, 3])
        #expect(Pruning.apportion(7, sizes: [3, 3, 4], caps: [1, 3, 4]) == [1, 3, 3])
        #expect(Pruning.apportion(7, sizes: [3, 3, 4], caps: [1, 2, 4]) == [1, 2, 4])
        #expect(Pruning.apportion(10, sizes: [3, 3, 4], caps: [3, 3, 4]) == [3, 3, 4])
    }

    @Test func pruneRandom() throws {
        let n = 1000
        let s = (0..<n).map { Double($0 % 7) }
        let a = try Pruning.keep(scores: s, fraction: 0.3, strategy: .random(seed: 42))
        let b = try Pruning.keep(scores: s, fraction: 0.3, strategy: .random(seed: 42))
        let c = try Pruning.keep(scores: s, fraction: 0.3, strategy: .random(seed: 43))
        #expect(a.count == 300)
        #expect(a == b)
        #expect(a != c)
        #expect(Set(a).count == a.count)
        #expect(a == a.sorted())
        #expect(a.allSatisfy { $0 >= 0 && $0 < n })
        #expect(try Pruning.keep(scores: s, fraction: 1, strategy: .random(seed: 1)) == Array(0..<n))
        // Roughly uniform: each half of the index range gets about half the sample.
        let low = a.filter { $0 < n / 2 }.count
        #expect(low > 110 && low < 190)
    }

    @Test func splitMix64KnownValues() {
        // Reference outputs of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        var g = SplitMix64(seed: 0)
        #expect(g.next() == 0xe220_a839_7b1d_cdaf)
        #expect(g.next() == 0x6e78_9e6a_a1b9_65f4)
        var h = SplitMix64(seed: 5)
        for _ in 0..<1000 { #expect(h.below(7) < 7) }
    }

    @Test func pruneAlwaysKeep() throws {
        let flags = [false, false, true, false, false, false]
        // Index 2 is forced; the two remaining places go to the highest others: 1, 3.
        #expect(try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .highest, alwaysKeep: flags) == [1, 2, 3])
        #expect(try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .lowest, alwaysKeep: flags) == [0, 2, 4])
        // Window over the others (1, 3, 5, 0, 4): drop 1, keep 3 and 5.
        #expect(try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .window(offset: 1),
                                 alwaysKeep: flags) == [2, 3, 5])
        let r = try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .random(seed: 9), alwaysKeep: flags)
        #expect(r.count == 3 && r.contains(2) && Set(r).count == 3)
        // More forced examples than places.
        #expect(throws: MetricsError.self) {
            try Pruning.keep(scores: Self.scores, fraction: 1.0 / 6, strategy: .highest,
                             alwaysKeep: [true, true, false, false, false, false])
        }
        #expect(throws: MetricsError.self) {
            try Pruning.keep(scores: Self.scores, fraction: 0.5, strategy: .highest, alwaysKeep: [true])
        }
        // Never-learned examples (+infinity forgetting) kept even when keeping the lowest.
        let forgetting: [Double] = [0, 3, .infinity, 1, 2, .infinity]
        #expect(try Pruning.keep(scores: forgetting, fraction: 0.5, strategy: .lowest,
                                 alwaysKeep: forgetting.map { $0 == .infinity }) == [0, 2, 5])
    }

    @Test func pruneInvalidInput() {
        for f in [0.0, -0.1, 1.5, .nan, .infinity] {
            #expect(throws: MetricsError.self) { try Pruning.keep(scores: Self.scores, fraction: f, strategy: .highest) }
        }
        #expect(throws: MetricsError.self) {
            try Pruning.keep(scores: [1, .nan, 2], fraction: 0.5, strategy: .highest)
        }
    }
}
