import Foundation
import Storage
import Metrics
@testable import Report

/// Deterministic synthetic report inputs for the tests.
enum Synthetic {
    /// `n` examples of `classes` classes, a tenth of the labels flipped (when `noise`),
    /// four scores that find them (AUM lower = suspicious, the others higher), 28x28
    /// gray images with a class-dependent pattern, optionally a prune curve.
    static func input(n: Int = 2000, classes: Int = 10, noise: Bool = true, images: Bool = true,
                      pruneCurve: Bool = true, scoreCount: Int = 4, side: Int = 28, channels: Int = 1) -> ReportInput {
        var rng = SplitMix64(seed: 42)
        let original = (0..<n).map { Int32($0 % classes) }
        var given = original
        var flipped = [Bool](repeating: false, count: n)
        if noise && classes > 1 {
            for i in 0..<n where rng.uniform() < 0.1 {
                given[i] = Int32((Int(original[i]) + 1 + Int(rng.below(UInt64(classes - 1)))) % classes)
                flipped[i] = true
            }
        }
        let names = ["aum", "el2n", "forgetting", "grand", "ssft", "cartography_confidence", "vog",
                     "first_learned", "variability", "correctness", "loss", "margin", "entropy", "grad_norm", "random"]
        var scores: [Score] = []
        for k in 0..<scoreCount {
            let name = k < names.count ? names[k] : "score_\(k)"
            let lower = k == 0
            let strength = 2.5 / Double(k + 1)
            var values = (0..<n).map { i -> Double in
                let shift = flipped[i] ? strength : 0
                return (lower ? -shift : shift) + rng.normal()
            }
            if name == "forgetting" {
                values = values.map { max(0, ($0 * 1.5 + 2).rounded()) }
                for i in stride(from: 7, to: n, by: 97) where flipped[i] { values[i] = .infinity }
            }
            scores.append(Score(name: name, values: values,
                                direction: lower ? .lowerIsSuspicious : .higherIsSuspicious,
                                note: "synthetic \(name): flipped examples shifted by \(Format.fixed(strength, 2))"))
        }
        let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                          "Ankle boot"]
        return ReportInput(
            title: "sieve audit: synthetic, \(n) examples",
            facts: [("command", "sieve score dynamics --data synthetic --epochs 3"), ("model", "cnn"),
                    ("device", "cpu"), ("seconds", "12.5"), ("test accuracy", "91.6%")],
            scores: scores, givenLabels: given, originalLabels: noise ? original : nil,
            classNames: (0..<classes).map { $0 < classNames.count ? classNames[$0] : "class \($0)" },
            inputNorm: (0..<n).map { _ in 10 + rng.normal() },
            images: images ? pattern(side: side, channels: channels, classes: classes) : nil,
            paths: (0..<n).map { "data/train/\(original[$0])/img_\($0).png" },
            pruneCurve: pruneCurve ? curve() : nil)
    }

    /// Images where class c shows a ring of radius growing with c over stripes
    /// whose direction depends on the example index.
    static func pattern(side: Int, channels: Int, classes: Int) -> ReportImages {
        ReportImages(channels: channels, height: side, width: side) { i in
            var pixels = [UInt8](repeating: 0, count: channels * side * side)
            let c = i % classes
            let radius = Double(side) * (0.15 + 0.3 * Double(c) / Double(max(1, classes - 1)))
            for y in 0..<side {
                for x in 0..<side {
                    let dx = Double(x) - Double(side) / 2, dy = Double(y) - Double(side) / 2
                    let d = (dx * dx + dy * dy).squareRoot()
                    let ring = abs(d - radius) < 1.6
                    let stripe = ((i % 2 == 0 ? x : y) / 3) % 2 == 0
                    let v: UInt8 = ring ? 255 : stripe ? 70 : 20
                    for ch in 0..<channels {
                        pixels[ch * side * side + y * side + x] = ch == 0 ? v : UInt8(Int(v) * (ch + c) % 256)
                    }
                }
            }
            return pixels
        }
    }

    static func curve() -> [PruneCurvePoint] {
        [0.9, 0.8, 0.7, 0.5].flatMap { f -> [PruneCurvePoint] in
            [PruneCurvePoint(fraction: f, selection: "aum, drop-suspicious", meanAccuracy: 0.9 - 0.05 * (1 - f),
                             std: 0.004, randomMeanAccuracy: 0.88 - 0.1 * (1 - f), randomStd: 0.006),
             PruneCurvePoint(fraction: f, selection: "el2n, drop-suspicious", meanAccuracy: 0.89 - 0.08 * (1 - f),
                             std: 0.005, randomMeanAccuracy: 0.88 - 0.1 * (1 - f), randomStd: 0.006)]
        }
    }
}

extension SplitMix64 {
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// A standard normal draw (Box-Muller).
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
}
