import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// What `list`, `ready` and `blocked` need of a bead, without parsing its JSON.
/// A class: 10,000 of them are filtered and sorted on every call, and copying a reference
/// is one retain where copying a struct of a dozen strings is a dozen.
public final class BeadSummary: @unchecked Sendable, Equatable {
    public let id: String
    public let commit: OID
    public let status: String
    public let priority: Int
    public let type: String
    public let assignee: String
    public let title: String
    public let labels: [String]
    /// `type:target` for every dependency.
    public let dependencies: [(type: String, target: String)]
    public let deferUntil: String
    public let createdAt: String
    public let updatedAt: String
    public let deleted: Bool
    /// The full state as one line of canonical JSON, parsed only when asked for.
    public var json: String { jsonSource.text }
    private let jsonSource: CachedText

    public static func == (a: BeadSummary, b: BeadSummary) -> Bool { a.id == b.id && a.commit == b.commit }

    init(bead: Bead, commit: OID) {
        id = bead.id
        self.commit = commit
        status = bead.string("status") ?? "open"
        priority = bead.priority
        type = bead.issueType
        assignee = bead.assignee ?? ""
        title = bead.title
        labels = bead.labels
        dependencies = bead.dependencies.map { ($0.type.rawValue, $0.dependsOn) }
        deferUntil = bead.deferUntil ?? ""
        createdAt = bead.createdAt ?? ""
        updatedAt = bead.updatedAt ?? ""
        deleted = bead.isDeleted
        jsonSource = CachedText(bead.json.compactText())
    }

    fileprivate init(
        id: String, commit: OID, status: String, priority: Int, type: String, assignee: String, title: String,
        labels: [String], dependencies: [(type: String, target: String)], deferUntil: String, createdAt: String,
        updatedAt: String, deleted: Bool, json: CachedText
    ) {
        self.id = id
        self.commit = commit
        self.status = status
        self.priority = priority
        self.type = type
        self.assignee = assignee
        self.title = title
        self.labels = labels
        self.dependencies = dependencies
        self.deferUntil = deferUntil
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deleted = deleted
        self.jsonSource = json
    }

    public var parent: String? { dependencies.first { $0.type == DependencyType.parentChild.rawValue }?.target }

    public func bead() throws -> Bead { try BeadStore.decode(json, id: id) }
}

/// The bead index: a cache under `<common git dir>/gt/index/beads` holding every bead's
/// summary with the commit it was read from. It is only ever trusted per bead, when that
/// commit is still the tip of the bead's ref; anything else is read again from git.
/// Delete it, or change refs with plain git, and answers stay the same.
public struct BeadIndex: Sendable {
    public private(set) var beads: [String: BeadSummary]

    static let header = "gasworks bead index 1"

    public var all: [BeadSummary] { beads.values.sorted { $0.id < $1.id } }

    static func path(_ store: BeadStore) -> String { store.repository.commonDir + "gt/index/beads" }

    /// The number of beads the cache last saw, without validating it: good enough to
    /// choose an id length.
    static func storedCount(store: BeadStore) throws -> Int {
        guard let file = fopen(path(store), "r") else {
            return try store.repository.references(withPrefix: BeadStore.refPrefix).count
        }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        guard getline(&line, &capacity, file) > 0 else { return 0 }
        let parts = String(cString: line!).split(separator: " ")
        return parts.count == 5 ? Int(parts[4].trimmingNewline()) ?? 0 : 0
    }

    /// How far the cache file is behind the bead refs: entries missing, out of date, or
    /// naming beads that no longer exist (0 when it is current).
    public static func staleness(store: BeadStore) throws -> Int {
        let refs = try store.repository.references(withPrefix: BeadStore.refPrefix, sorted: false)
        let cached = readCache(path(store))
        var stale = 0
        var seen = 0
        for ref in refs {
            let id = String(ref.name.dropFirst(BeadStore.refPrefix.count))
            if let hit = cached[id] {
                seen += 1
                if hit.commit != ref.target { stale += 1 }
            } else {
                stale += 1
            }
        }
        return stale + (cached.count - seen)
    }

    static func load(store: BeadStore) throws -> BeadIndex {
        let refs = try store.repository.references(withPrefix: BeadStore.refPrefix, sorted: false)
        let cached = readCache(path(store))
        var beads: [String: BeadSummary] = [:]
        beads.reserveCapacity(refs.count)
        var changed = cached.count != refs.count
        for ref in refs {
            let id = String(ref.name.dropFirst(BeadStore.refPrefix.count))
            if let hit = cached[id], hit.commit == ref.target {
                beads[id] = hit
            } else {
                beads[id] = BeadSummary(bead: try store.bead(at: ref.target, id: id), commit: ref.target)
                changed = true
            }
        }
        let index = BeadIndex(beads: beads)
        if changed { index.writeCache(path(store)) }
        return index
    }

    // MARK: cache file

