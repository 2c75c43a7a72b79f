import Testing
import Kernels
@testable import Trainer

/// Finite-difference checks of VoG's input gradient, `d z_y / d x` (the given-label logit
/// w.r.t. the normalised input), as ``Model/inputGradientsOfLabelLogit(_:oneHot:)`` and
/// ``TrainingSession/labelLogitInputGradients()`` compute it: evaluation mode on
/// non-trivial running batch-norm statistics, several examples with different labels.
///
/// Accuracy with a Float32 forward: as in `GradientCheckTests`, finite differences at
/// several step sizes with the logits differenced in Double, the candidate closest to the
/// analytic value counting, and each step taken as the difference of the rounded Float
/// inputs. In evaluation mode every model here is piecewise linear in its input (linear,
/// convolution, affine batch norm, ReLU, max and average pooling), so a difference has no
/// truncation error: it is exact up to Float32 rounding of the logit unless its step
/// crosses a kink. Kinks are dense (hundreds of ReLUs), so besides the central difference
/// the forward and backward ones count too (a kink spoils only the side it lies on). That
/// leaves errors below 1e-3 relative, while a wrong gradient (scaled by 1.01, a channel
/// missing, two examples swapped) is off by 5e-3 or more even after the choice of the
/// closest candidate; the tolerances sit between, and each check also confirms on its own
/// numbers that such mistakes would fail it.
struct InputGradientCheckTests {
    static let classes = 5
    /// Different labels for the examples of a batch.
    static let labels: [Int32] = [3, 0, 4, 1]
    /// Batch of the training-mode forwards that set the running statistics (ResNet's last
    /// stage is 1x1 here: statistics of only 4 values make extreme scales and dense kinks).
    static let warmBatch = 16
    /// Powers of two (1.6e-2, 3.9e-3, 9.8e-4), so that `x +- step` rounds little.
    static let steps: [Double] = [1.0 / 64, 1.0 / 256, 1.0 / 1024]
    /// Per example: `||numeric - analytic|| / ||numeric||` over its input values.
    static let relativeTolerance = 2e-3
    /// Per input value: `|numeric - analytic|`, relative to the example's largest entry.
    static let entryTolerance = 5e-3

    /// Measured errors of one check (the largest over its examples).
    struct Errors {
        var relative = 0.0
        var entry = 0.0
        /// Largest change of any other example's logits when one example's input moves.
        var crossTalk = 0.0
    }

    /// Gives every batch norm running statistics far from (0, 1) and affine parameters
    /// far from (1, 0): training-mode forwards on inputs of another distribution with a
    /// high running-average momentum, then random `gamma`, `beta`.
    static func randomizeBatchNorms(_ model: Model, device: Device, batch: Int, rng: inout SeededRandom) {
        let norms = model.leaves.compactMap { $0 as? BatchNorm2D }
        guard !norms.isEmpty else { return }
        for bn in norms { bn.momentum = 0.5 }
        let x = device.makeTensor(model.inputShape.batched(batch))
        for _ in 0..<3 {
            device.upload((0..<x.count).map { _ in 1.7 * rng.normal() + 0.4 }, to: x)
            _ = model.forward(x, batch: batch, mode: .training)
        }
        for bn in norms {
            bn.momentum = 0.1
            let c = bn.inputShape.channels
            device.upload((0..<c).map { _ in 0.5 + rng.uniform() }, to: bn.gamma.value)
            device.upload((0..<c).map { _ in 0.2 * rng.normal() }, to: bn.beta.value)
            #expect(statisticsOffset(bn, device) > 0.05, "\(bn.name): running statistics still near (0, 1)")
        }
    }

    /// How far a batch norm's running statistics are from the identity's (0, 1).
    static func statisticsOffset(_ bn: BatchNorm2D, _ device: Device) -> Double {
        let mean = device.download(bn.runningMean), variance = device.download(bn.runningVar)
        return max(mean.map { abs(Double($0)) }.max()!, variance.map { abs(Double($0) - 1) }.max()!)
    }

    /// The derivative at 0 of a piecewise-linear function `f(t)` from finite differences:
    /// central, forward and backward ones at each of ``steps``, the one closest to
    /// `analytic` counting (as `GradientCheckTests` picks between its two steps). A kink
    /// (ReLU, max-pool) within a step spoils that step's central difference and the
    /// one-sided difference on its side, seldom every candidate at once; a wrong gradient
    /// is off in every candidate. `f(t)` returns the value and the offset actually taken
    /// (`t` after Float32 rounding of the input); `f0 = f(0)`.
    static func slope(at f0: Double, closestTo analytic: Double, _ f: (Double) -> (value: Double, offset: Double)) -> Double {
        var best = Double.nan
        for step in steps {
            let (up, u) = f(step), (down, d) = f(-step)
            for candidate in [(up - down) / (u - d), (up - f0) / u, (f0 - down) / -d]
            where best.isNaN || abs(candidate - analytic) < abs(best - analytic) {
                best = candidate
            }
        }
        return best
    }

