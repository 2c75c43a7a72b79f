// libFuzzer target: the safetensors reader (scripts/fuzz.sh builds it with Sources/Metrics).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: data, count: size))
    guard let file = try? SafeTensorsReader(bytes: bytes, path: "fuzz.safetensors") else { return 0 }
    var covered = 0
    for e in file.entries {
        covered += e.byteRange.count
        require(e.byteRange.count == e.count * e.dtype.size, "\(e.name): bytes against shape")
        require(e.shape.reduce(1, *) == e.count, "\(e.name): shape product")
        switch e.dtype {
        case .float32: require((try? file.floats(e.name))?.count == e.count, "\(e.name): floats")
        case .int32: require((try? file.int32s(e.name))?.count == e.count, "\(e.name): int32s")
        }
    }
    require(8 + covered <= bytes.count, "tensors cover more than the file")
    return 0
}
