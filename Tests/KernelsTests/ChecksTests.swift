import Testing
@testable import Kernels

/// The shape and memory checks stop the program even in release builds, where Kernels
/// is compiled with `-Ounchecked` (which removes every `precondition`): each body runs
/// in a child process that must exit with a failure instead of touching memory it does
/// not own.
struct ChecksTests {
    @Test func resizeBeyondCapacityStops() async {
        await #expect(processExitsWith: .failure) {
            let t = CPUDevice().makeTensor([3, 8])
            t.resize(axis: 1, to: 9)
        }
    }

    @Test func opOnTooSmallTensorStops() async {
        await #expect(processExitsWith: .failure) {
            let d = CPUDevice()
            d.add(d.makeTensor([100]), d.makeTensor([100]), into: d.makeTensor([99]))
        }
    }

    @Test func gemmOutsideItsOperandsStops() async {
        await #expect(processExitsWith: .failure) {
            let d = CPUDevice()
            let a = d.makeTensor([4, 4]), b = d.makeTensor([4, 4]), c = d.makeTensor([4, 4])
            d.gemm(transposeA: false, transposeB: false, m: 4, n: 4, k: 4, alpha: 1, a: a, aOffset: 1, lda: 4,
                   b: b, bOffset: 0, ldb: 4, beta: 0, c: c, cOffset: 0, ldc: 4)
        }
    }

    @Test func labelOutsideTheClassesStops() async {
        await #expect(processExitsWith: .failure) {
            let d = CPUDevice()
            let labels = d.makeTensor([2], dtype: .int32)
            d.upload([Int32(0), 10], to: labels)
            d.softmaxCrossEntropy(logits: d.makeTensor([10, 2]), labels: labels, gradScale: 1,
                                  errors: d.makeTensor([10, 2]), outputs: d.makeTensor([ExampleOutput.rows, 2]))
        }
    }

    @Test func tensorOfAnotherDeviceStops() async {
        await #expect(processExitsWith: .failure) {
            final class ForeignMemory: DeviceMemory { let byteCount = 64 }
            let d = CPUDevice()
            d.fill(Tensor(shape: [16], memory: ForeignMemory()), with: 1)
        }
    }

    @Test func decodingAnExampleOutsideTheBatchStops() async {
        await #expect(processExitsWith: .failure) {
            let d = CPUDevice()
            var outputs = ExampleOutputs(maxBatch: 8)
            outputs.download(d.makeTensor([ExampleOutput.rows, 4]), count: 4, from: d)
            _ = outputs.loss(4)
        }
    }

    @Test func batchNormWithTooFewParametersStops() async {
        await #expect(processExitsWith: .failure) {
            let d = CPUDevice()
            let p = BatchNormParameters(gamma: d.makeTensor([3]), beta: d.makeTensor([4]), runningMean: d.makeTensor([4]),
                                        runningVar: d.makeTensor([4]), channels: 4)
            d.batchNormInferenceForward(input: d.makeTensor([4, 2, 3]), output: d.makeTensor([4, 2, 3]), parameters: p)
        }
    }
}
