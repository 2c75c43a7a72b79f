#if canImport(Glibc)
import Glibc
#endif

/// Sieve's mark of a folder it wrote, and the rule every replacement and removal follows:
/// **Sieve deletes only what it can prove it wrote.**
///
/// - A run folder (``RunDirectory``) holds `.sieve-run`: the line `sieve run RUN_ID`, then
///   one line per file and folder the run put there (paths relative to the folder,
///   folders ending in `/`), written when the run commits. `--force` replaces a folder
///   only when it is empty or its mark lists every entry it holds (``foreignEntry(in:)``):
///   a file the user added, a hidden file, a symbolic link, or a folder without a mark
///   is foreign, and the run is refused naming it.
/// - A unit folder (`OUT.units/`, ``UnitStore``) holds `.sieve-units`; only unit files,
///   `job.json`, the example stream and their unfinished `.partial-PID` writes are
///   ever removed from it (``UnitStore/foreignEntry()``).
/// - A staging folder (`OUT.partial-PID`) holds the run's mark from its first moment, so
///   a killed run's staging folder is recognised before it is removed.
/// - A lock (`OUT.lock`) is taken over only when it reads as Sieve's lock (`PID HOST [JOB]`).
///
/// Nothing here follows a symbolic link: entries are examined with `lstat`.
public enum RunMark {
    /// The mark's file name in a run folder.
    public static let fileName = ".sieve-run"
    static let header = "sieve run "

    /// The mark's text: the header with `runID`, then `entries` one a line.
    static func text(runID: String, entries: [String]) -> String {
        ([header + runID] + entries).map { $0 + "\n" }.joined()
    }

    /// The entries a folder's mark lists, or nil when the folder has no mark (or one that
    /// is not Sieve's: not a regular file, another first line).
    public static func listedEntries(in folder: String) -> Set<String>? {
        let path = folder + "/" + fileName
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size < 16 << 20,
              let text = try? readText(path, expecting: "a Sieve run mark") else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard let first = lines.first, first.hasPrefix(header) else { return nil }
        return Set(lines.dropFirst())
    }

    /// Every entry under `folder`, depth first in name order, relative to it (folders end
    /// in `/`), without the mark; nil when the folder cannot be read. Links are entries,
    /// never followed.
    static func walk(_ folder: String, prefix: String = "") -> [(path: String, kind: mode_t)]? {
        guard let names = RunDirectory.entries(of: folder + (prefix.isEmpty ? "" : "/" + prefix.dropLast())) else { return nil }
        var result: [(String, mode_t)] = []
        for name in names.sorted() where !(prefix.isEmpty && name == fileName) {
            let relative = prefix + name
            var info = stat()
            guard lstat(folder + "/" + relative, &info) == 0 else { continue }
            let kind = info.st_mode & S_IFMT
            if kind == S_IFDIR {
                result.append((relative + "/", kind))
                guard let inner = walk(folder, prefix: relative + "/") else { return nil }
                result += inner
            } else {
                result.append((relative, kind))
            }
        }
        return result
    }

    /// The entries of a staging folder as its mark lists them at commit.
    static func entries(of staging: String) -> [String] {
        (walk(staging) ?? []).map(\.path)
    }

    static func readText(_ path: String, expecting: String) throws -> String {
        String(decoding: try InputFile.read(path, expecting: expecting), as: UTF8.self)
    }

    /// Writes the mark of `folder` (atomically).
    static func write(in folder: String, runID: String, entries: [String]) throws {
        try OutputFile.write(text(runID: runID, entries: entries), to: folder + "/" + fileName)
    }

    /// Adds `entry` to the mark of the run folder `folder`, when it has one (a file a later
    /// command writes into a finished run, as `sieve report` writes `report.html`).
    public static func record(_ entry: String, in folder: String) throws {
        guard var listed = listedEntries(in: folder), !listed.contains(entry),
              let firstLine = (try? readText(folder + "/" + fileName, expecting: "a Sieve run mark"))?.split(separator: "\n").first else { return }
        listed.insert(entry)
        try OutputFile.write(([String(firstLine)] + listed.sorted()).map { $0 + "\n" }.joined(), to: folder + "/" + fileName)
    }

    /// The first entry of `folder` that no Sieve run wrote there, with why; nil when the
    /// folder may be replaced whole (it is empty, or its mark lists everything in it).
    /// An unfinished write of a listed file (`NAME.partial-PID`, a command killed while
    /// writing into the run) counts as the run's.
    public static func foreignEntry(in folder: String) -> (path: String, why: String)? {
        guard let all = walk(folder) else { return (folder, "it cannot be read") }
        guard !all.isEmpty else { return nil }
        guard let listed = listedEntries(in: folder) else {
            let first = all.first { $0.kind != S_IFDIR } ?? all[0]
            return (first.path, "the folder has no \(fileName) mark, so no Sieve run wrote it")
        }
        for (path, kind) in all {
            if kind == S_IFLNK { return (path, "it is a symbolic link, which no Sieve run writes") }
            guard kind == S_IFREG || kind == S_IFDIR else { return (path, "it is not a plain file or folder") }
            if listed.contains(path) || isUnfinishedWrite(path, of: listed.contains) { continue }
            return (path, "the run's \(fileName) mark does not list it")
        }
        return nil
    }
}

/// Whether `name` is `BASE.partial-PID` (an unfinished write of `BASE`) for a `BASE` that `isBase` accepts.
func isUnfinishedWrite(_ name: String, of isBase: (String) -> Bool) -> Bool {
    let marker = ".partial-"
    guard let end = name.lastIndex(of: "-"), name[..<end].hasSuffix(".partial") else { return false }
    let pid = name[name.index(after: end)...]
    return !pid.isEmpty && pid.allSatisfy(\.isNumber) && isBase(String(name.dropLast(pid.count + marker.count)))
}
