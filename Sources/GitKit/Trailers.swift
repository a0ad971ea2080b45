/// The `Gt-` trailers that tie a code commit to the work it serves.
public enum Trailer {
    public static let bead = "Gt-Bead"
    public static let step = "Gt-Step"
    public static let stepDone = "Gt-Step-Done"

    /// `Key: value` lines of a commit message's last paragraph (git's trailer block), in
    /// order. Lines starting with `comment` (the editor's `#` lines) are ignored.
    public static func parse(_ message: String, comment: Character? = "#") -> [(key: String, value: String)] {
        let lines = Self.split(message, comment: comment ?? "#").body
            .split(separator: "\n", omittingEmptySubsequences: false)
            .filter { line in comment.map { !line.hasPrefix(String($0)) } ?? true }
        var block: [Substring] = []
        for line in lines.reversed() {
            if line.allSatisfy(\.isWhitespace) {
                if block.isEmpty { continue }
                break
            }
            block.insert(line, at: 0)
        }
        // A one-paragraph message is a subject, not a trailer block.
        guard block.count < lines.filter({ !$0.allSatisfy(\.isWhitespace) }).count else { return [] }
        var found: [(String, String)] = []
        for line in block {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else { continue }
            let key = line[..<colon]
            guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else { continue }
            found.append((String(key), line[line.index(after: colon)...].trimmingSpaces()))
        }
        return found
    }

    /// The values of `key` (case-insensitive, as git treats trailer keys).
    public static func values(_ key: String, in message: String) -> [String] {
        parse(message).filter { $0.key.lowercased() == key.lowercased() }.map(\.value).filter { !$0.isEmpty }
    }

    /// `message` with `lines` (`Key: value`) added to its trailer block, or as a new block,
    /// before any trailing comment lines the editor shows.
    public static func appending(_ lines: [String], to message: String, comment: Character = "#") -> String {
        guard !lines.isEmpty else { return message }
        let (body, cut) = Self.split(message, comment: comment)
        var all = body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if all.last == "" { all.removeLast() }
        // Keep the editor's comment section (and the blank lines before it) at the end.
        var tail: [String] = []
        while let last = all.last, last.hasPrefix(String(comment)) || (last.isEmpty && !tail.isEmpty) {
            tail.insert(all.removeLast(), at: 0)
        }
        while tail.first?.isEmpty == true { tail.removeFirst() }
        while all.last?.allSatisfy(\.isWhitespace) == true { all.removeLast() }
        let content = all.joined(separator: "\n")
        let hasBlock = !parse(content, comment: nil).isEmpty
        let joined = content + (hasBlock ? "\n" : "\n\n") + lines.joined(separator: "\n") + "\n"
        return (tail.isEmpty ? joined : joined + "\n" + tail.joined(separator: "\n") + "\n") + cut
    }

    /// A message as git will keep it, and what git cuts off: everything from the scissors
    /// line (`commit -v` puts the diff below it). CRLF line ends are read as LF.
    static func split(_ message: String, comment: Character) -> (body: String, cut: String) {
        let text = message.contains("\r\n") ? message.replacing("\r\n", with: "\n") : message
        let scissors = "\(comment) ------------------------ >8 ------------------------"
        if text.hasPrefix(scissors) { return ("", text) }
        guard let found = text.firstRange(of: "\n" + scissors) else { return (text, "") }
        let cutStart = text.index(after: found.lowerBound)
        return (String(text[..<cutStart]), String(text[cutStart...]))
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

extension String {
    /// Without `character` at either end.
    public func trimmingCharacters(in character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }

    /// The text up to the first newline.
    public var firstLine: String { split(separator: "\n").first.map(String.init) ?? "" }
}