    /// Checks the analytic input gradient of a batch `x` (`[C, N, H, W]`, host) against
    /// finite differences of the label logits, and that moving one example's input leaves
    /// every other example's logits unchanged.
    @discardableResult
    static func check(_ model: Model, device: Device, x: [Float], labels: [Int32]) -> Errors {
        let n = labels.count, K = model.classes
        let C = model.inputShape.channels, plane = model.inputShape.count / C
        let input = device.makeTensor(model.inputShape.batched(n))
        device.upload(x, to: input)
        let labelTensor = device.makeTensor([n], dtype: .int32)
        device.upload(labels, to: labelTensor)
        var hot = [Float](repeating: 0, count: K * n)
        for j in 0..<n { hot[Int(labels[j]) * n + j] = 1 }
        let oneHot = device.makeTensor([K, n])
        device.upload(hot, to: oneHot)
        let batch = Batch(images: input, labels: labelTensor, indices: Array(0..<Int32(n))[...])
        let analytic = device.download(model.inputGradientsOfLabelLogit(batch, oneHot: oneHot)).map(Double.init)
        #expect(analytic.count == x.count)

        func logits(_ values: [Float]) -> [Float] {
            device.upload(values, to: input)
            return device.download(model.forward(input, batch: n, mode: .evaluation))
        }
        let base = logits(x)
        var errors = Errors()
        var numeric = [Double](repeating: .nan, count: x.count)
        var probe = x
        for e in 0..<x.count {
            let j = (e / plane) % n, y = Int(labels[j])
            numeric[e] = slope(at: Double(base[y * n + j]), closestTo: analytic[e]) { t in
                probe[e] = Float(Double(x[e]) + t)
                let z = logits(probe)
                let offset = Double(probe[e]) - Double(x[e])
                probe[e] = x[e]
                for i in 0..<n where i != j {
                    for k in 0..<K { errors.crossTalk = max(errors.crossTalk, abs(Double(z[k * n + i]) - Double(base[k * n + i]))) }
                }
                return (Double(z[y * n + j]), offset)
            }
        }

        // Per example: its C * H * W values, channel-major within the batch.
        func values(_ g: [Double], of j: Int) -> [Double] {
            var result: [Double] = []
            for c in 0..<C {
                let start = (c * n + j) * plane
                result += g[start..<(start + plane)]
            }
            return result
        }
        func distance(_ a: [Double], _ b: [Double]) -> Double {
            zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        }
        let numerics = (0..<n).map { values(numeric, of: $0) }, analytics = (0..<n).map { values(analytic, of: $0) }
        for j in 0..<n {
            let num = numerics[j], ana = analytics[j]
            let norm = num.map { $0 * $0 }.reduce(0, +).squareRoot()
            let largest = num.map(abs).max()!
            #expect(norm > 1e-3, "example \(j): input gradient is (nearly) zero, the check proves nothing")
            let relative = distance(num, ana) / norm
            let entry = zip(num, ana).map { abs($0 - $1) }.max()! / largest
            errors.relative = max(errors.relative, relative)
            errors.entry = max(errors.entry, entry)
            #expect(relative <= relativeTolerance, "example \(j): relative L2 error \(relative)")
            #expect(entry <= entryTolerance, "example \(j): largest entry error \(entry) of the largest entry")

            // The same measure would catch the mistakes this check is for.
            #expect(distance(num, ana.map { 1.01 * $0 }) / norm > relativeTolerance, "a 1% scale error would pass")
            for c in 0..<C {
                var dropped = ana
                for p in 0..<plane { dropped[c * plane + p] = 0 }
                #expect(distance(num, dropped) / norm > relativeTolerance, "a missing channel \(c) would pass")
            }
            for i in 0..<n where i != j {
                #expect(distance(num, analytics[i]) / norm > relativeTolerance, "examples \(i) and \(j) swapped would pass")
            }
        }
        #expect(errors.crossTalk == 0, "an example's logits moved with another example's input: \(errors.crossTalk)")
        return errors
    }

