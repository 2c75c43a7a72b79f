import Testing
@testable import Metrics
@testable import Storage
@testable import Jobs

#if canImport(Glibc)
import Glibc
#endif

func temporaryDirectory() -> String {
    var template = Array("/tmp/sieve-metrics-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}

/// Little-endian 32-bit word at `offset`.
func word(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    var v: UInt32 = 0
    for k in 0..<4 { v |= UInt32(bytes[offset + k]) << (8 * UInt32(k)) }
    return v
}

func readAll(_ path: String) -> [UInt8] {
    guard let f = fopen(path, "rb") else { return [] }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return out
}

struct WriterTests {
    @Test func npyHeaderIsAlignedAndDescribesTheArray() {
        let h = NPYFormat.header(descr: "'<f4'", shape: [3, 4])
        #expect(h.count % 64 == 0)
        #expect(Array(h[0..<8]) == [0x93] + Array("NUMPY".utf8) + [1, 0])
        #expect(Int(h[8]) | Int(h[9]) << 8 == h.count - 10)
        let text = String(decoding: h[10...], as: UTF8.self)
        #expect(text.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"))
        #expect(text.hasSuffix("\n"))
        #expect(String(decoding: NPYFormat.header(descr: "'<f4'", shape: [5])[10...], as: UTF8.self).contains("(5,)"))
    }

    @Test func floatArrayRoundTrip() throws {
        let dir = temporaryDirectory()
        let values: [Float] = [1, -2.5, 3e-8, .greatestFiniteMagnitude]
        try NPYFormat.write(values, shape: [2, 2], to: dir + "/a.npy")
        let bytes = readAll(dir + "/a.npy")
        let back = (0..<4).map { Float(bitPattern: word(bytes, bytes.count - 16 + 4 * $0)) }
        #expect(back == values)
        #expect(access(dir + "/a.npy.partial", F_OK) != 0)
    }

    @Test func exampleStreamRecordsAreWrittenPackedWithTheirCount() throws {
        let dir = temporaryDirectory()
        let w = try ExampleStatsNPYWriter(path: dir + "/s.npy")
        let records = (0..<5).map { (i: Int) -> ExampleStats in
            let f = Float(i)
            return ExampleStats(index: Int32(i * 10), epoch: 1, step: Int32(7 + i), loss: f * 0.5, correct: i % 2 == 0,
                                margin: -f, probability: 0.25, el2n: 1.5)
        }
        try records.withUnsafeBufferPointer { try w.consume(UnsafeBufferPointer(rebasing: $0[0..<2])) }
        // Nothing is visible under the final name before finish().
        #expect(access(dir + "/s.npy", F_OK) != 0)
        try records.withUnsafeBufferPointer { try w.consume(UnsafeBufferPointer(rebasing: $0[2..<5])) }
        try w.finish()
        let bytes = readAll(dir + "/s.npy")
        #expect(bytes.count == 256 + 5 * ExampleStatsNPYWriter.recordSize)
        let header = String(decoding: bytes[10..<256], as: UTF8.self)
        #expect(header.contains("'shape': (5,)"))
        #expect(header.contains("('correct', '|u1')"))
        func i32(_ o: Int) -> Int32 { Int32(bitPattern: word(bytes, o)) }
        for (k, r) in records.enumerated() {
            let o = 256 + k * 29
            #expect(i32(o) == r.index && i32(o + 4) == r.epoch && i32(o + 8) == r.step)
            #expect(Float(bitPattern: UInt32(bitPattern: i32(o + 12))) == r.loss)
            #expect(Float(bitPattern: UInt32(bitPattern: i32(o + 16))) == r.margin)
            #expect(Float(bitPattern: UInt32(bitPattern: i32(o + 20))) == r.probability)
            #expect(Float(bitPattern: UInt32(bitPattern: i32(o + 24))) == r.el2n)
            #expect(bytes[o + 28] == (r.correct ? 1 : 0))
        }
    }

    @Test func unwritableDirectoryIsAnError() {
        #expect(throws: StorageError.self) { try OutputFile.write("x", to: "/nonexistent-dir/out.csv") }
    }

    @Test func abandonedFileLeavesNothingBehind() throws {
        let dir = temporaryDirectory()
        do {
            let f = try OutputFile(path: dir + "/x.csv")
            try f.write("partial")
        }
        #expect(access(dir + "/x.csv", F_OK) != 0)
        #expect(access(dir + "/x.csv.partial", F_OK) != 0)
    }

    /// A link to a regular file stays a link (its target is replaced); the paths of this
    /// process's own standard output and error are written through the stream, never
    /// renamed over (`/dev/stdout` once became a regular file that way).
    @Test func linksAndStandardStreamsAreNeverRenamedOver() throws {
        let dir = temporaryDirectory()
        try OutputFile.write("old", to: dir + "/target.json")
        #expect(symlink(dir + "/target.json", dir + "/link.json") == 0)
        try OutputFile.write("new", to: dir + "/link.json")
        var info = stat()
        #expect(lstat(dir + "/link.json", &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK)
        #expect(String(decoding: readAll(dir + "/target.json"), as: UTF8.self) == "new")
        try OutputFile.checkWritable(dir + "/link.json", option: "--json")

        #expect(try OutputFile.destination(of: "-") == .stream(1))
        #expect(try OutputFile.destination(of: "/dev/stdout") == .stream(1))
        #expect(try OutputFile.destination(of: "/proc/self/fd/2") == .stream(2))
        #expect(try OutputFile.destination(of: "/dev/null") == .direct)
        #expect(try OutputFile.destination(of: dir + "/link.json") == .replace(dir + "/target.json"))
        #expect(try OutputFile.destination(of: dir + "/none.json") == .replace(dir + "/none.json"))
        #expect(throws: StorageError.self) { try OutputFile.destination(of: dir) }
    }
}

struct RunLockTests {
    static func writeLock(_ path: String, _ text: String) { try? OutputFile.write(text, to: path) }

    /// A lock names its writer's pid and host; a dead writer on this host is stale, a
    /// live one refuses, and one on another host (shared file system) cannot be checked:
    /// refused, naming the host and the file to remove.
    @Test func locksNameTheirHostAndOnlyLocalDeadWritersAreStale() throws {
        let dir = temporaryDirectory(), out = dir + "/run"
        let run = try RunDirectory(out, force: false)
        let text = String(decoding: readAll(out + ".lock"), as: UTF8.self)
        #expect(text == "\(getpid()) \(RunDirectory.hostName)\n")
        run.abandon()

        // A pid that does not run here (pid_max is below 2^22 on Linux): stale, taken over.
        Self.writeLock(out + ".lock", "4194304 \(RunDirectory.hostName)\n")
        try RunDirectory(out, force: false).abandon()
        Self.writeLock(out + ".lock", "4194304\n")   // the older pid-only form
        try RunDirectory(out, force: false).abandon()

        // pid 1 runs on every machine: a live writer here.
        Self.writeLock(out + ".lock", "1 \(RunDirectory.hostName)\n")
        #expect { try RunDirectory(out, force: false) } throws: { "\($0)".contains("pid 1,") }
        Self.writeLock(out + ".lock", "4194304 other-node-17\n")
        #expect { try RunDirectory(out, force: false) } throws: {
            "\($0)".contains("pid 4194304 on other-node-17") && "\($0)".contains("remove \(out).lock")
        }
        // A run whose lock another run took over (judged stale) leaves the new owner's lock alone.
        unlink(out + ".lock")
        let taken = try RunDirectory(out, force: false)
        Self.writeLock(out + ".lock", "1 \(RunDirectory.hostName)\n")
        taken.abandon()
        #expect(String(decoding: readAll(out + ".lock"), as: UTF8.self) == "1 \(RunDirectory.hostName)\n")
        unlink(out + ".lock")

        // (A lock of this very Slurm job is stale: HardeningTests.requeuedSlurmJobTakesItsOwnLock.)
        Self.writeLock(out + ".lock", "4194304 other-node-17 slurm:999999999_3\n")
        #expect(throws: StorageError.self) { try RunDirectory(out, force: false) }
        unlink(out + ".lock")
    }
}

struct SafeTensorsTests {
    @Test func headerAndDataFollowTheFormat() throws {
        let dir = temporaryDirectory()
        var w = SafeTensorsWriter()
        w.add("a.weight", [1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        w.add("labels", [7, -1] as [Int32], shape: [2])
        try w.write(to: dir + "/t.safetensors")
        let bytes = readAll(dir + "/t.safetensors")
        let n = Int(word(bytes, 0)) | Int(word(bytes, 4)) << 32
        #expect(n % 8 == 0 && bytes.count == 8 + n + 24 + 8)
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        #expect(header.contains("\"a.weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}"))
        #expect(header.contains("\"labels\": {\"dtype\": \"I32\", \"shape\": [2], \"data_offsets\": [24, 32]}"))
        #expect(Float(bitPattern: word(bytes, 8 + n + 20)) == 6)
        #expect(Int32(bitPattern: word(bytes, 8 + n + 28)) == -1)
    }
}

@Test func unitStoreRoundTripsBitForBit() throws {
    let folder = temporaryDirectory() + "/units"
    let store = UnitStore(folder: folder)
    try store.create()
    let weird: [Double] = [0, -0.0, .infinity, -.infinity, Double(bitPattern: 0x7ff8_0000_dead_beef), .leastNonzeroMagnitude, 1.0 / 3]
    try store.save("7", [("a", .float64(weird)), ("c", .uint8([0, 1, 255]))])
    try store.writeJob(.object([("lr", .double(0.1)), ("units", .array([.string("7")]))]))
    #expect(store.units == ["7"])
    let back = try #require(try store.load("7"))
    guard case .float64(let a)? = back["a"] else { Issue.record("no a"); return }
    #expect(a.map(\.bitPattern) == weird.map(\.bitPattern))
    #expect(back["c"] == .uint8([0, 1, 255]))
    #expect(try store.load("8") == nil)
    let settings = try #require(try store.job())
    #expect(UnitStore.firstDifference(settings, settings) == nil)
    let other = try JSONReader.parse("{\"lr\": 0.2, \"units\": [\"7\"]}")
    #expect(UnitStore.firstDifference(settings, other)?.key == "lr")
    store.remove()
    #expect(!store.exists)
}

@Suite struct ScoreTableTests {
    @Test func scoreTableWritesCSVNPYAndMeta() throws {
        let dir = temporaryDirectory()
        var t = ScoreTable(givenLabels: [1, 0, 2], originalLabels: [1, 1, 2])
        t.add(Score(name: "aum", values: [0.5, -1, .infinity], direction: .lowerIsSuspicious, note: "margin"))
        t.add(Score(name: "el2n", values: [0.1, 0.9, 0.2], direction: .higherIsSuspicious, note: "error"))
        try t.write(to: dir, meta: [("model", .string("cnn"))])
        let csv = String(decoding: readAll(dir + "/scores.csv"), as: UTF8.self)
        #expect(csv == "index,label,original_label,aum,el2n\n0,1,1,0.5,0.1\n1,0,1,-1.0,0.9\n2,2,2,inf,0.2\n")
        let npy = readAll(dir + "/aum.npy")
        #expect(npy.count == 128 + 24)
        #expect(String(decoding: npy[10..<128], as: UTF8.self).contains("'descr': '<f8'"))
        let meta = String(decoding: readAll(dir + "/meta.json"), as: UTF8.self)
        #expect(meta.contains("\"model\": \"cnn\""))
        #expect(meta.contains("\"aum\": {\"direction\": \"lower\""))
        #expect(meta.contains("\"examples\": 3"))
    }
}
