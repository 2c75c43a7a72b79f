// libFuzzer target: the PNG and JPEG decoders of ImageFolder (libpng and libjpeg through the
// shims in Sources/CPNG and Sources/CJPEG; scripts/fuzz.sh builds it with Sources/Trainer/Data).
// Mode (byte 0) % 3: 0 one file, decoded by ImageFolder.decode (PNG or JPEG by its signature);
// 1 a folder of two classes, one image each (payload split by FuzzInput.parts), loaded by
// DataSource.load with --classes from the mode; 2 the same with train/ and a test/ image.
// What a load accepts must be what ImageFolder.decode gives for each file, in CHW order.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    switch input.mode % 3 {
    case 0:
        _ = decodeChecked(input.payload)
    case 1:
        let parts = input.parts(2)
        FuzzFiles.write(parts[0], "flat/a/0.png")
        FuzzFiles.write(parts[1], "flat/b/0.jpg")
        let classes = classesOption(input.mode)
        guard let split = try? DataSource.load(FuzzFiles.directory + "/flat", classes: classes) else { return 0 }
        checkImageSplit(split, train: parts, test: [], classes: classes)
    default:
        let parts = input.parts(3)
        FuzzFiles.write(parts[0], "split/train/a/0.png")
        FuzzFiles.write(parts[1], "split/train/b/0.jpeg")
        FuzzFiles.write(parts[2], "split/test/b/0.PNG")
        let classes = classesOption(input.mode)
        guard let split = try? DataSource.load(FuzzFiles.directory + "/split", classes: classes) else { return 0 }
        checkImageSplit(split, train: Array(parts.prefix(2)), test: [parts[2]], classes: classes)
    }
    return 0
}

/// Decodes one file and checks what the decoder accepted: 1 or 3 channels, a size within
/// `maxPixels`, and `C * H * W` pixel bytes.
private func decodeChecked(_ bytes: [UInt8]) -> (shape: ImageShape, pixels: [UInt8])? {
    guard let image = try? ImageFolder.decode(bytes, path: "image") else { return nil }
    let s = image.shape
    require(s.channels == 1 || s.channels == 3, "\(s.channels) channels")
    require(s.height > 0 && s.width > 0 && s.height * s.width <= ImageFolder.maxPixels, "image size \(s)")
    require(image.pixels.count == s.size, "\(image.pixels.count) pixel bytes for \(s)")
    let isPNG = bytes.starts(with: ImageFolder.pngSignature)
    require(isPNG || bytes.starts(with: ImageFolder.jpegSignature), "a file with neither signature decoded")
    return image
}

/// A loaded folder must hold exactly the images written, each as ImageFolder.decode gives it.
private func checkImageSplit(_ split: DataSplit, train: [[UInt8]], test: [[UInt8]], classes: Int?) {
    let images = (train + test).map { decodeChecked($0) }
    require(images.allSatisfy { $0 != nil }, "a folder loaded with an image that does not decode alone")
    let decoded = images.compactMap { $0 }
    let shape = decoded[0].shape
    require(decoded.allSatisfy { $0.shape == shape }, "a folder of differently shaped images loaded")
    for set in [split.train, split.test] {
        require(set.channels == shape.channels && set.height == shape.height && set.width == shape.width, "\(set.name): shape")
        require(set.classes == (classes ?? 2) && set.classNames == ["a", "b"], "\(set.name): classes")
        require(set.pixels.count == set.count * set.exampleSize, "\(set.name): pixel count")
    }
    checkDataset(split.train)
    require(split.train.labels == [0, 1] && split.test.labels == (test.isEmpty ? [] : [1]), "labels")
    guard case .uint8(let trainPixels) = split.train.pixels, case .uint8(let testPixels) = split.test.pixels else {
        require(false, "ImageFolder pixels are not bytes")
        return
    }
    require(trainPixels == decoded[0].pixels + decoded[1].pixels, "training pixels differ from the decoded files")
    require(testPixels == (test.isEmpty ? [] : decoded[2].pixels), "test pixels differ from the decoded file")
}
