import Testing
import Kernels
import Metrics
@testable import Trainer

/// A short training run and the scoring passes on OpenCL (PoCL in CI) against the CPU.
@Suite(.enabled(if: !Devices.openCL().devices.isEmpty, "needs an OpenCL platform (Debian: pocl-opencl-icd)"))
struct OpenCLTrainingTests {
    static func session(_ device: Device, epochs: Int) throws -> TrainingSession {
        let data = DataSplit(train: bandDataset(count: 48, size: 8, seed: 1), test: bandDataset(count: 16, size: 8, seed: 2))
        var c = TrainingTests.config(.resnet18, epochs: epochs, lr: 0.05)
        c.width = 2
        c.batchSize = 16
        c.augmentation = Augmentation(cropPadding: 2, reflect: false, horizontalFlip: true)
        return try TrainingSession(configuration: c, data: data, device: device)
    }

    static func maxRelative(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).map { abs($0 - $1) / max(abs($1), 1e-3) }.max() ?? 0
    }

    @Test func grandAtInitializationMatchesCPU() throws {
        let cpu = try Self.session(CPUDevice(), epochs: 0).scoreTrainingSet(gradNorms: true)
        let cl = try Self.session(OpenCLDevice(), epochs: 0).scoreTrainingSet(gradNorms: true)
        #expect(Self.maxRelative(cl.gradNorm!, cpu.gradNorm!) < 1e-4)
        #expect(Self.maxRelative(cl.el2n, cpu.el2n) < 1e-4)
    }

    /// The GraNd pass (evaluation forward, loss, backward with per-example norms) of a small
    /// ResNet-18 makes as many kernel launches at batch 32 as at batch 8: every op is one
    /// batched launch (or a fixed few), and each convolution's norms take one chunk.
    @Test func grandLaunchesDoNotDependOnTheBatch() throws {
        let device = try OpenCLDevice()
        var counts: [Int] = []
        for batch in [8, 32] {
            let s = try SyntheticBatch(architecture: .resnet18, input: FeatureShape(3, 16, 16), classes: 10, width: 8,
                                       batch: batch, device: device, seed: 3)
            s.net.perExampleGradNormsSquared(s.value)   // warm-up
            let before = device.launchCount
            s.net.perExampleGradNormsSquared(s.value)
            counts.append(device.launchCount - before)
            device.synchronize()
        }
        print("GraNd pass launches, ResNet-18 width 8 3x16x16: batch 8 \(counts[0]), batch 32 \(counts[1])")
        #expect(counts[0] == counts[1])
        #expect(counts[0] > 0)
    }

    @Test func trainingRunMatchesCPU() throws {
        let (cpuSink, clSink) = (ExampleStatsCollector(), ExampleStatsCollector())
        let cpuSession = try Self.session(CPUDevice(), epochs: 2), clSession = try Self.session(OpenCLDevice(), epochs: 2)
        let a = try cpuSession.run(sinks: [cpuSink]), b = try clSession.run(sinks: [clSink])
        #expect(cpuSink.records.count == clSink.records.count)
        #expect(zip(cpuSink.records, clSink.records).allSatisfy { $0.index == $1.index && $0.step == $1.step })
        // Float32 sums in another order, compounded over 6 SGD steps
        #expect(Self.maxRelative(clSink.records.map { Double($0.loss) }, cpuSink.records.map { Double($0.loss) }) < 1e-3)
        #expect(abs(a.last!.trainLoss - b.last!.trainLoss) < 1e-3 * a.last!.trainLoss)
        let cpuScores = try cpuSession.scoreTrainingSet(gradNorms: true), clScores = try clSession.scoreTrainingSet(gradNorms: true)
        // gradient norms are more sensitive to the small weight differences than the losses
        #expect(Self.maxRelative(clScores.gradNorm!, cpuScores.gradNorm!) < 1e-2)
    }
}
