import CLibgit2

/// A SHA-1 object id, stored inline so it is cheap to hash, compare and copy.
public struct OID: Hashable, Comparable, Sendable, CustomStringConvertible {
    // Big-endian words: comparing them in order compares the ids bytewise.
    private let w0: UInt64
    private let w1: UInt64
    private let w2: UInt32

    init(_ raw: git_oid) {
        var raw = raw
        var a: UInt64 = 0
        var b: UInt64 = 0
        var c: UInt32 = 0
        withUnsafeBytes(of: &raw.id) { bytes in
            for i in 0..<8 { a = a << 8 | UInt64(bytes[i]) }
            for i in 8..<16 { b = b << 8 | UInt64(bytes[i]) }
            for i in 16..<20 { c = c << 8 | UInt32(bytes[i]) }
        }
        w0 = a
        w1 = b
        w2 = c
    }

    init(_ pointer: UnsafePointer<git_oid>) { self.init(pointer.pointee) }

    /// Parses a full 40-character hex id; nil for anything else.
    public init?(hex: String) {
        guard hex.utf8.count == 40 else { return nil }
        var raw = git_oid()
        guard git_oid_fromstrn(&raw, hex, 40) == 0 else { return nil }
        self.init(raw)
    }

    var raw: git_oid {
        var out = git_oid()
        withUnsafeMutableBytes(of: &out.id) { bytes in
            for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: w0 >> (56 - 8 * UInt64(i))) }
            for i in 0..<8 { bytes[8 + i] = UInt8(truncatingIfNeeded: w1 >> (56 - 8 * UInt64(i))) }
            for i in 0..<4 { bytes[16 + i] = UInt8(truncatingIfNeeded: w2 >> (24 - 8 * UInt32(i))) }
        }
        return out
    }

    public var hex: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(40)
        for (word, count) in [(w0, 16), (w1, 16), (UInt64(w2), 8)] {
            for i in stride(from: count - 1, through: 0, by: -1) {
                out.append(digits[Int((word >> (4 * UInt64(i))) & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { hex }

    public static func < (lhs: OID, rhs: OID) -> Bool {
        (lhs.w0, lhs.w1, lhs.w2) < (rhs.w0, rhs.w1, rhs.w2)
    }
}
