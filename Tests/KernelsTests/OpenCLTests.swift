import Testing
@testable import Kernels

/// OpenCL kernels against CPUDevice on the first OpenCL device (PoCL in CI: a CPU device).
@Suite(.enabled(if: !Devices.openCL().devices.isEmpty, "needs an OpenCL platform (Debian: pocl-opencl-icd)"))
struct OpenCLTests {
    let cl: OpenCLKernels
    let cpu = CPUDevice()

    init() throws { cl = try OpenCLKernels() }

    func tensor(_ v: [Float]) throws -> Tensor {
        let t = try cl.makeTensor([v.count])
        try cl.upload(v, to: t)
        return t
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesCPU(_ ta: Bool, _ tb: Bool) throws {
        var rng = TestRandom(ta ? 7 : 9)
        // odd sizes, sizes below and above a tile, and ResNet-18 layer shapes (K x CRS x N*PQ)
        for (m, n, k) in [(1, 1, 1), (7, 13, 5), (33, 17, 65), (64, 1024, 576), (128, 256, 1152), (10, 128, 512)] {
            let a = rng.array(m * k), b = rng.array(k * n), c0 = rng.array(m * n)
            let lda = ta ? m : k, ldb = tb ? k : n
            let c = try tensor(c0), expected = cpu.tensor(c0, [m * n])
            try cl.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5, a: try tensor(a), aOffset: 0, lda: lda,
                        b: try tensor(b), bOffset: 0, ldb: ldb, beta: 2, c: c, cOffset: 0, ldc: n)
            cpu.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5, a: cpu.tensor(a, [a.count]), aOffset: 0,
                     lda: lda, b: cpu.tensor(b, [b.count]), bOffset: 0, ldb: ldb, beta: 2, c: expected, cOffset: 0, ldc: n)
            // relative to the output scale; bound: Float32 sums of k products in a different order
            #expect(relativeError(try cl.download(c), cpu.download(expected).map(Double.init)) < 1e-5, "\(m)x\(n)x\(k)")
        }
    }

    @Test func gemmWithOffsetsWritesOnlyItsBlock() throws {
        var rng = TestRandom(5)
        let a = rng.array(40), b = rng.array(60), c0 = rng.array(50)
        let c = try tensor(c0), expected = cpu.tensor(c0, [50])
        // C[2..5, 1..4] (ldc 10) = A[rows of 6, offset 4] * B[offset 3, ldb 7]
        try cl.gemm(transposeA: false, transposeB: false, m: 3, n: 3, k: 6, alpha: 1, a: try tensor(a), aOffset: 4, lda: 6,
                    b: try tensor(b), bOffset: 3, ldb: 7, beta: 0, c: c, cOffset: 21, ldc: 10)
        cpu.gemm(transposeA: false, transposeB: false, m: 3, n: 3, k: 6, alpha: 1, a: cpu.tensor(a, [40]), aOffset: 4, lda: 6,
                 b: cpu.tensor(b, [60]), bOffset: 3, ldb: 7, beta: 0, c: expected, cOffset: 21, ldc: 10)
        #expect(relativeError(try cl.download(c), cpu.download(expected).map(Double.init)) < 1e-6)
    }

    @Test func elementwiseAndSGDMatchCPU() throws {
        var rng = TestRandom(3)
        let n = 1000 + 33
        let a = rng.array(n), b = rng.array(n), m0 = rng.array(n)
        let (ca, cb, out) = (try tensor(a), try tensor(b), try cl.makeTensor([n]))
        let (pa, pb, pout) = (cpu.tensor(a, [n]), cpu.tensor(b, [n]), cpu.makeTensor([n]))
        try cl.add(ca, cb, into: out); cpu.add(pa, pb, into: pout)
        #expect(try cl.download(out) == cpu.download(pout))
        try cl.accumulate(ca, into: out); cpu.accumulate(pa, into: pout)
        #expect(try cl.download(out) == cpu.download(pout))
        try cl.reluForward(ca, output: out); cpu.reluForward(pa, output: pout)
        #expect(try cl.download(out) == cpu.download(pout))
        try cl.reluBackward(output: out, gradOutput: cb, gradInput: cb); cpu.reluBackward(output: pout, gradOutput: pb, gradInput: pb)
        #expect(try cl.download(cb) == cpu.download(pb))
        try cl.copy(ca, to: out); cpu.copy(pa, to: pout)
        #expect(try cl.download(out) == a)
        try cl.fill(out, with: -2)
        #expect(try cl.download(out).allSatisfy { $0 == -2 })
        for nesterov in [false, true] {
            let h = SGDHyperparameters(learningRate: 0.1, momentum: 0.9, nesterov: nesterov, weightDecay: 5e-4)
            let (w, g, mom) = (try tensor(a), try tensor(b), try tensor(m0))
            let (pw, pg, pm) = (cpu.tensor(a, [n]), cpu.tensor(b, [n]), cpu.tensor(m0, [n]))
            try cl.sgdStep(parameter: w, gradient: g, momentum: mom, hyper: h)
            cpu.sgdStep(parameter: pw, gradient: pg, momentum: pm, hyper: h)
            #expect(relativeError(try cl.download(w), cpu.download(pw).map(Double.init)) < 1e-6)
            #expect(relativeError(try cl.download(mom), cpu.download(pm).map(Double.init)) < 1e-6)
        }
    }

    @Test func buildErrorsCarryTheLogAndName() throws {
        let bad = (name: "bad.cl", text: Array("__kernel void k(__global float* x) { x[0] = undefined_name; }".utf8))
        do {
            _ = try cl.cl.kernel("k", source: bad)
            Issue.record("a broken kernel built")
        } catch let e as OpenCLError {
            #expect(e.code == -11 && e.name == "CL_BUILD_PROGRAM_FAILURE")
            #expect(e.log?.contains("undefined_name") == true)
        }
    }
}
