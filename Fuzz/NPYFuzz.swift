// libFuzzer target: the NPY reader (scripts/fuzz.sh builds it with Sources/Trainer/Data).
// Mode (byte 0) % 4: 0 an image array, 1 a label array, 2 the header parser alone,
// 3 a directory of the four NPY files (payload split by FuzzInput.parts) with --classes from the mode.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    switch input.mode % 4 {
    case 0:
        if let r = try? NPY.readImages(FuzzFiles.write(input.payload, "images.npy")) {
            require(r.count > 0 && [1, 3].contains(r.channels) && r.height > 0 && r.width > 0, "image shape")
            require(r.pixels.count == r.count * r.channels * r.height * r.width, "pixel count")
        }
    case 1:
        if let labels = try? NPY.readLabels(FuzzFiles.write(input.payload, "labels.npy")) {
            require(!labels.isEmpty, "empty labels accepted")
        }
    case 2:
        if let (header, offset) = try? NPYHeader.parse(input.payload, path: "header.npy") {
            require(offset <= input.payload.count && header.shape.allSatisfy { $0 >= 0 }, "header offset or shape")
        }
    default:
        for (name, bytes) in zip(NPY.splitFiles, input.parts(4)) { FuzzFiles.write(bytes, "npy/" + name) }
        let classes = classesOption(input.mode)
        if let split = try? DataSource.load(FuzzFiles.directory + "/npy", classes: classes) {
            checkSplit(split, classes: classes)
        }
    }
    return 0
}
