import Testing
@testable import Metrics
@testable import Storage
@testable import Jobs

#if canImport(Glibc)
import Glibc
#endif

// Issue 13: every reader of the Metrics module rejects a defective file with one line
// naming the file (and the line or byte), never a crash or a silently wrong value.

private func hardeningDirectory() -> String {
    var template = Array("/tmp/sieve-harden-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}

private func writeBytes(_ bytes: [UInt8], _ path: String) {
    let f = fopen(path, "wb")!
    _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
    fclose(f)
}

/// The message of the `StorageError.invalidInput` that `body` throws, or nil.
private func rejection(_ body: () throws -> Void) -> String? {
    do { try body() } catch StorageError.invalidInput(let message) { return message } catch { return "unexpected \(error)" }
    return nil
}

/// Parses `text` as a scores.csv named `s.csv` and returns the error message, or nil.
private func csvRejection(_ text: String) -> String? {
    rejection { _ = try ScoreFile(bytes: Array(text.utf8), path: "s.csv") }
}

private func jsonError(_ text: String) -> JSONError? {
    jsonError(Array(text.utf8))
}

private func jsonError(_ bytes: [UInt8]) -> JSONError? {
    do { _ = try JSONReader.parse(bytes); return nil } catch let e as JSONError { return e } catch { return nil }
}

/// A safetensors file from a header text and data bytes (the header padded like the writer's).
private func safetensors(_ header: String, _ data: [UInt8]) -> [UInt8] {
    var h = Array(header.utf8)
    while h.count % 8 != 0 { h.append(0x20) }
    return (0..<8).map { UInt8(truncatingIfNeeded: UInt64(h.count) >> (8 * UInt64($0))) } + h + data
}

private func safetensorsRejection(_ bytes: [UInt8]) -> String? {
    rejection { _ = try SafeTensorsReader(bytes: bytes, path: "m.safetensors") }
}

@Suite struct MetricsReaderHardeningTests {
    // MARK: scores.csv

    @Test func scoreTableRoundTripsThroughScoreFile() throws {
        let dir = hardeningDirectory()
        var table = ScoreTable(givenLabels: [3, 0, 1], originalLabels: [3, 2, 1])
        table.add(Score(.el2n, values: [0.25, 1e-300, 12345.678], note: "n"))
        table.add(Score(.aum, values: [-.infinity, .nan, .infinity], note: "n"))
        try table.write(to: dir, meta: [("command", .string("test"))])
        let file = try ScoreFile(path: dir + "/scores.csv", expectedRows: 3)
        #expect(file.names == ["index", "label", "original_label", "el2n", "aum"])
        #expect(file.count == 3)
        #expect(try file.values("label") == [3, 0, 1])
        #expect(try file.values("original_label") == [3, 2, 1])
        #expect(try file.values("el2n") == [0.25, 1e-300, 12345.678])
        let aum = try file.values("aum")
        #expect(aum[0] == -.infinity && aum[1].isNaN && aum[2] == .infinity)
        #expect(try ScoreFile.examples(inMetaFile: dir + "/meta.json") == 3)
        // The row count is checked against meta.json's examples.
        let short = rejection { _ = try ScoreFile(path: dir + "/scores.csv", expectedRows: 4) }
        #expect(short?.contains(dir + "/scores.csv") == true && short?.contains("3 rows") == true)
        #expect(rejection { try file.checkRowCount(2) } != nil)
        for name in ["scores.csv", "el2n.npy", "aum.npy", "meta.json"] { unlink(dir + "/" + name) }
        rmdir(dir)
    }

    @Test func scoreFileAcceptsWhatPandasWrites() throws {
        // pandas' to_csv(index=False): empty field for NaN, True/False, inf spelled any way;
        // Windows line ends; a UTF-8 byte order mark from spreadsheet tools.
        let text = "\u{FEFF}index,label,flag,score\r\n0,1,True,inf\r\n1,0,False,\r\n2,2,TRUE,-Inf\r\n3,1, false ,NaN\r\n"
            + "4,0,1,+INFINITY\r\n5,0,0,-1.5e-3\r\n6,1,0,.5\r\n7,1,0,5.\r\n"
        let file = try ScoreFile(bytes: Array(text.utf8), path: "p.csv")
        #expect(file.names == ["index", "label", "flag", "score"])
        #expect(try file.values("flag") == [1, 0, 1, 0, 1, 0, 0, 0])
        let score = try file.values("score")
        #expect(score[0] == .infinity && score[1].isNaN && score[2] == -.infinity && score[3].isNaN)
        #expect(score[4] == .infinity && score[5] == -0.0015 && score[6] == 0.5 && score[7] == 5)
        #expect(file.scoreNames == ["flag", "score"])
    }

    @Test func scoreFileDuplicateColumnsAreAnErrorNotACrash() {
        let message = csvRejection("index,label,el2n,el2n\n0,1,0.5,0.5\n")
        #expect(message?.hasPrefix("s.csv:1: ") == true)
        #expect(message?.contains("el2n") == true && message?.contains("twice") == true)
    }

    @Test func scoreFileNeedsIndexAndLabelColumns() {
        #expect(csvRejection("label,el2n\n0,0.5\n")?.contains("no index column") == true)
        #expect(csvRejection("index,el2n\n0,0.5\n")?.contains("no label column") == true)
        #expect(csvRejection(",index,label\n0,0,1\n")?.contains("index=False") == true)
        #expect(csvRejection("\"index\",label\n0,1\n")?.contains("quoted") == true)
    }

    @Test func scoreFileRowsMustMatchTheHeader() {
        #expect(csvRejection("index,label,el2n\n0,1,0.5\n1,1\n")?.hasPrefix("s.csv:3: 2 fields, the header has 3") == true)
        #expect(csvRejection("index,label,el2n\n0,1,0.5,7\n")?.hasPrefix("s.csv:2: 4 fields") == true)
        #expect(csvRejection("index,label,el2n\n0,1,0.5\n\n1,1,0.5\n")?.hasPrefix("s.csv:3: empty line") == true)
    }

    @Test func scoreFileFieldsMustBeNumbers() {
        for bad in ["abc", "0x1p3", "1.5e", "1e+", "--1", "1,5", "1.2.3", "nan(1)", "infinit", "truee", "+True", "1 2", "."] {
            let message = csvRejection("index,label,el2n\n0,1,0.5\n1,0,\(bad)\n")
            #expect(message?.hasPrefix("s.csv:3: ") == true, "\(bad): \(String(describing: message))")
        }
        #expect(csvRejection("index,label,el2n\n0,1,abc\n")?.contains("el2n = \"abc\" is not a number") == true)
        // A control byte in a field is shown as '?', so the message stays one line.
        #expect(csvRejection("index,label,el2n\n0,1,a\u{1}\rb\n")?.contains("\n") == false)
    }

    @Test func scoreFileTruncatedLastLineIsDetected() {
        // A number cut in the middle still parses ("0.12" from "0.1234"): the missing newline gives it away.
        let message = csvRejection("index,label,el2n\n0,1,0.5\n1,0,0.12")
        #expect(message?.hasPrefix("s.csv:3: ") == true && message?.contains("truncated") == true)
        #expect(csvRejection("index,label")?.contains("s.csv:1:") == true)
        #expect(csvRejection("")?.contains("empty file") == true)
        #expect(csvRejection("index,label\n")?.contains("no rows") == true)
    }

    @Test func scoreFileIndexAndLabelsAreChecked() {
        #expect(csvRejection("index,label\n0,1\n2,1\n")?.hasPrefix("s.csv:3: index 2 where 1 is expected") == true)
        #expect(csvRejection("index,label\n,1\n")?.hasPrefix("s.csv:2: index") == true)
        #expect(csvRejection("index,label\n0,1.5\n")?.contains("not a class index") == true)
        #expect(csvRejection("index,label\n0,-1\n")?.contains("not a class index") == true)
        #expect(csvRejection("index,label\n0,\n")?.contains("not a class index") == true)
        #expect(csvRejection("index,label,original_label\n0,1,inf\n")?.contains("original_label") == true)
    }

    @Test func scoreFileMissingFileOrDirectory() {
        let dir = hardeningDirectory()
        #expect(rejection { _ = try ScoreFile(path: dir + "/nope.csv") }?.contains(dir + "/nope.csv") == true)
        #expect(rejection { _ = try ScoreFile(path: dir) }?.contains("directory") == true)
        rmdir(dir)
    }

    // MARK: JSON

    @Test func jsonReadsWhatTheWriterWrites() throws {
        let written = JSON.object([
            ("command", .string("sieve score dynamics --out \"runs/a b\"\n\ttab \u{1} é 😀")),
            ("examples", .int(12000)), ("lr", .double(0.05)), ("tiny", .double(1e-05)), ("huge", .double(1e300)),
            ("nonfinite", .double(.nan)), ("quiet", .bool(false)), ("seeds", .array([.int(0), .int(-7), .int(Int.max)])),
            ("scores", .object([("aum", .object([("direction", .string("lower")), ("meaning", .string("m"))]))])),
            ("empty", .object([])), ("none", .array([])),
        ])
        let value = try JSONReader.parse(written.rendered + "\n")
        #expect(value["command"]?.string == "sieve score dynamics --out \"runs/a b\"\n\ttab \u{1} é 😀")
        #expect(value["examples"]?.int == 12000)
        #expect(value["lr"]?.double == 0.05 && value["tiny"]?.double == 1e-05 && value["huge"]?.double == 1e300)
        #expect(value["nonfinite"]?.isNull == true)
        #expect(value["quiet"]?.bool == false)
        #expect(value["seeds"]?[2]?.int == Int.max && value["seeds"]?[1]?.int == -7 && value["seeds"]?[3] == nil)
        #expect(value["scores"]?["aum"]?["direction"]?.string == "lower")
        #expect(value["empty"]?.object?.isEmpty == true && value["none"]?.array == [])
        #expect(value.object?.map(\.key) == ["command", "examples", "lr", "tiny", "huge", "nonfinite", "quiet", "seeds",
                                             "scores", "empty", "none"])
        #expect(value["missing"] == nil && value[0] == nil && value["examples"]?.string == nil)
    }

    @Test func jsonValidTexts() throws {
        #expect(try JSONReader.parse(" \t\r\n42 ") == .number(JSONNumber(text: "42", double: 42)))
        #expect(try JSONReader.parse("\"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\\\\\\"\"").string == "é😀/\u{8}\u{c}\n\r\t\\\"")
        #expect(try JSONReader.parse("[-0, 0.5, 1E+2, -1e-2, 18446744073709551615]").array?.map(\.double)
            == [0, 0.5, 100, -0.01, 18446744073709551615])
        #expect(try JSONReader.parse("18446744073709551615").number?.uint64 == .max)
        #expect(try JSONReader.parse("1.0").int == nil)
        #expect(try JSONReader.parse("[true,false,null]") == .array([.bool(true), .bool(false), .null]))
        #expect(try JSONReader.parse("\"\\u0000\"").string == "\u{0}")
        let nested = String(repeating: "[", count: JSONReader.maxDepth) + String(repeating: "]", count: JSONReader.maxDepth)
        #expect(try JSONReader.parse(nested).array?.count == 1)
    }

    @Test func jsonInvalidTextsNameTheByte() {
        let cases: [(String, Int)] = [
            ("", 0), ("   ", 3), ("{", 1), ("[1,]", 3), ("{\"a\":1,}", 7), ("{\"a\" 1}", 5), ("{a:1}", 1),
            ("01", 1), ("1.", 2), (".5", 0), ("-", 1), ("+1", 0), ("1e", 2), ("NaN", 0), ("Infinity", 0), ("-Infinity", 1),
            ("'a'", 0), ("\"\\x\"", 1), ("\"\\ud800\"", 1), ("\"\\ud800\\u0041\"", 1), ("\"\\udc00\"", 1), ("\"\\u12g4\"", 5),
            ("\"a\nb\"", 2), ("\"abc", 0), ("[] []", 3), ("// c\n1", 0), ("1e400", 0), ("-1e400", 0), ("tru", 0),
            ("nul", 0), ("[1 2]", 3), ("{\"a\":1,\"a\":2}", 7), ("\u{FEFF}{}", 0),
        ]
        for (text, offset) in cases {
            let error = jsonError(text)
            #expect(error?.offset == offset, "\(text.debugDescription): \(String(describing: error))")
            #expect(error?.description.contains("\n") == false)
        }
        #expect(jsonError([0x22, 0xff, 0x22])?.reason.contains("UTF-8") == true)
        #expect(jsonError([0x22, 0xed, 0xa0, 0x80, 0x22]) != nil)  // an encoded surrogate is not UTF-8
        #expect(jsonError("{\"a\":1,\"a\":2}")?.reason.contains("duplicate key \"a\"") == true)
        let deep = String(repeating: "[", count: JSONReader.maxDepth + 1) + String(repeating: "]", count: JSONReader.maxDepth + 1)
        #expect(jsonError(deep)?.offset == JSONReader.maxDepth)
        // Far deeper than any stack: rejected at the limit, not a stack overflow.
        #expect(jsonError(String(repeating: "[", count: 1_000_000)) != nil)
        #expect(jsonError(String(repeating: "{\"a\":", count: 100_000)) != nil)
    }

    @Test func jsonReadFileNamesPathAndByte() {
        let dir = hardeningDirectory()
        let path = dir + "/meta.json"
        writeBytes(Array("{\"examples\": 12,}".utf8), path)
        let message = rejection { _ = try JSONReader.read(path: path) }
        #expect(message?.hasPrefix(path + ": not valid JSON: byte 16: ") == true, "\(String(describing: message))")
        writeBytes(Array("{\"examples\": -1}\n".utf8), path)
        #expect(rejection { _ = try ScoreFile.examples(inMetaFile: path) }?.contains("examples") == true)
        writeBytes(Array("{\"examples\": 1.5}\n".utf8), path)
        #expect(rejection { _ = try ScoreFile.examples(inMetaFile: path) } != nil)
        unlink(path)
        #expect(rejection { _ = try JSONReader.read(path: path) }?.contains(path) == true)
        rmdir(dir)
    }

    // MARK: safetensors

    @Test func safetensorsRoundTrip() throws {
        let dir = hardeningDirectory()
        let path = dir + "/m.safetensors"
        let weights: [Float] = [1, -0.0, .infinity, 3.25e-39, .greatestFiniteMagnitude, -7.5]
        var writer = SafeTensorsWriter()
        writer.add("layer1.0.conv1.weight", weights, shape: [2, 3])
        writer.add("labels", [Int32](arrayLiteral: 4, -1, .max, .min), shape: [4])
        writer.add("scalar", [Float(0.5)], shape: [])
        writer.add("empty \"é\"", [Float](), shape: [0, 3])
        try writer.write(to: path)
        let file = try SafeTensorsReader(path: path)
        #expect(file.names == ["layer1.0.conv1.weight", "labels", "scalar", "empty \"é\""])
        #expect(try file.floats("layer1.0.conv1.weight").map(\.bitPattern) == weights.map(\.bitPattern))
        #expect(file.entry("layer1.0.conv1.weight")?.shape == [2, 3])
        #expect(file.entry("layer1.0.conv1.weight")?.dtype == .float32)
        #expect(try file.int32s("labels") == [4, -1, .max, .min])
        #expect(try file.floats("scalar") == [0.5] && file.entry("scalar")?.shape == [])
        #expect(try file.floats("empty \"é\"") == [] && file.entry("empty \"é\"")?.shape == [0, 3])
        #expect(file.metadata.isEmpty)
        #expect(rejection { _ = try file.int32s("scalar") }?.contains("is F32, not I32") == true)
        #expect(rejection { _ = try file.floats("nope") }?.contains("no tensor \"nope\"") == true)
        // Cut anywhere, the file is rejected.
        let whole = readAll(path)
        for cut in [0, 7, 8, 20, whole.count - 25, whole.count - 1] {
            #expect(safetensorsRejection(Array(whole.prefix(cut))) != nil, "cut at \(cut)")
        }
        #expect(safetensorsRejection(whole + [0]) != nil)
        unlink(path)
        rmdir(dir)
    }

    @Test func safetensorsMetadataAndForeignFiles() throws {
        let header = "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[4,8]},"
            + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
        let file = try SafeTensorsReader(bytes: safetensors(header, [0, 0, 0x80, 0x3f, 9, 0, 0, 0]), path: "x")
        #expect(file.metadata == ["format": "pt"])
        #expect(try file.floats("a") == [1] && file.int32s("b") == [9])
    }

    @Test func safetensorsCorruptHeadersAreRejected() throws {
        let four: [UInt8] = [0, 0, 0x80, 0x3f]
        func entry(_ body: String) -> String { "{\"t\":{\(body)}}" }
        let cases: [(String, [UInt8], String)] = [
            ("[]", [], "does not start with '{'"),
            ("{\"t\":1}", [], "not an object"),
            ("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", four, "header at byte"),
            (entry("\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]"), four, "F16"),
            (entry("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), four, "not a size"),
            (entry("\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]"), four, "not a size"),
            (entry("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), four, "needs 8"),
            (entry("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]"), four, "outside"),
            (entry("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]"), four, "outside"),
            (entry("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]"), four, "data_offsets"),
            (entry("\"dtype\":\"F32\",\"shape\":[1]"), four, "data_offsets"),
            (entry("\"shape\":[1],\"data_offsets\":[0,4]"), four, "dtype"),
            (entry("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), four, "shape"),
            (entry("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1"), four, "unknown key"),
            (entry("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"), four + four, "cover 4 bytes of data but 8"),
            (entry("\"dtype\":\"F32\",\"shape\":[9223372036854775807,9223372036854775807],\"data_offsets\":[0,4]"), four, "larger"),
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", four + four, "belong to no tensor"),
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],"
                + "\"data_offsets\":[4,8]}}", four + four, "overlaps"),
            ("{\"__metadata__\":{\"a\":1}}", [], "not a string"),
            ("{\"__metadata__\":[]}", [], "__metadata__ is not an object"),
        ]
        for (header, data, expected) in cases {
            let message = safetensorsRejection(safetensors(header, data))
            #expect(message?.hasPrefix("m.safetensors: ") == true && message?.contains(expected) == true,
                    "\(header): \(String(describing: message))")
        }
        // Header lengths beyond the file, or huge.
        #expect(safetensorsRejection([255, 255, 255, 255, 255, 255, 255, 255, 0x7b, 0x7d])?.contains("exceeds") == true)
        #expect(safetensorsRejection([2, 0, 0, 0, 0, 0, 0, 0, 0x7b]) != nil)
        #expect(safetensorsRejection([0, 0, 0, 0, 0, 0, 0, 0]) != nil)
        #expect(safetensorsRejection([1, 2, 3]) != nil)
        // An empty header object and no data is a valid (empty) file.
        #expect(safetensorsRejection(safetensors("{}", [])) == nil)
    }

    // MARK: index lists

    @Test func indexListMessagesStayOneLine() throws {
        let message = rejection { _ = try IndexList.parse(Array("1\n2\u{1}\r3\n".utf8), path: "k.txt") }
        #expect(message?.hasPrefix("k.txt:2: ") == true && message?.contains("\r") == false)
        #expect(try IndexList.parse(Array("\n\n7".utf8), path: "k") == [7])
        let long = rejection { _ = try IndexList.parse(Array((String(repeating: "9", count: 100) + "\n").utf8), path: "k") }
        #expect(long?.contains("...") == true)
    }
}

/// Files a user edited and saved on Windows or from a spreadsheet end their lines in
/// "\r\n": the readers of the audit's tables read them as the audit wrote them (a
/// label_issues.csv read as one line gave `sieve clean` no flagged examples at all).
@Suite struct WindowsLineEndingTests {
    @Test func labelIssuesAndNearDuplicatesReadTheSameWithCRLF() throws {
        let lf = hardeningDirectory(), crlf = hardeningDirectory()
        let issues = RunFolder.labelIssuesHeader + "\n7,1,2,0.9,0.8,1\n3,0,4,0.5,0.4,0\n"
        let pairs = RunFolder.nearDuplicatesHeader + "\n0,5,0.01,1,2,1,1\n5,0,0.01,2,1,1,1\n"
        for (dir, newline) in [(lf, "\n"), (crlf, "\r\n")] {
            writeBytes(Array(issues.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: newline).utf8), dir + "/" + RunFolder.labelIssuesFile)
            writeBytes(Array(pairs.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: newline).utf8), dir + "/" + RunFolder.nearDuplicatesFile)
        }
        let read = try RunFolder.readLabelIssues(crlf)
        #expect(read == [RunFolder.LabelIssue(index: 7, given: 1, suggested: 2, sure: true),
                         RunFolder.LabelIssue(index: 3, given: 0, suggested: 4, sure: false)])
        #expect(read == (try RunFolder.readLabelIssues(lf)))
        #expect(try RunFolder.readNearDuplicates(crlf) == (try RunFolder.readNearDuplicates(lf)))
        #expect(try RunFolder.readNearDuplicates(crlf).count == 2)
        #expect(InputFile.lines(Array("a\r\nb\n\nc".utf8)) == ["a", "b", "", "c"])
    }
}
