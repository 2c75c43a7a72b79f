import Testing
@testable import Kernels

/// An OpenCL device that refuses an allocation or a launch never stops the program: the
/// first failure is kept and thrown by `checkFailure()`, later ops do nothing, downloads
/// read NaN (PoCL: an allocation above `CL_DEVICE_MAX_MEM_ALLOC_SIZE` fails at once).
@Suite(.enabled(if: !Devices.openCL().devices.isEmpty, "needs an OpenCL platform (Debian: pocl-opencl-icd)"))
struct OpenCLFailureTests {
    @Test func anAllocationTheDeviceRefusesIsAnErrorNotACrash() throws {
        let cl = try OpenCLDevice()
        try cl.checkFailure()
        let before = cl.cl.memoryUse.bytes
        let ok = cl.makeTensor([8])
        cl.upload([Float](repeating: 2, count: 8), to: ok)
        #expect(cl.download(ok) == [Float](repeating: 2, count: 8))

        // More than the device allocates at once (and than it has): refused, kept, thrown.
        let capacity = cl.memoryCapacity
        let huge = max(capacity.largestAllocationBytes, capacity.totalBytes) / 4 * 2 + (1 << 20)
        let failed = cl.makeTensor([huge])
        #expect(throws: OpenCLFailure.self) { try cl.checkFailure() }
        let failure = try #require(cl.failure)
        #expect(failure.isOutOfMemory, "\(failure)")
        let text = "\(failure)"
        #expect(text.contains(cl.name) && text.contains("--batch") && text.contains("--device cpu") && text.contains("GiB"), "\(text)")
        #expect(!text.contains("\n"), "one line: \(text)")
        print("refused as: \(text)")

        // Every later op does nothing (no crash, on the failed tensor too); downloads read NaN.
        cl.fill(failed, with: 1)
        cl.add(ok, ok, into: ok)
        cl.gemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 2, alpha: 1, a: ok, aOffset: 0, lda: 2,
                b: ok, bOffset: 0, ldb: 2, beta: 0, c: ok, cOffset: 4, ldc: 2)
        cl.synchronize()
        #expect(cl.download(ok).allSatisfy { $0.isNaN })
        let later = cl.makeTensor([4])
        #expect(cl.download(later).allSatisfy { $0.isNaN })
        #expect(throws: OpenCLFailure.self) { try cl.checkFailure() }   // a failed device stays failed
        #expect(cl.cl.memoryUse.bytes == before + 32)   // only `ok` holds device memory
    }

    /// The memory estimate a model is checked with, against the device's capacity.
    @Test func capacityNamesWhatDoesNotFit() {
        let c = MemoryCapacity(totalBytes: 100 << 20, largestAllocationBytes: 25 << 20, reservedBytes: 5 << 20, owner: "the device X")
        #expect(c.problem(planned: 90 << 20, largestTensor: 10 << 20) == nil)
        #expect(c.problem(planned: 96 << 20, largestTensor: 10 << 20)?.contains("101.0 MiB of memory, more than the 100.0 MiB of the device X") == true)
        #expect(c.problem(planned: 50 << 20, largestTensor: 30 << 20)?.contains("allocates at once") == true)
        #expect(MemoryCapacity(totalBytes: 0, largestAllocationBytes: 0, owner: "?").problem(planned: 1 << 40, largestTensor: 1 << 40) == nil)
    }
}
