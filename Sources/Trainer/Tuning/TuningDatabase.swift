import Kernels
import Metrics
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// OpenCL kernel tuning entries, keyed like CLBlast's database: vendor -> device type ->
/// device name -> driver, each key `*` for "any". The built-in entries are compiled in
/// (`Tuning/opencl-tuning.json`); a user file (`sieve tune` writes one; `SIEVE_TUNING`,
/// else `~/.config/sieve/opencl-tuning.json`) is searched first. The most specific entry
/// matching the device wins (more non-`*` keys; the user file on ties).
///
/// ```json
/// {"format": "sieve-opencl-tuning-1", "entries": [
///   {"vendor": "*", "type": "gpu", "device": "*", "driver": "*",
///    "gemm": {"TSM": 64, "TSN": 64, "TSK": 16, "WPTM": 8, "WPTN": 8}, "reduction": 256, "note": "..."}]}
/// ```
public struct TuningDatabase: Sendable {
    /// One entry: its key, constants, a note, and the file it came from.
    public struct Entry: Sendable, Equatable {
        public var vendor: String, type: String, device: String, driver: String
        public var tuning: OpenCLTuning
        public var note: String
        public var file: String

        public init(vendor: String, type: String, device: String, driver: String, tuning: OpenCLTuning, note: String, file: String) {
            self.vendor = vendor; self.type = type; self.device = device; self.driver = driver
            self.tuning = tuning; self.note = note; self.file = file
        }

        /// How many keys name the device exactly (nil when a key does not match).
        func specificity(for info: OpenCLDeviceInfo) -> Int? {
            var score = 0
            for (key, value) in [(vendor, info.vendor), (type, info.type.rawValue), (device, info.name), (driver, info.driver)] {
                if key == "*" { continue }
                guard key == value else { return nil }
                score += 1
            }
            return score
        }

        var json: JSON {
            .object([("vendor", .string(vendor)), ("type", .string(type)), ("device", .string(device)), ("driver", .string(driver)),
                     ("gemm", .object([("TSM", .int(tuning.tileM)), ("TSN", .int(tuning.tileN)), ("TSK", .int(tuning.tileK)),
                                       ("WPTM", .int(tuning.workM)), ("WPTN", .int(tuning.workN))])),
                     ("reduction", .int(tuning.reduction)), ("note", .string(note))])
        }
    }

    public static let format = "sieve-opencl-tuning-1"

    /// User entries first, then the built-in ones.
    public var entries: [Entry]

    /// The built-in entries and, when present, the user file's.
    /// - Throws: `StorageError.invalidInput` naming the file and the entry at fault.
    public static func load(userFile: String? = TuningDatabase.userFilePath) throws -> TuningDatabase {
        var entries: [Entry] = []
        if let userFile, access(userFile, F_OK) == 0 {
            do {
                entries += try parse(JSONReader.read(path: userFile), file: userFile)
            } catch let e as StorageError {
                throw StorageError.invalidInput("the OpenCL tuning file (SIEVE_TUNING, else ~/.config/sieve/opencl-tuning.json) "
                    + "is unusable: \(e); fix it, or remove it to use the built-in entries")
            }
        }
        entries += try parse(JSONReader.parse(PackageResources.opencl_tuning_json), file: "built-in opencl-tuning.json")
        return TuningDatabase(entries: entries)
    }

    /// `SIEVE_TUNING`, else `~/.config/sieve/opencl-tuning.json` (nil without a home).
    public static var userFilePath: String? {
        if let p = getenv("SIEVE_TUNING"), p.pointee != 0 { return String(cString: p) }
        guard let home = getenv("HOME"), home.pointee != 0 else { return nil }
        return String(cString: home) + "/.config/sieve/opencl-tuning.json"
    }

    /// The entry for `info`: the most specific match (user entries win ties).
    public func lookup(_ info: OpenCLDeviceInfo) -> Entry? {
        var best: (Entry, Int)?
        for e in entries {
            guard let s = e.specificity(for: info) else { continue }
            if best == nil || s > best!.1 { best = (e, s) }
        }
        return best?.0
    }

    /// The lookup ``OpenCLDevice`` takes.
    public var lookupFunction: TuningLookup {
        { info in self.lookup(info).map { ($0.tuning, "\($0.file): \($0.note.isEmpty ? "entry for \($0.device)" : $0.note)") } }
    }

    /// Parses a database document; every defect names `file` and the entry.
    public static func parse(_ document: JSON, file: String) throws -> [Entry] {
        guard document["format"]?.string == format else {
            throw StorageError.invalidInput("\(file): \"format\" must be \"\(format)\"")
        }
        guard let list = document["entries"]?.array else {
            throw StorageError.invalidInput("\(file): no \"entries\" array")
        }
        return try list.enumerated().map { k, e in
            let at = "\(file): entry \(k + 1)"
            func key(_ name: String) throws -> String {
                guard let v = e[name]?.string, !v.isEmpty else {
                    throw StorageError.invalidInput("\(at): \"\(name)\" must be a non-empty string (\"*\" for any)")
                }
                return v
            }
            func int(_ object: JSON?, _ name: String) throws -> Int {
                guard let v = object?[name]?.int else { throw StorageError.invalidInput("\(at): \"\(name)\" must be an integer") }
                return v
            }
            let type = try key("type")
            guard type == "*" || DeviceKind(rawValue: type) != nil else {
                throw StorageError.invalidInput("\(at): \"type\" is \"\(type)\"; use gpu, cpu, accelerator or *")
            }
            let gemm = e["gemm"]
            let tuning = OpenCLTuning(tileM: try int(gemm, "TSM"), tileN: try int(gemm, "TSN"), tileK: try int(gemm, "TSK"),
                                      workM: try int(gemm, "WPTM"), workN: try int(gemm, "WPTN"), reduction: try int(e, "reduction"))
            if let problem = tuning.problem(on: nil) { throw StorageError.invalidInput("\(at): \(problem)") }
            return Entry(vendor: try key("vendor"), type: type, device: try key("device"), driver: try key("driver"),
                         tuning: tuning, note: e["note"]?.string ?? "", file: file)
        }
    }

    /// Writes `entry` into the user file at `path` (creating it and its folder), replacing
    /// an entry with the same key; other entries stay.
    public static func save(_ entry: Entry, to path: String) throws {
        var kept: [Entry] = []
        if access(path, F_OK) == 0 { kept = try parse(JSONReader.read(path: path), file: path) }
        kept.removeAll { ($0.vendor, $0.type, $0.device, $0.driver) == (entry.vendor, entry.type, entry.device, entry.driver) }
        kept.insert(entry, at: 0)
        try makeFolder(of: path)
        let text = "{\"format\": \"\(format)\", \"entries\": [\n  " + kept.map(\.json.rendered).joined(separator: ",\n  ") + "\n]}\n"
        try OutputFile.write(text, to: path)
    }

    /// Creates the folders leading to the file `path` (like `mkdir -p`).
    public static func makeFolder(of path: String) throws {
        let folder = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        guard !folder.isEmpty else { return }
        var current = folder.hasPrefix("/") ? "" : "."
        for part in folder.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw StorageError.invalidInput("cannot create \(current): \(String(cString: strerror(errno)))")
            }
        }
    }
}
