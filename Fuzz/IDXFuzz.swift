// libFuzzer target: the IDX reader (scripts/fuzz.sh builds it with Sources/Trainer/Data).
// Mode (byte 0) % 3: 0 an images file, 1 a labels file, 2 a directory of the four files
// (payload split by FuzzInput.parts), loaded by DataSource with --classes from the mode.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    switch input.mode % 3 {
    case 0:
        if let r = try? IDX.readImages(FuzzFiles.write(input.payload, "images")) {
            require(r.count > 0 && r.rows > 0 && r.cols > 0 && r.pixels.count == r.count * r.rows * r.cols, "image sizes")
        }
    case 1:
        if let labels = try? IDX.readLabels(FuzzFiles.write(input.payload, "labels")) {
            require(!labels.isEmpty, "empty labels accepted")
        }
    default:
        let names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
        for (name, bytes) in zip(names, input.parts(4)) { FuzzFiles.write(bytes, "idx/" + name) }
        let classes = classesOption(input.mode)
        if let split = try? DataSource.load(FuzzFiles.directory + "/idx", classes: classes) {
            checkSplit(split, classes: classes)
        }
    }
    return 0
}
