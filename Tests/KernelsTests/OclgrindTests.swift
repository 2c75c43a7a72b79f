import Foundation
import Testing
import TestSupport
@testable import Kernels

/// Every OpenCL kernel under Oclgrind (Debian `oclgrind`), an OpenCL device simulator that
/// checks each work-item's memory accesses and reports data races in local and global
/// memory: the ways a GPU breaks kernels that PoCL, which runs a group's work-items one
/// after another, hides. This test runs the test binary again (`--filter`) with Oclgrind as
/// the only OpenCL platform; the child runs each op family's OpenCL-vs-CPU check on tiny
/// shapes under several tuning classes (``tunings``), with norm chunks of one and several
/// examples, and checks that every kernel ran. Any error Oclgrind reports
/// (its log) or any failed check fails the test.
@Suite struct OclgrindTests {
    /// Oclgrind's ICD library (the `oclgrind` package).
    static let library = "/usr/lib/oclgrind/liboclgrind-rt-icd.so"
    static var installed: Bool { FileManager.default.fileExists(atPath: library) }
    /// Set in the child: it runs on the simulator's device.
    static var inChild: Bool { ProcessInfo.processInfo.environment["SIEVE_OCLGRIND_CHILD"] == "1" }

    @Test(.enabled(if: installed && !inChild, "needs Debian's oclgrind"), .timeLimit(.minutes(5)))
    func everyKernelRunsCleanUnderTheSimulator() throws {
        let dir = NSTemporaryDirectory() + "sieve-oclgrind-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/vendors", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try (Self.library + "\n").write(toFile: dir + "/vendors/oclgrind.icd", atomically: true, encoding: .utf8)
        let log = dir + "/oclgrind.log"
        let started = Date()
        let child = try Subprocess.run("/proc/self/exe", ["--testing-library", "swift-testing", "--filter", "kernelFamiliesOnTheSimulator"],
                                       environment: ["SIEVE_OCLGRIND_CHILD": "1", "OCL_ICD_VENDORS": dir + "/vendors",
                                                     "OCLGRIND_DATA_RACES": "1", "OCLGRIND_CHECK_API": "1", "OCLGRIND_LOG": log])
        let seconds = Date().timeIntervalSince(started)
        // Oclgrind writes what it finds to the process's stderr (and to OCLGRIND_LOG where honoured).
        let found = Self.reports(in: child.stderr + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
        #expect(child.status == 0, "the checks under the simulator failed:\n\(child.stdout.suffix(6000))\n\(child.stderr.suffix(3000))")
        let output = child.stdout + child.stderr   // Swift Testing reports on either, by version
        #expect(output.contains("kernelFamiliesOnTheSimulator") && output.contains("tuning class \(Self.tunings.count - 1)"),
                "the child ran no check:\n\(output.suffix(3000))")
        #expect(found.isEmpty, "Oclgrind reported \(found.count) problem(s):\n\(found.prefix(5).joined(separator: "\n---\n"))")
        print("oclgrind: every kernel family checked in \(Int(seconds)) s:\n"
              + output.split(separator: "\n").filter { $0.hasPrefix("tuning class") }.joined(separator: "\n"))
    }

