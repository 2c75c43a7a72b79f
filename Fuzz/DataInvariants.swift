// Checks on what the data readers return (compiled into the IDX, CIFAR and NPY targets).

/// A loaded set must be what the readers promise: at least one example, pixels for
/// every example, every label a class index, and at least two classes.
func checkDataset(_ d: Dataset) {
    require(d.count > 0, "\(d.name): empty set accepted")
    require(d.classes >= 2 && d.classes <= LabelRules.maxClasses, "\(d.name): \(d.classes) classes")
    require(d.pixels.count == d.count * d.exampleSize, "\(d.name): pixel count")
    require(d.labels.allSatisfy { $0 >= 0 && Int($0) < d.classes }, "\(d.name): label outside 0..<\(d.classes)")
    if case .float32(let values) = d.pixels { require(values.allSatisfy(\.isFinite), "\(d.name): non-finite pixel") }
}

func checkSplit(_ s: DataSplit, classes: Int?) {
    checkDataset(s.train)
    checkDataset(s.test)
    require(s.train.classes == s.test.classes, "train and test class counts differ")
    if let classes { require(s.train.classes == classes, "--classes \(classes) ignored") }
    require(s.train.exampleSize == s.test.exampleSize, "train and test shapes differ")
}

/// The `--classes` value a mode byte asks for: none, or one of a few (valid and invalid).
func classesOption(_ mode: UInt8) -> Int? {
    [nil, 2, 10, 11, 256, 1, 0][Int(mode >> 4) % 7]
}
