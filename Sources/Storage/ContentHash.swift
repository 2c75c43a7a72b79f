/// A streaming 64-bit hash over words: each 8-byte word multiplied, rotated and mixed
/// into the state, the tail zero-padded, the length folded in at the end (splitmix64 finaliser).
public struct ContentHash: Sendable {
    private var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    private var length: UInt64 = 0

    public init() {}

    public mutating func add(_ word: UInt64) {
        var k = word &* 0x87C3_7B91_1142_53D5
        k = (k << 31) | (k >> 33)
        state ^= k &* 0x4CF5_AD43_2745_937F
        state = ((state << 27) | (state >> 37)) &* 5 &+ 0x52DC_E729
        length &+= 8
    }

    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        let words = bytes.count / 8
        for i in 0..<words { add(bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
        var tail: UInt64 = 0
        for (k, b) in bytes[(words * 8)...].enumerated() { tail |= UInt64(b) << (8 * UInt64(k)) }
        if bytes.count % 8 != 0 { add(tail) }
    }

    /// Adds the values' bit patterns and their count.
    public mutating func add(_ values: [Double]) {
        add(UInt64(values.count))
        values.withUnsafeBytes { add($0) }
    }

    /// Adds the text's UTF-8 bytes and their count.
    public mutating func add(_ text: String) {
        var t = text
        t.withUTF8 { add(UInt64($0.count)); add(UnsafeRawBufferPointer($0)) }
    }

    /// The hash in 16 hex digits.
    public var hex: String {
        var z = state ^ length
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let digits = String(z, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