    @discardableResult
    static func check(_ arch: Architecture, input: FeatureShape, width: Int = 2) throws -> Errors {
        let device = CPUDevice()
        let n = labels.count
        let model = try Model(arch, input: input, classes: classes, width: width, device: device, maxBatch: warmBatch)
        model.initialize(seed: 1)
        var rng = SeededRandom(seed: 3, purpose: "test")
        randomizeBatchNorms(model, device: device, batch: warmBatch, rng: &rng)
        let x = (0..<(input.count * n)).map { _ in rng.normal() }
        return check(model, device: device, x: x, labels: labels)
    }

    @Test func mlp() throws { try Self.check(.mlp, input: FeatureShape(3, 4, 4)) }

    @Test func cnn() throws { try Self.check(.cnn, input: FeatureShape(3, 8, 8)) }

    /// Width 2: widths 2/4/8/16, every block type, 1x1 shortcuts, global pooling.
    @Test func tinyResNet18() throws { try Self.check(.resnet18, input: FeatureShape(3, 8, 8), width: 2) }

    /// The session's VoG input, `labelLogitInputGradients()`: per training example the
    /// label-logit gradient averaged over colour channels, `[N * H * W]` example-major,
    /// with the training labels (noisy ones included), over several batches (the last
    /// one partial). Checked against finite differences of the label logit along "all
    /// channels of one pixel together" (whose derivative is the channel sum), one example
    /// at a time on inputs normalised here from the data set.
    @Test func sessionAveragesOverChannels() throws {
        let C = 3, size = 8, plane = size * size, count = 10, K = 4
        var rng = SeededRandom(seed: 5, purpose: "test")
        func dataset(_ count: Int) -> Dataset {
            var pixels = [Float](repeating: 0, count: count * C * plane)
            for i in 0..<pixels.count { pixels[i] = rng.uniform() * Float(1 + (i / plane) % C) }   // channels differ in scale
            return Dataset(name: "random", channels: C, height: size, width: size, classes: K, pixels: .float32(pixels),
                           labels: (0..<count).map { Int32($0 % K) })
        }
        let data = DataSplit(train: dataset(count), test: dataset(4))
        let noisy = data.train.labels.enumerated().map { i, y in i % 3 == 0 ? (y + 1) % Int32(K) : y }
        var c = TrainingConfiguration()
        c.architecture = .cnn
        c.width = 4
        c.epochs = 1
        c.batchSize = 4
        c.schedule = LearningRateSchedule(peak: 0.05, kind: .cosine)
        c.augmentation = .none
        c.evaluateEveryEpoch = false
        let device = CPUDevice()
        let session = try TrainingSession(configuration: c, data: data, device: device, trainLabels: noisy)
        try session.run()   // three steps: running statistics away from (0, 1)
        for bn in session.model.leaves.compactMap({ $0 as? BatchNorm2D }) {
            #expect(Self.statisticsOffset(bn, device) > 0.05, "\(bn.name): running statistics still near (0, 1)")
        }

        let averaged = try session.labelLogitInputGradients()
        #expect(averaged.count == count * plane)

        let model = session.model, norm = session.normalization
        guard case .float32(let pixels) = data.train.pixels else { fatalError() }
        let input = device.makeTensor(model.inputShape.batched(1))
        func labelLogit(_ x: [Float], _ y: Int) -> Double {
            device.upload(x, to: input)
            return Double(device.download(model.forward(input, batch: 1, mode: .evaluation))[y])
        }
        for i in 0..<count {
            let y = Int(noisy[i])
            let x = (0..<(C * plane)).map { e in (pixels[i * C * plane + e] - norm.mean[e / plane]) * (1 / norm.std[e / plane]) }
            let ana = (0..<plane).map { Double(averaged[i * plane + $0]) }
            let f0 = labelLogit(x, y)
            var num = [Double](repeating: .nan, count: plane)
            for p in 0..<plane {
                // All channels of pixel p move together: the derivative is the channel sum.
                num[p] = Self.slope(at: f0, closestTo: Double(C) * ana[p]) { t in
                    var probe = x
                    for ch in 0..<C { probe[ch * plane + p] = Float(Double(x[ch * plane + p]) + t) }
                    // The rounded offsets may differ a little between channels: their mean.
                    let offset = (0..<C).map { Double(probe[$0 * plane + p]) - Double(x[$0 * plane + p]) }.reduce(0, +) / Double(C)
                    return (labelLogit(probe, y), offset)
                } / Double(C)
            }
            let normNum = num.map { $0 * $0 }.reduce(0, +).squareRoot()
            #expect(normNum > 1e-3, "example \(i): input gradient is (nearly) zero")
            let relative = zip(num, ana).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot() / normNum
            #expect(relative <= Self.relativeTolerance, "example \(i) (label \(y)): relative L2 error \(relative)")
        }
    }
}
