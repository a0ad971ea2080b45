import GitKit

/// Beads' id scheme: `<prefix>-<base36 hash>`, the hash part growing with the number of
/// beads so collisions stay rare; children are `<parent>.<n>`.
public enum BeadID {
    /// The hash length for a rig of `count` beads: the shortest whose birthday-collision
    /// chance stays small (about n ≤ √(36^L)/2): 3 up to ~100 beads, 4 up to ~650,
    /// 5 up to ~3,900, 6 up to ~23,000, then 7 and 8.
    public static func hashLength(forCount count: Int) -> Int {
        for length in 3...7 {
            var space = 1.0
            for _ in 0..<length { space *= 36 }
            if Double(count) <= space.squareRoot() / 2 { return length }
        }
        return 8
    }

    /// A candidate id for a new bead; `nonce` picks the next candidate after a collision.
    public static func make(prefix: String, seed: String, nonce: Int, length: Int) -> String {
        let digest = GitHash.sha1(Array("\(seed)\n\(nonce)".utf8))
        var value: UInt64 = 0
        for byte in digest.prefix(8) { value = value << 8 | UInt64(byte) }
        let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var out = ""
        for _ in 0..<length {
            out.append(digits[Int(value % 36)])
            value /= 36
        }
        return prefix + "-" + out
    }

    /// True for names usable as ids: the prefix alphabet plus `-` and `.`, no ref-breaking
    /// characters.
    public static func isValid(_ id: String) -> Bool {
        guard !id.isEmpty, id.count <= 128, !id.hasPrefix("."), !id.hasSuffix("."), !id.contains("..") else {
            return false
        }
        return id.unicodeScalars.allSatisfy {
            ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "-" || $0 == "."
                || $0 == "_"
        }
    }

    public static func isValidPrefix(_ prefix: String) -> Bool {
        !prefix.isEmpty && prefix.count <= 16 && !prefix.contains(".") && !prefix.contains("-") && isValid(prefix)
    }
}