    private static func readCache(_ path: String) -> [String: BeadSummary] {
        guard let file = CacheFile.read(path) else { return [:] }
        let bytes = file.bytes
        guard let firstNewline = bytes.firstIndex(of: UInt8(ascii: "\n")),
            String(decoding: bytes[..<firstNewline], as: UTF8.self).hasPrefix(header + " ")
        else { return [:] }
        var out: [String: BeadSummary] = [:]
        var start = firstNewline + 1
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            if let summary = decodeLine(file, start..<end) { out[summary.id] = summary }
            start = end + 1
        }
        return out
    }

    private func writeCache(_ path: String) {
        var text = "\(Self.header) \(beads.count)\n"
        for summary in beads.values {
            let fields: [String] = [
                summary.id, summary.commit.hex, summary.status, String(summary.priority), summary.type,
                summary.assignee,
                summary.title, summary.labels.joined(separator: "\u{1F}"),
                summary.dependencies.map { $0.type + ":" + $0.target }.joined(separator: "\u{1F}"),
                summary.deferUntil, summary.createdAt, summary.updatedAt, summary.deleted ? "1" : "0", summary.json,
            ]
            text += fields.map(Self.escape).joined(separator: "\t") + "\n"
        }
        // Write beside, then rename: readers see the old or the new file, never half of one.
        let directory = String(path[..<path.lastIndex(of: "/")!])
        _ = mkdir(String(directory[..<directory.lastIndex(of: "/")!]), 0o755)
        _ = mkdir(directory, 0o755)
        let temporary = path + ".tmp.\(getpid())"
        guard let file = fopen(temporary, "w") else { return }
        let bytes = Array(text.utf8)
        let written = fwrite(bytes, 1, bytes.count, file)
        fclose(file)
        if written == bytes.count { rename(temporary, path) } else { unlink(temporary) }
    }

    /// Splits one cache line on tabs at the byte level: this runs 10,000 times on every
    /// warm `list` or `ready`, where Character-level splitting costs more than the rest.
    /// The JSON column, the bulk of the line, stays in the file's buffer until asked for.
    private static func decodeLine(_ file: CacheFile, _ line: Range<Int>) -> BeadSummary? {
        let bytes = file.bytes
        var fields: [String] = []
        fields.reserveCapacity(13)
        var start = line.lowerBound
        var hasEscape = false
        var index = line.lowerBound
        while index < line.upperBound, fields.count < 13 {
            if bytes[index] == UInt8(ascii: "\t") {
                let field = bytes.withUnsafeBufferPointer {
                    String(decoding: UnsafeBufferPointer(rebasing: $0[start..<index]), as: UTF8.self)
                }
                fields.append(hasEscape ? unescape(field[...]) : field)
                start = index + 1
                hasEscape = false
            } else if bytes[index] == UInt8(ascii: "\\") {
                hasEscape = true
            }
            index += 1
        }
        var jsonEnd = line.upperBound
        if jsonEnd > start, bytes[jsonEnd - 1] == UInt8(ascii: "\r") { jsonEnd -= 1 }
        guard fields.count == 13, start <= jsonEnd, let commit = OID(hex: fields[1]), let priority = Int(fields[3])
        else {
            return nil
        }
        let separator = Character("\u{1F}")
        return BeadSummary(
            id: fields[0], commit: commit, status: fields[2], priority: priority, type: fields[4], assignee: fields[5],
            title: fields[6], labels: fields[7].isEmpty ? [] : fields[7].split(separator: separator).map(String.init),
            dependencies: fields[8].isEmpty
                ? []
                : fields[8].split(separator: separator).map { pair in
                    let colon = pair.firstIndex(of: ":")!
                    return (String(pair[..<colon]), String(pair[pair.index(after: colon)...]))
                },
            deferUntil: fields[9], createdAt: fields[10], updatedAt: fields[11], deleted: fields[12] == "1",
            json: CachedText(file, start..<jsonEnd))
    }

    private static func escape(_ text: String) -> String {
        guard text.contains(where: { $0 == "\t" || $0 == "\n" || $0 == "\\" || $0 == "\r" }) else { return text }
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.append(character)
            }
        }
        return out
    }

    fileprivate static func unescape(_ text: Substring) -> String {
        guard text.contains("\\") else { return String(text) }
        var out = ""
        var escaping = false
        for character in text {
            if escaping {
                switch character {
                case "t": out += "\t"
                case "n": out += "\n"
                case "r": out += "\r"
                default: out.append(character)
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                out.append(character)
            }
        }
        return out
    }
}

extension StringProtocol {
    func trimmingNewline() -> String {
        var text = Substring(self)
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        return String(text)
    }
}

/// The cache file's bytes, read with one `read` and shared by every summary made from it.
final class CacheFile: @unchecked Sendable {
    let bytes: [UInt8]

    private init(bytes: [UInt8]) { self.bytes = bytes }

    static func read(_ path: String) -> CacheFile? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        let size = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var offset = 0
        while offset < size {
            let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + offset, size - offset) }
            guard count > 0 else { return nil }
            offset += count
        }
        return CacheFile(bytes: bytes)
    }
}

/// Text that is either a string already or a slice of the cache file, made into a string
/// (and unescaped) only when read.
struct CachedText: Sendable {
    private let file: CacheFile?
    private let range: Range<Int>
    private let string: String?

    init(_ string: String) {
        self.string = string
        file = nil
        range = 0..<0
    }

    init(_ file: CacheFile, _ range: Range<Int>) {
        self.file = file
        self.range = range
        string = nil
    }

    var text: String {
        if let string { return string }
        guard let file else { return "" }
        let raw = String(decoding: file.bytes[range], as: UTF8.self)
        return raw.contains("\\") ? BeadIndex.unescape(raw[...]) : raw
    }
}
