import Foundation
import Testing
@testable import Kernels
import Storage
import Metrics
@testable import Trainer

/// The OpenCL tuning database: its built-in entries parse, lookups take the most
/// specific entry, user files override, and a bad entry is refused naming the file,
/// the entry and the field.
struct TuningDatabaseTests {
    static func info(vendor: String = "Acme", type: DeviceKind = .gpu, name: String = "Rocket 9", driver: String = "1.2") -> OpenCLDeviceInfo {
        var i = OpenCLDeviceInfo(platform: "p", name: name, type: type, globalMemoryBytes: 1 << 30, computeUnits: 8, version: "OpenCL 3.0")
        i.vendor = vendor; i.driver = driver; i.maxWorkGroupSize = 1024; i.localMemoryBytes = 65536
        return i
    }

    static func document(_ entries: String) -> String { "{\"format\": \"sieve-opencl-tuning-1\", \"entries\": [\(entries)]}" }

    static func entry(vendor: String = "*", type: String = "*", device: String = "*", driver: String = "*",
                      tsm: Int = 32, reduction: Int = 128) -> String {
        "{\"vendor\": \"\(vendor)\", \"type\": \"\(type)\", \"device\": \"\(device)\", \"driver\": \"\(driver)\", "
            + "\"gemm\": {\"TSM\": \(tsm), \"TSN\": 32, \"TSK\": 8, \"WPTM\": 4, \"WPTN\": 4}, \"reduction\": \(reduction), \"note\": \"n\"}"
    }

    /// The database holds measured entries only: a device none matches gets the type's
    /// defaults, which live in one place (`OpenCLTuning.forDevice`), and are valid.
    @Test func devicesWithoutAnEntryGetTheTypeDefaults() throws {
        let db = try TuningDatabase.load(userFile: nil)
        for type in [DeviceKind.gpu, .cpu] {
            #expect(db.lookup(Self.info(vendor: "Nobody", type: type)) == nil)
            #expect(OpenCLTuning.forDevice(Self.info(type: type)).problem(on: Self.info(type: type)) == nil)
        }
        #expect(db.entries.allSatisfy { $0.vendor != "*" && $0.device != "*" }, "a wildcard entry would repeat the type defaults")
    }

    @Test func theMostSpecificEntryWinsAndTheUserFileFirst() throws {
        let path = NSTemporaryDirectory() + "sieve-tuning-\(UUID().uuidString)/sub/t.json"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let text = Self.document([Self.entry(vendor: "Acme", tsm: 128), Self.entry(vendor: "Acme", device: "Rocket 9", tsm: 64),
                                  Self.entry(vendor: "Other", device: "Rocket 9", tsm: 16)].joined(separator: ","))
        try TuningDatabase.makeFolder(of: path)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let db = try TuningDatabase.load(userFile: path)
        #expect(db.lookup(Self.info())?.tuning.tileM == 64)                      // vendor + device
        #expect(db.lookup(Self.info(name: "Rocket 8"))?.tuning.tileM == 128)      // vendor only
        #expect(db.lookup(Self.info(vendor: "Nobody")) == nil)   // the type defaults
        // save replaces the entry of the same key and keeps the others.
        let replacement = TuningDatabase.Entry(vendor: "Acme", type: "*", device: "Rocket 9", driver: "*",
                                               tuning: OpenCLTuning(tileM: 32, tileN: 32, tileK: 16, workM: 4, workN: 4, reduction: 64),
                                               note: "tuned", file: path)
        try TuningDatabase.save(replacement, to: path)
        let again = try TuningDatabase.load(userFile: path)
        #expect(again.lookup(Self.info())?.tuning.tileK == 16 && again.lookup(Self.info())?.note == "tuned")
        #expect(again.entries.filter { $0.file == path }.count == 3)
    }

    @Test func badEntriesAreRefusedWithTheirPlace() throws {
        let cases: [(String, String)] = [
            ("{\"format\": \"other\", \"entries\": []}", "\"format\" must be"),
            (Self.document(Self.entry(tsm: 30)), "WPTM = 4 does not divide TSM = 30"),
            (Self.document(Self.entry(reduction: 100)), "reduction = 100 is not a power of two"),
            (Self.document(Self.entry(type: "fpga")), "\"type\" is \"fpga\""),
            (Self.document(Self.entry() + "," + Self.entry(vendor: "")), "entry 2: \"vendor\" must be a non-empty string"),
            (Self.document("{\"vendor\": \"*\", \"type\": \"*\", \"device\": \"*\", \"driver\": \"*\", \"reduction\": 64}"), "\"TSM\" must be an integer"),
        ]
        for (text, message) in cases {
            do {
                _ = try TuningDatabase.parse(JSONReader.parse(text), file: "t.json")
                Issue.record("accepted: \(text)")
            } catch let e as StorageError {
                #expect("\(e)".contains(message) && "\(e)".contains("t.json"), "\(e)")
            }
        }
        // Device limits: a work-group larger than the device's is named.
        var small = Self.info()
        small.maxWorkGroupSize = 64
        #expect(OpenCLTuning(tileM: 128, tileN: 128, tileK: 16, workM: 4, workN: 4, reduction: 64).problem(on: small)?
            .contains("exceeds the device's 64") == true)
    }
}
