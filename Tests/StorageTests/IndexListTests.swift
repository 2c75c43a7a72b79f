import Testing
@testable import Storage

#if canImport(Glibc)
import Glibc
#endif

private func writeText(_ text: String, _ path: String) {
    let f = fopen(path, "wb")!
    _ = text.utf8CString.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count - 1, f) }
    fclose(f)
}

private func invalidInputMessage(_ body: () throws -> Void) -> String? {
    do { try body() } catch StorageError.invalidInput(let message) { return message } catch { return nil }
    return nil
}

@Suite struct IndexListTests {
    // MARK: index lists

    @Test func indexListRoundTrip() throws {
        let dir = temporaryDirectory()
        let path = dir + "/keep.txt"
        let indices = [0, 3, 17, 42, 12_345]
        try IndexList.write(indices, to: path)
        #expect(try IndexList.read(path) == indices)
        try IndexList.write([], to: path)
        #expect(try IndexList.read(path) == [])

        // Comments come first, one line each, and read back as nothing.
        try IndexList.write([4, 1], to: path, comments: ["kept by aum coverage 0.2", "two\nlines"])
        #expect(String(decoding: try InputFile.read(path, expecting: "x"), as: UTF8.self) == "# kept by aum coverage 0.2\n# two lines\n4\n1\n")
        #expect(try IndexList.read(path) == [4, 1])

        writeText("# kept by el2n\n\n  5 \n# another comment\n2\r\n9", path)
        #expect(try IndexList.read(path) == [5, 2, 9])

        #expect(throws: StorageError.self) { try IndexList.write([1, 1], to: path) }
        #expect(throws: StorageError.self) { try IndexList.write([-1], to: path) }
        unlink(path)
        rmdir(dir)
    }

    @Test func indexListMalformed() {
        let dir = temporaryDirectory()
        let path = dir + "/bad.txt"
        writeText("12\nabc\n", path)
        let message = invalidInputMessage { _ = try IndexList.read(path) }
        #expect(message?.contains(path + ":2") == true)
        writeText("1\n-3\n", path)
        #expect(invalidInputMessage { _ = try IndexList.read(path) }?.contains(":2") == true)
        writeText("1\n2\n# c\n1\n", path)
        #expect(invalidInputMessage { _ = try IndexList.read(path) }?.contains(":4: duplicate") == true)
        writeText("1.5\n", path)
        #expect(invalidInputMessage { _ = try IndexList.read(path) } != nil)
        writeText("99999999999999999999999\n", path)
        #expect(invalidInputMessage { _ = try IndexList.read(path) } != nil)
        unlink(path)
        #expect(invalidInputMessage { _ = try IndexList.read(dir + "/missing.txt") } != nil)
        rmdir(dir)
    }

    @Test func checksumIdentifiesTheSetNotTheOrder() {
        #expect(IndexList.checksum([3, 1, 2]) == IndexList.checksum([1, 2, 3]))
        #expect(IndexList.checksum([1, 2, 3]) != IndexList.checksum([1, 2, 4]))
    }
}
