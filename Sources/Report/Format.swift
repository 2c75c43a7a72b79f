#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Text helpers shared by the page and the charts: escaping and number formatting
/// that never depend on the locale (the same input gives the same bytes).
public enum Format {
    /// `s` safe as HTML text and as a quoted attribute value (also inside inline SVG).
    static func escape(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 16)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// `x` with exactly `decimals` digits after the point (`fixed(0.125, 2) == "0.13"`,
    /// half away from zero); `"nan"`, `"inf"`, `"-inf"` for non-finite values.
    public static func fixed(_ x: Double, _ decimals: Int) -> String {
        if let special = nonFinite(x) { return special }
        let decimals = max(0, min(decimals, 12))
        var p = 1.0
        for _ in 0..<decimals { p *= 10 }
        let scaled = (abs(x) * p).rounded()
        guard scaled < 9e15 else { return "\(x)" }
        let digits = UInt64(scaled)
        let unit = UInt64(p)
        let sign = x < 0 && digits != 0 ? "-" : ""
        let whole = String(digits / unit)
        guard decimals > 0 else { return sign + whole }
        let frac = String(digits % unit)
        return sign + whole + "." + String(repeating: "0", count: decimals - frac.count) + frac
    }

    /// `x` with about `significant` significant digits, in plain notation for
    /// magnitudes 1e-3..<1e6 and `1.23e-5` style otherwise.
    static func general(_ x: Double, significant: Int = 4) -> String {
        if let special = nonFinite(x) { return special }
        if x == 0 { return "0" }
        let e = Int(log10(abs(x)).rounded(.down))
        if e >= -3 && e < 6 { return trimmed(fixed(x, max(0, significant - 1 - e))) }
        var m = x
        for _ in 0..<abs(e) { m = e > 0 ? m / 10 : m * 10 }
        return trimmed(fixed(m, significant - 1)) + "e" + String(e)
    }

    /// A tick label for `x` on an axis whose ticks are `step` apart.
    static func tick(_ x: Double, step: Double) -> String {
        guard step > 0, step.isFinite else { return general(x) }
        let e = Int(log10(step).rounded(.down))
        if e < -4 || e > 6 || abs(x) >= 1e7 { return general(x, significant: 3) }
        return fixed(x, max(0, -e))
    }

    /// A coordinate in an SVG: one decimal, trailing `.0` dropped.
    static func coord(_ x: Double) -> String {
        let s = fixed(x, 1)
        return s.hasSuffix(".0") ? String(s.dropLast(2)) : s
    }

    /// A share as a percentage with one decimal (`"12.5%"`).
    static func percent(_ x: Double) -> String { fixed(100 * x, 1) + "%" }

    private static func nonFinite(_ x: Double) -> String? {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        return nil
    }

    /// Drops trailing zeros after a decimal point (`"1.500"` -> `"1.5"`, `"2.0"` -> `"2"`).
    private static func trimmed(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = Substring(s)
        while t.hasSuffix("0") { t = t.dropLast() }
        if t.hasSuffix(".") { t = t.dropLast() }
        return String(t)
    }
}
