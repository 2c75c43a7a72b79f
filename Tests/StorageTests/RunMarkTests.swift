import Foundation
import Testing
@testable import Storage

/// `--force` and every removal delete only what Sieve can prove it wrote (``RunMark``):
/// folders without the mark, files the mark does not list, hidden files, links, stale
/// staging folders and locks that are not Sieve's, unit folders holding other files.
@Suite struct RunMarkTests {
    static func write(_ path: String, _ text: String = "x\n") {
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// A committed run of `files` at `out`.
    static func committedRun(_ out: String, force: Bool = false, files: [String] = ["scores.csv", "meta.json"]) throws {
        let run = try RunDirectory(out, force: force)
        for f in files { try OutputFile.write("sieve\n", to: run.path(f)) }
        try run.commit()
    }

    static func expectRefused(_ out: String, naming entry: String, _ comment: Comment? = nil) {
        #expect(throws: StorageError.self, comment) { try RunDirectory(out, force: true) }
        do { _ = try RunDirectory(out, force: true) } catch {
            #expect("\(error)".contains(entry) && "\(error)".contains("nothing was deleted"), "\(error)")
        }
    }

    @Test func aFolderSieveDidNotWriteIsNeverReplaced() throws {
        let dir = temporaryDirectory(), home = dir + "/home"
        try FileManager.default.createDirectory(atPath: home + "/docs", withIntermediateDirectories: true)
        Self.write(home + "/notes.txt")
        Self.write(home + "/docs/thesis.tex")
        Self.expectRefused(home, naming: "home/docs/thesis.tex")
        #expect(Self.exists(home + "/notes.txt") && Self.exists(home + "/docs/thesis.tex"))

        // Only hidden files; one file of Sieve's name among others; an empty folder inside.
        for (name, contents) in [("hidden", [".bashrc"]), ("mixed", ["meta.json", "scores.csv", "notes.txt"]), ("nested", ["a/"])] {
            let folder = dir + "/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for c in contents {
                if c.hasSuffix("/") { try FileManager.default.createDirectory(atPath: folder + "/" + c, withIntermediateDirectories: true) }
                else { Self.write(folder + "/" + c) }
            }
            Self.expectRefused(folder, naming: folder + "/" + contents[0].replacingOccurrences(of: "/", with: ""), "\(name)")
            for c in contents { #expect(Self.exists(folder + "/" + c), "\(name)/\(c)") }
        }
        // Nothing was left beside them either.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["hidden", "home", "mixed", "nested"])
    }

    @Test func aRunIsReplacedWholeButNotWithAnythingAddedToIt() throws {
        let dir = temporaryDirectory(), out = dir + "/run"
        try Self.committedRun(out, files: ["scores.csv", "old.npy"])
        let mark = try String(contentsOfFile: out + "/" + RunMark.fileName, encoding: .utf8)
        #expect(mark.hasPrefix("sieve run ") && mark.contains("\nold.npy\n") && mark.contains("\nscores.csv\n"))

        // A file, a hidden file, a link and a folder added by the user: each refused, each kept.
        for added in ["notes.txt", ".hidden", "link", "extra/"] {
            let path = out + "/" + added
            switch added {
            case "link": try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/etc")
            case "extra/": try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            default: Self.write(path)
            }
            Self.expectRefused(out, naming: "run/" + added.replacingOccurrences(of: "/", with: ""), "\(added)")
            #expect(Self.exists(path) && Self.exists(out + "/old.npy"))
            try FileManager.default.removeItem(atPath: path)
        }
        // A write of a listed file killed half way counts as the run's.
        Self.write(out + "/scores.csv.partial-4194304")
        try Self.committedRun(out, force: true, files: ["scores.csv"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == [RunMark.fileName, "scores.csv"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["run"])

        // A file added while the run was going is found again at commit: refused, nothing replaced.
        let run = try RunDirectory(out, force: true)
        Self.write(out + "/late.txt")
        #expect(throws: StorageError.self) { try run.commit() }
        #expect(Self.exists(out + "/late.txt") && Self.exists(out + "/scores.csv"))
        run.abandon()
    }

    /// A run never replaces its own input: `sieve clean --audit A --out A --force` read the
    /// audit and then deleted it at commit.
    @Test func aRunFolderThatIsOrHoldsAnInputIsRefused() throws {
        let dir = temporaryDirectory(), out = dir + "/run"
        try Self.committedRun(out)
        for (input, phrase) in [(out, "is --audit"), (out + "/./", "is --audit"), (dir + "/run/../run/scores.csv", "is the folder of --audit")] {
            do {
                _ = try RunDirectory(out, force: true, reads: [(option: "--audit", path: input)])
                Issue.record("\(input): not refused")
            } catch {
                #expect("\(error)".contains(phrase) && "\(error)".contains("which this run reads"), "\(error)")
            }
            #expect(Self.exists(out + "/scores.csv"))
        }
        // An input beside the folder, or one that does not exist, is no obstacle.
        try Self.committedRun(dir + "/audit")
        let run = try RunDirectory(out, force: true, reads: [(option: "--audit", path: dir + "/audit"), (option: "--data", path: "fashion-mnist")])
        run.abandon()
    }

    @Test func aSymbolicLinkToARunIsRefused() throws {
        let dir = temporaryDirectory()
        try Self.committedRun(dir + "/run")
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/run")
        #expect(throws: StorageError.self) { try RunDirectory(dir + "/link", force: true) }
        #expect(Self.exists(dir + "/run/scores.csv"))
    }

    @Test func stagingFoldersLocksAndUnitFoldersOfTheUserAreKept() throws {
        let dir = temporaryDirectory(), out = dir + "/run"
        // A folder named like a killed run's staging folder but without the run's mark.
        try FileManager.default.createDirectory(atPath: out + ".partial-4194304", withIntermediateDirectories: true)
        Self.write(out + ".partial-4194304/mine.txt")
        // A killed run's real staging folder (with the mark) is removed.
        let killed = out + ".partial-4194303"
        try FileManager.default.createDirectory(atPath: killed, withIntermediateDirectories: true)
        try RunMark.write(in: killed, runID: "dead", entries: [])
        Self.write(killed + "/scores.csv")
        try RunDirectory(out, force: false).abandon()
        #expect(Self.exists(out + ".partial-4194304/mine.txt"))
        #expect(!Self.exists(killed))

        // A file named like the lock that is not a lock: refused, kept.
        Self.write(out + ".lock", "my shopping list\nmilk\n")
        #expect { try RunDirectory(out, force: true) } throws: { "\($0)".contains("not a Sieve lock") }
        #expect(Self.exists(out + ".lock"))
        unlink(out + ".lock")
        Self.write(out + ".lock", "")   // a writer killed while writing its lock: stale
        try RunDirectory(out, force: false).abandon()

        // A folder in the way of the old run's parking place is not removed.
        try Self.committedRun(out)
        let parked = out + ".replaced-\(getpid())"
        try FileManager.default.createDirectory(atPath: parked, withIntermediateDirectories: true)
        Self.write(parked + "/keep.txt")
        try Self.committedRun(out, force: true)
        #expect(Self.exists(parked + "/keep.txt"))

        // A unit folder: only Sieve's files go, and only from a folder with Sieve's mark.
        let units = UnitStore(folder: dir + "/u.units")
        try units.create()
        try units.writeJob(.object([("command", .string("score grand"))]))
        try units.save("7", [("x", .float64([1, 2]))])
        Self.write(units.folder + "/7.safetensors.partial-4194304")
        #expect(units.foreignEntry() == nil)
        Self.write(units.folder + "/notes.txt")
        #expect(units.foreignEntry() == "notes.txt")
        #expect(throws: StorageError.self) { try units.checkRemovable(option: "--out") }
        units.remove()
        #expect(Self.exists(units.folder + "/notes.txt") && Self.exists(units.folder + "/7.safetensors"))
        unlink(units.folder + "/notes.txt")
        // the mark goes last: a process killed while removing leaves a folder Sieve recognises
        let order = UnitStore.removalOrder(RunDirectory.entries(of: units.folder)!.sorted())
        #expect(order.last == UnitStore.markName && order.count == 4, "\(order)")
        units.remove()
        #expect(!units.exists)

        let mine = UnitStore(folder: dir + "/mine.units")   // the user's own folder of that name: no mark
        try FileManager.default.createDirectory(atPath: mine.folder, withIntermediateDirectories: true)
        Self.write(mine.folder + "/weights.safetensors")
        #expect(mine.foreignEntry() == "weights.safetensors")
        mine.remove()
        #expect(Self.exists(mine.folder + "/weights.safetensors"))
    }

    @Test func singleOutputFilesAreReplacedOnlyWhenSieveWroteThem() throws {
        let dir = temporaryDirectory()
        Self.write(dir + "/notes.txt", "dear diary\n")
        Self.write(dir + "/keep.txt", "3\n17\n")
        Self.write(dir + "/report.html", "<!DOCTYPE html>\n<html><head>\(OutputFile.Kind.generatorTag)\"></head></html>\n")
        Self.write(dir + "/page.html", "<!DOCTYPE html>\n<html><head><title>mine</title></head></html>\n")
        Self.write(dir + "/empty.txt", "")
        #expect(throws: StorageError.self) { try OutputFile.checkWritable(dir + "/notes.txt", option: "--out", replacing: .indexList) }
        #expect(throws: StorageError.self) { try OutputFile.checkWritable(dir + "/page.html", option: "--output", replacing: .htmlReport) }
        try OutputFile.checkWritable(dir + "/keep.txt", option: "--out", replacing: .indexList)
        try OutputFile.checkWritable(dir + "/report.html", option: "--output", replacing: .htmlReport)
        try OutputFile.checkWritable(dir + "/empty.txt", option: "--out", replacing: .indexList)
        try OutputFile.checkWritable(dir + "/new.txt", option: "--out", replacing: .indexList)
        // A file a run folder lists is its run's, whatever its kind.
        try Self.committedRun(dir + "/clean", files: ["kept.txt"])
        #expect(throws: StorageError.self) { try OutputFile.checkWritable(dir + "/clean/kept.txt", option: "--out", replacing: .indexList) }
        try OutputFile.checkWritable(dir + "/clean/other.txt", option: "--out", replacing: .indexList)
        // --json: a summary Sieve wrote is replaced, any other file (JSON or not) is refused.
        try OutputFile.writeSummary(.object([("command", .string("train"))]), to: dir + "/summary.json")
        #expect(try String(contentsOfFile: dir + "/summary.json", encoding: .utf8) == "{\"generator\": \"Sieve\", \"command\": \"train\"}\n")
        try OutputFile.checkWritable(dir + "/summary.json", option: "--json", replacing: .jsonSummary)
        Self.write(dir + "/config.json", "{\"lr\": 0.1}\n")
        for other in ["notes.txt", "config.json", "keep.txt"] {
            #expect(throws: StorageError.self, "\(other)") { try OutputFile.checkWritable(dir + "/" + other, option: "--json", replacing: .jsonSummary) }
        }
    }
}
