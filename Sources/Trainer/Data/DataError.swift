/// Why a data set could not be loaded. Every case names the file (or directory) at
/// fault, and `description` is one line that says what is wrong and what to do.
public enum DataError: Error, CustomStringConvertible, Equatable {
    /// A file or directory that should be there is not; `hint` says how to get it.
    case missingFile(path: String, hint: String)
    /// A directory holds none of the layouts Sieve reads; `lookedFor` lists the file names tried.
    case notADataSet(path: String, lookedFor: [String])
    /// The operating system or zlib refused to read the file.
    case readFailed(path: String, reason: String)
    /// The file does not start with the expected magic number or signature.
    case badMagic(path: String, expected: String, found: String)
    /// The file is shorter (truncated) or longer (trailing data) than its header (or, for
    /// CIFAR, its fixed record count) implies.
    case sizeMismatch(path: String, expectedBytes: Int, actualBytes: Int)
    /// A file of fixed-size records whose size is not a whole number of records.
    case notWholeRecords(path: String, recordSize: Int, actualBytes: Int)
    /// The header (NPY dictionary, IDX dimensions) cannot be parsed or makes no sense.
    case badHeader(path: String, reason: String)
    /// A label lies outside `0..<classes`; `index` is the example's position in the file.
    /// `classes` is the data set's declared count, the one passed to `DataSource.load`, or
    /// the number of distinct labels in the training and test sets.
    case labelOutOfRange(path: String, index: Int, label: Int64, classes: Int)
    /// The element type or array shape is one Sieve does not read; `hint` says what would work.
    case unsupported(path: String, what: String, hint: String)
    /// The image file and label file disagree on the number of examples.
    case inconsistentCounts(images: String, imageCount: Int, labels: String, labelCount: Int)
    /// The training and test images differ in shape or element type.
    case inconsistentShapes(train: String, trainShape: String, test: String, testShape: String)
    /// A float image holds NaN or an infinity; `index` is the flat element position.
    case nonFinite(path: String, index: Int, value: Float)
    /// The file holds no examples.
    case empty(path: String)

    /// One line: control characters (from file names or file contents) are shown escaped.
    public var description: String { DataError.oneLine(text) }

    /// `text` with control characters and Unicode line separators written as `\u{XX}`.
    static func oneLine(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            let v = scalar.value
            if v < 0x20 || (v >= 0x7f && v < 0xa0) || v == 0x2028 || v == 0x2029 {
                out += "\\u{" + String(v, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private var text: String {
        switch self {
        case let .missingFile(path, hint):
            return "\(path): not found; \(hint)"
        case let .notADataSet(path, lookedFor):
            return "\(path): no data set found (looked for \(lookedFor.joined(separator: ", "))); "
                + "pass fashion-mnist, mnist, or a directory holding IDX, CIFAR or NPY files or ImageFolder class folders of PNG/JPEG images"
        case let .readFailed(path, reason):
            return "\(path): cannot read: \(reason); check the file's permissions or download it again"
        case let .badMagic(path, expected, found):
            return "\(path): bad magic number \(found), expected \(expected); is this the right file?"
        case let .sizeMismatch(path, expected, actual):
            if actual < expected {
                return "\(path): truncated: \(actual) bytes where \(expected) are expected; download it again"
            }
            return "\(path): \(actual) bytes where \(expected) are expected (\(actual - expected) "
                + "bytes of trailing data); the file is corrupt or not in the expected format"
        case let .notWholeRecords(path, recordSize, actual):
            return "\(path): \(actual) bytes is not a whole number of \(recordSize)-byte records "
                + "(\(actual % recordSize) bytes left over); download it again"
        case let .badHeader(path, reason):
            return "\(path): bad header: \(reason)"
        case let .labelOutOfRange(path, index, label, classes):
            let rule = "labels must be class indices 0, 1, ..., \(classes - 1)"
            guard label >= Int64(classes) else {
                return "\(path): label \(label) of example \(index) is outside 0..<\(classes); \(rule)"
            }
            return "\(path): label \(label) of example \(index) is outside 0..<\(classes) (\(classes) classes: the data "
                + "set's own, --classes, or the number of distinct labels); \(rule), or pass --classes K (K > \(label)) "
                + "if there are more classes"
        case let .unsupported(path, what, hint):
            return "\(path): unsupported \(what); \(hint)"
        case let .inconsistentCounts(images, imageCount, labels, labelCount):
            return "\(images) holds \(imageCount) images but \(labels) holds \(labelCount) labels; "
                + "they must describe the same examples"
        case let .inconsistentShapes(train, trainShape, test, testShape):
            return "\(train) holds \(trainShape) images but \(test) holds \(testShape); "
                + "training and test images must have the same shape and type"
        case let .nonFinite(path, index, value):
            return "\(path): element \(index) is \(value); float images must be finite, "
                + "replace NaN and infinities before saving"
        case let .empty(path):
            return "\(path): holds no examples; a data set needs at least one"
        }
    }
}
