import Testing
@testable import Kernels

/// The shape and memory checks stop the program even in release builds, where Kernels
/// is compiled with `-Ounchecked` (which removes every `precondition`): each body runs
/// in a child process that must exit with a failure instead of touching memory it does
/// not own.
struct ChecksTests {
    @Test func resizeBeyondCapacityStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let t = CPUDevice().makeTensor([3, 8])
            t.resize(axis: 1, to: 9)
        }
        expectMessage(result, "Tensor.resize: axis 1 of [3, 8] to 9")
    }

    @Test func opOnTooSmallTensorStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = CPUDevice()
            d.add(d.makeTensor([100]), d.makeTensor([100]), into: d.makeTensor([99]))
        }
        expectMessage(result, "add: operand is [99]")
    }

    @Test func gemmOutsideItsOperandsStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = CPUDevice()
            let a = d.makeTensor([4, 4]), b = d.makeTensor([4, 4]), c = d.makeTensor([4, 4])
            d.gemm(transposeA: false, transposeB: false, m: 4, n: 4, k: 4, alpha: 1, a: a, aOffset: 1, lda: 4,
                   b: b, bOffset: 0, ldb: 4, beta: 0, c: c, cOffset: 0, ldc: 4)
        }
        expectMessage(result, "gemm: A is [4, 4]")
    }

    @Test func labelOutsideTheClassesStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = CPUDevice()
            let labels = d.makeTensor([2], dtype: .int32)
            d.upload([Int32(0), 10], to: labels)
            d.softmaxCrossEntropy(logits: d.makeTensor([10, 2]), labels: labels, gradScale: 1,
                                  errors: d.makeTensor([10, 2]), outputs: d.makeTensor([ExampleOutput.rows, 2]))
        }
        expectMessage(result, "softmaxCrossEntropy: label 10 outside 0..<10")
    }

    @Test func tensorOfAnotherDeviceStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            final class ForeignMemory: DeviceMemory { let byteCount = 64 }
            let d = CPUDevice()
            d.fill(Tensor(shape: [16], memory: ForeignMemory()), with: 1)
        }
        expectMessage(result, "is not float32 host memory")
    }

    @Test func decodingAnExampleOutsideTheBatchStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = CPUDevice()
            var outputs = ExampleOutputs(maxBatch: 8)
            outputs.download(d.makeTensor([ExampleOutput.rows, 4]), count: 4, from: d)
            _ = outputs.loss(4)
        }
        expectMessage(result, "ExampleOutputs: example 4 outside 0..<4")
    }

    @Test func batchNormWithTooFewParametersStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = CPUDevice()
            let p = BatchNormParameters(gamma: d.makeTensor([3]), beta: d.makeTensor([4]), runningMean: d.makeTensor([4]),
                                        runningVar: d.makeTensor([4]), channels: 4)
            d.batchNormInferenceForward(input: d.makeTensor([4, 2, 3]), output: d.makeTensor([4, 2, 3]), parameters: p)
        }
        expectMessage(result, "batchNormInferenceForward: gamma [C] is [3]")
    }

    @Test(.enabled(if: !Devices.openCL().devices.isEmpty, "needs an OpenCL platform"))
    func launchWithUndeclaredArgumentsStops() async {
        // fill is declared (buffer, float, int): an int where the float goes is refused before clSetKernelArg
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = try OpenCLDevice()
            d.launch(.fill, .items(4), d.makeTensor([4]), 1, 4)
        }
        expectMessage(result, "OpenCL kernel fill: argument 1 is int; declared [__global buffer, float, int]")
    }

    /// The child process printed `message` (the check's, not a crash's).
    func expectMessage(_ result: ExitTest.Result?, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let stderr = result.map { String(decoding: $0.standardErrorContent, as: UTF8.self) } ?? ""
        #expect(stderr.contains(message), "stderr: \(stderr)", sourceLocation: sourceLocation)
    }
}
