// libFuzzer target: the index-list reader of `--subset` and `flipped.txt` (scripts/fuzz.sh
// builds it with Sources/Metrics). Half the inputs go through the file path, half in memory.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIndexList(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let list = input.mode & 1 == 0
        ? try? Pruning.parseIndexList(input.payload, path: "keep.txt")
        : try? Pruning.readIndexList(FuzzFiles.write(input.payload, "keep.txt"))
    guard let list else { return 0 }
    require(list.allSatisfy { $0 >= 0 } && Set(list).count == list.count, "negative or repeated index accepted")
    return 0
}
