/// Standard base64 (RFC 4648, `+/` alphabet, `=` padding) for `data:` URLs.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// The base64 text of `bytes`.
    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            append(v, sextets: 4, to: &out)
            i += 3
        }
        switch bytes.count - i {
        case 1:
            append(UInt32(bytes[i]) << 16, sextets: 2, to: &out)
            out += [UInt8(ascii: "="), UInt8(ascii: "=")]
        case 2:
            append(UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8, sextets: 3, to: &out)
            out.append(UInt8(ascii: "="))
        default: break
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the first `sextets` 6-bit groups of the 24-bit value `v`.
    private static func append(_ v: UInt32, sextets: Int, to out: inout [UInt8]) {
        for k in 0..<sextets { out.append(alphabet[Int((v >> UInt32(18 - 6 * k)) & 63)]) }
    }
}
