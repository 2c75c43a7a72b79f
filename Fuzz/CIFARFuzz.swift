// libFuzzer target: the CIFAR-10/100 reader (scripts/fuzz.sh builds it with Sources/Trainer/Data).
// Mode (byte 0) % 4: 0/1 one CIFAR-10/CIFAR-100 batch file, with no record count or
// 1..3 records required (mode bits 4-5); 2 a CIFAR-10 directory of six files (one
// record each), 3 a CIFAR-100 directory of two files (one record each); --classes from the mode.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCIFAR(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let one = CIFAR.RecordCounts(trainPerFile: 1, test: 1)
    switch input.mode % 4 {
    case 0, 1:
        let variant: CIFAR.Variant = input.mode % 4 == 0 ? .cifar10 : .cifar100
        let records = [nil, 1, 2, 3][Int(input.mode >> 4) % 4]
        if let r = try? CIFAR.readBatch(FuzzFiles.write(input.payload, "batch.bin"), variant: variant, records: records) {
            require(r.count > 0 && r.labels.count == r.count && r.pixels.count == r.count * CIFAR.imageBytes, "batch sizes")
            require(records == nil || records == r.count, "record count ignored")
            require(r.labels.allSatisfy { $0 >= 0 && Int($0) < variant.classes }, "label range")
        }
    case 2:
        let names = CIFAR.cifar10TrainFiles + [CIFAR.cifar10TestFile]
        for (name, bytes) in zip(names, input.parts(6)) { FuzzFiles.write(bytes, "c10/" + name) }
        let classes = classesOption(input.mode)
        if let split = try? CIFAR.loadCIFAR10(directory: FuzzFiles.directory + "/c10", name: nil, classes: classes, records: one) {
            checkSplit(split, classes: classes)
            require(split.train.count == 5 && split.test.count == 1, "CIFAR-10 counts")
        }
    default:
        let names = [CIFAR.cifar100TrainFile, CIFAR.cifar100TestFile]
        for (name, bytes) in zip(names, input.parts(2)) { FuzzFiles.write(bytes, "c100/" + name) }
        let classes = classesOption(input.mode)
        if let split = try? CIFAR.loadCIFAR100(directory: FuzzFiles.directory + "/c100", name: nil, classes: classes, records: one) {
            checkSplit(split, classes: classes)
        }
    }
    return 0
}
