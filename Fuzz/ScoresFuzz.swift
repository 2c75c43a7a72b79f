// libFuzzer target: the scores.csv reader (scripts/fuzz.sh builds it with Sources/Metrics).
// Mode (byte 0) % 4: 0 no row count, else the row count must be 1, 2 or 3.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScores(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let expected = [nil, 1, 2, 3][Int(input.mode % 4)]
    guard let file = try? ScoreFile(bytes: input.payload, path: "scores.csv", expectedRows: expected) else { return 0 }
    require(file.count > 0 && (expected == nil || file.count == expected), "row count")
    // Every column is numeric but `path` (ImageFolder data), which is text in `paths`.
    require(Set(file.names).count == file.names.count, "repeated column names")
    require(file.names.contains("path") == (file.paths != nil) && file.columns["path"] == nil, "path column")
    require(file.names.count == file.columns.count + (file.paths == nil ? 0 : 1), "column names")
    require(file.paths.map { $0.count == file.count } ?? true, "ragged path column")
    require(file.columns.values.allSatisfy { $0.count == file.count }, "ragged columns")
    require(file.columns["index"] == (0..<file.count).map(Double.init), "index column")
    require(file.columns["label"].map { $0.allSatisfy { $0 >= 0 && $0 == $0.rounded() } } == true, "label column")
    require(input.payload.last == 0x0a, "a file without a final newline accepted")
    return 0
}
