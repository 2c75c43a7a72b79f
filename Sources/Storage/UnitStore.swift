#if canImport(Glibc)
import Glibc
#endif

/// One named array of a unit's result, stored bit for bit.
public enum UnitArray: Sendable, Equatable {
    case float64([Double])
    case float32([Float])
    case uint8([UInt8])
}

/// A folder of finished experiment units: one safetensors file per unit (`NAME.safetensors`,
/// its float64 and uint8 arrays, written atomically through ``OutputFile``) and
/// `job.json`, every setting that changes the results. A run that stops early
/// leaves its finished units here, and `--resume` loads them instead of running them
/// again; a shard's output folder holds one under `units/`. Pure file I/O: what the
/// arrays mean is the caller's business.
public struct UnitStore: Sendable {
    /// The folder holding `job.json` and the unit files.
    public let folder: String
    public static let suffix = ".safetensors"
    /// Names ending in this hold a unit's unfinished training (its last checkpoint), not a result.
    public static let trainingSuffix = ".training"

    public init(folder: String) { self.folder = folder }

    /// Whether the folder exists.
    public var exists: Bool {
        var info = stat()
        return stat(folder, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Sieve's mark of a unit folder (see ``RunMark``).
    public static let markName = ".sieve-units"

    /// Creates the folder (and its parents) when missing, with its mark.
    public func create() throws {
        try RunDirectory.makeFolders(folder, option: "unit folder")
        var info = stat()
        if lstat(folder + "/" + UnitStore.markName, &info) != 0 {
            try OutputFile.write("sieve units\n", to: folder + "/" + UnitStore.markName)
        }
    }

    /// Whether Sieve writes a file of this name into a unit folder: its mark, `job.json`
    /// (`settings.json` in earlier versions),
    /// unit files and training states (`*.safetensors`), the example stream
    /// (`examples.npy`), and unfinished writes of those (`NAME.partial-PID`).
    static func isUnitFolderFile(_ name: String) -> Bool {
        func written(_ n: String) -> Bool {
            n == markName || n == jobName || n == "settings.json" || n == "examples.npy" || (n.hasSuffix(suffix) && !n.hasPrefix("."))
        }
        return written(name) || isUnfinishedWrite(name, of: written)
    }

    /// The first entry of the folder that Sieve did not write there (a folder, a link, a
    /// file of another name), or of a folder without Sieve's mark or settings, the first
    /// entry; nil when the folder is missing or may be removed whole.
    public func foreignEntry() -> String? {
        guard let names = RunDirectory.entries(of: folder)?.sorted(), !names.isEmpty else { return nil }
        var info = stat()
        let marked = lstat(folder + "/" + UnitStore.markName, &info) == 0
            || (try? JSONReader.read(path: folder + "/settings.json"))?["score_command"] != nil   // a unit folder of an earlier version
            || names.allSatisfy { isUnfinishedWrite($0) { $0 == UnitStore.markName } }   // killed while writing its mark
        guard marked else { return names[0] }
        return names.first { name in
            guard lstat(folder + "/" + name, &info) == 0 else { return false }
            return (info.st_mode & S_IFMT) != S_IFREG || !UnitStore.isUnitFolderFile(name)
        }
    }

    /// Refuses (naming it) a folder at this path that holds anything Sieve did not write.
    public func checkRemovable(option: String) throws {
        guard let entry = foreignEntry() else { return }
        throw StorageError.invalidInput("\(option): \(folder) is where Sieve keeps the finished units of a run, but "
                                        + "\(folder)/\(entry) is not a unit file; nothing was deleted: move it (or the folder) "
                                        + "away, or choose another \(option)")
    }

    /// Removes the files Sieve writes here (``isUnitFolderFile(_:)``), the mark last, then
    /// the folder when that empties it: anything else in it stays, and so does the folder.
    /// A process killed during the removal leaves a marked folder (which the next run
    /// removes or resumes), never unit files without the mark (which it would refuse).
    public func remove() {
        guard foreignEntry() == nil else { return }
        for name in UnitStore.removalOrder((RunDirectory.entries(of: folder) ?? []).filter(UnitStore.isUnitFolderFile)) {
            var info = stat()
            if lstat(folder + "/" + name, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG { unlink(folder + "/" + name) }
        }
        rmdir(folder)
    }

    /// The order ``remove()`` unlinks a unit folder's files in: the mark last.
    static func removalOrder(_ names: [String]) -> [String] {
        names.filter { $0 != markName } + names.filter { $0 == markName }
    }

    /// Removes one unit's file (nothing when there is none).
    public func discard(_ unit: String) { unlink(path(of: unit)) }

    /// The job the units belong to (`job.json`: every setting that changes the results).
    public var jobPath: String { folder + "/" + UnitStore.jobName }
    public static let jobName = "job.json"

    /// Writes `job.json` atomically.
    public func writeJob(_ job: JSON) throws {
        try OutputFile.write(job.rendered + "\n", to: jobPath)
    }

    /// The stored job, or nil when there is no `job.json`.
    public func job() throws -> JSON? {
        var info = stat()
        guard stat(jobPath, &info) == 0 else { return nil }
        return try JSONReader.read(path: jobPath)
    }

    func path(of unit: String) -> String { folder + "/" + unit + UnitStore.suffix }

    /// Writes one unit's arrays (in this order) atomically.
    public func save(_ unit: String, _ arrays: [(String, UnitArray)]) throws {
        var writer = SafeTensorsWriter()
        for (name, array) in arrays {
            switch array {
            case .float64(let v): writer.add(name, v, shape: [v.count])
            case .float32(let v): writer.add(name, v, shape: [v.count])
            case .uint8(let v): writer.add(name, v, shape: [v.count])
            }
        }
        try writer.write(to: path(of: unit))
    }

    /// One unit's arrays by name, or nil when the unit has no file.
    public func load(_ unit: String) throws -> [String: UnitArray]? {
        let p = path(of: unit)
        var info = stat()
        guard stat(p, &info) == 0 else { return nil }
        let file = try SafeTensorsReader(path: p)
        var arrays: [String: UnitArray] = [:]
        for e in file.entries {
            switch e.dtype {
            case .float64: arrays[e.name] = .float64(try file.doubles(e.name))
            case .float32: arrays[e.name] = .float32(try file.floats(e.name))
            case .uint8: arrays[e.name] = .uint8(try file.uint8s(e.name))
            default: throw StorageError.invalidInput("\(p): tensor \(JSON.quote(e.name)) is \(e.dtype.rawValue); unit files hold F64, F32 and U8")
            }
        }
        return arrays
    }

    /// The names of the units with a file, sorted.
    public var units: [String] {
        (RunDirectory.entries(of: folder) ?? []).filter { $0.hasSuffix(UnitStore.suffix) && !$0.hasPrefix(".") }
            .map { String($0.dropLast(UnitStore.suffix.count)) }
            .filter { !$0.hasSuffix(UnitStore.trainingSuffix) }.sorted()
    }

    /// Whether the folder holds a finished unit or a training's state (work a `--resume` would keep).
    public var holdsWork: Bool {
        (RunDirectory.entries(of: folder) ?? []).contains { $0.hasSuffix(UnitStore.suffix) && !$0.hasPrefix(".") && !$0.contains(".partial-") }
    }

    /// The first key (in `expected`'s order, then `found`'s) whose value differs between two
    /// settings objects, with each side's value as text ("(absent)" when missing); nil
    /// when they agree.
    public static func firstDifference(_ expected: JSON, _ found: JSON)
        -> (key: String, expected: String, found: String)? {
        let a = expected.object ?? [], b = found.object ?? []
        func lookup(_ fields: [(key: String, value: JSON)], _ key: String) -> JSON? { fields.first { $0.key == key }?.value }
        for (key, value) in a {
            let other = lookup(b, key)
            if other != value { return (key, text(value), other.map(text) ?? "(absent)") }
        }
        for (key, value) in b where lookup(a, key) == nil { return (key, "(absent)", text(value)) }
        return nil
    }

    /// Compact text of a JSON value for messages (strings unquoted at the top level).
    public static func text(_ value: JSON) -> String { value.string ?? value.rendered }
}

extension Dictionary where Key == String, Value == UnitArray {
    /// The float64 array `name` (of `count` values when given); throws naming `file`.
    public func doubles(_ name: String, count: Int? = nil, in file: String) throws -> [Double] {
        guard case .float64(let v)? = self[name], count.map({ v.count == $0 }) ?? true else {
            throw StorageError.invalidInput("\(file): no float64 array \(name)" + (count.map { " of \($0) values" } ?? "")
                                            + "; remove the file to run that unit again")
        }
        return v
    }

    /// The one-value float64 array `name`; throws naming `file`.
    public func number(_ name: String, in file: String) throws -> Double { try doubles(name, count: 1, in: file)[0] }

    /// The float64 array `name` (of `count` values when given) read as example indices
    /// below `bound`; throws naming `file` when a value is not one.
    public func indices(_ name: String, count: Int? = nil, below bound: Int, in file: String) throws -> [Int32] {
        let v = try doubles(name, count: count, in: file)
        guard v.allSatisfy({ $0 >= 0 && $0 < Double(bound) && $0 == $0.rounded() }) else {
            throw StorageError.invalidInput("\(file): \(name) holds values that are not example indices below \(bound)")
        }
        return v.map { Int32($0) }
    }

    /// The float32 array `name` of `count` values; throws naming `file`.
    public func floats(_ name: String, count: Int, in file: String) throws -> [Float] {
        guard case .float32(let v)? = self[name], v.count == count else {
            throw StorageError.invalidInput("\(file): no float32 array \(name) of \(count) values; remove the file to run that unit again")
        }
        return v
    }

    /// The uint8 array `name` of `count` values; throws naming `file`.
    public func bytes(_ name: String, count: Int, in file: String) throws -> [UInt8] {
        guard case .uint8(let v)? = self[name], v.count == count else {
            throw StorageError.invalidInput("\(file): no uint8 array \(name) of \(count) values; remove the file to run that unit again")
        }
        return v
    }
}