    /// The problems Oclgrind reports in `text`: each message from its first line (data
    /// races, invalid or out-of-bounds accesses, barrier divergence, API errors) to the
    /// next blank line.
    static func reports(in text: String) -> [String] {
        let starts = ["data race", "Invalid read", "Invalid write", "out-of-bounds", "divergence", "Oclgrind -", "Uninitialized"]
        var found: [String] = [], current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if starts.contains(where: { line.contains($0) }) {
                if let c = current { found.append(c.joined(separator: "\n")) }
                current = [line]
            } else if current != nil {
                if line.trimmingCharacters(in: .whitespaces).isEmpty && current!.count > 1 {
                    found.append(current!.joined(separator: "\n")); current = nil
                } else { current!.append(line) }
            }
        }
        if let c = current { found.append(c.joined(separator: "\n")) }
        return found
    }

    @Test func reportsAreFoundInOclgrindsOutput() {
        let text = "note\nRead-write data race at local memory address 0x1\n\tKernel: gemm\n\t\n\tFirst entity: x\n\n"
            + "Invalid read of size 4 at global memory address 0x2\n\tKernel: add\n\nall fine\n"
        let found = Self.reports(in: text)
        #expect(found.count == 2 && found[0].contains("gemm") && found[1].contains("Kernel: add"), "\(found)")
        #expect(Self.reports(in: "Test run with 1 test passed\n").isEmpty)
    }

    /// Tuning classes, small enough to simulate (Oclgrind runs about 10^5 multiply-adds a
    /// second with race detection, and every launch computes whole tiles): square and
    /// rectangular work-group tiles, register tiles 2x2 to 4x4, TSK 4/8/16, a group whose
    /// size divides no tile load (6 x 8 items), reductions of 32, 64 and 128 items; then
    /// the built-in GPU default (64 x 64 tiles, 8 x 8 per item, reductions of 256) on a
    /// few shapes.
    static let tunings = [
        (OpenCLTuning(tileM: 16, tileN: 16, tileK: 8, workM: 2, workN: 2, reduction: 64), full: true),
        (OpenCLTuning(tileM: 16, tileN: 32, tileK: 4, workM: 2, workN: 4, reduction: 32), full: true),
        (OpenCLTuning(tileM: 24, tileN: 16, tileK: 16, workM: 4, workN: 2, reduction: 128), full: true),
        (OpenCLTuning(tileM: 64, tileN: 64, tileK: 16, workM: 8, workN: 8, reduction: 256), full: false),
    ]

    /// Edge tiles (odd planes), one-pixel planes, stride 2 with padding 0 and 1, 1x1, a 7x7
    /// stem, and channel counts past one small tile.
    static let geometries = [
        Conv2DGeometry(batch: 3, inChannels: 3, height: 7, width: 5, outChannels: 4, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 3, height: 1, width: 1, outChannels: 2, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 5, height: 6, width: 5, outChannels: 6, kernel: 3, stride: 2, padding: 0),
        Conv2DGeometry(batch: 2, inChannels: 4, height: 5, width: 5, outChannels: 3, kernel: 1, stride: 2, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 3, height: 9, width: 7, outChannels: 5, kernel: 7, stride: 2, padding: 3),
        Conv2DGeometry(batch: 2, inChannels: 3, height: 4, width: 4, outChannels: 34, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 5, height: 3, width: 3, outChannels: 3, kernel: 3, stride: 1, padding: 1),
    ]

    @Test(.enabled(if: inChild, "runs only in the child of everyKernelRunsCleanUnderTheSimulator"))
    func kernelFamiliesOnTheSimulator() throws {
        for (index, (tuning, full)) in Self.tunings.enumerated() {
            let started = Date()
            let cl = try OpenCLDevice(profiling: true, tuning: { _ in (tuning, "tuning class \(index)") })
            #expect(cl.cl.info.platform.contains("Oclgrind"), "\(cl.name) is not the simulator's device")
            let ops = OpenCLTests(device: cl), norms = OpenCLBatchedNormTests(device: cl)
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                ops.gemm(ta, tb, shapes: full ? [(1, 1, 1), (7, 13, 5), (33, 17, 21)] : [(7, 13, 5)])
            }
            ops.elementwiseAndSGD()
            ops.batchNorm(3, 2, 5)
            ops.poolingFlattenAndGlobalPool(2, 3, 8, 8, 2, 2)
            ops.paddedMaxPooling(1, 2, 7, 5, 3, 2, 1)   // the border: windows half outside the plane
            ops.linearAndLoss(7, 3, 5)
            if full {
                ops.batchNorm(5, 3, 70)   // rows longer than a reduction group
                ops.poolingFlattenAndGlobalPool(3, 1, 7, 5, 3, 2)
                ops.linearAndLoss(20, 10, 9)
            }
            for g in full ? Self.geometries : [Self.geometries[0]] {
                ops.convolution(g)
                norms.batchedNormsMatchPerExampleReference(g)   // both methods, one chunk and chunks of 3
            }
            cl.synchronize()
            try cl.checkFailure()
            let ran = Set(cl.profile?.entries.filter { $0.launches > 0 }.map(\.kernel) ?? [])
            let missing = Kernel.allCases.map(\.name).filter { !ran.contains($0) }
            #expect(missing.isEmpty, "kernels never launched under tuning class \(index): \(missing)")
            print("tuning class \(index) (\(tuning)): \(ran.count) kernels in \(Int(Date().timeIntervalSince(started))) s")
        }
    }
}
