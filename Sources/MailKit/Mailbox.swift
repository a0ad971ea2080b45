import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// What a sender supplies; the id, thread and time are filled in by `send`.
public struct MessageDraft: Sendable {
    public var from: String
    public var subject: String
    public var body: String
    public var type: String
    public var priority: String
    public var inReplyTo: String?

    public init(
        from: String, subject: String, body: String, type: String = "message", priority: String = "normal",
        inReplyTo: String? = nil
    ) {
        self.from = from
        self.subject = subject
        self.body = body
        self.type = type
        self.priority = priority
        self.inReplyTo = inReplyTo
    }
}

/// Mailboxes as refs: `refs/gt/mail/<address>` is a chain of commits, one message each,
/// with `message.json` in the tree. Per-delivery state (read, ack, archive) is a note on
/// the delivering commit in `refs/notes/gt/mail`, one event per line, so the chain is
/// never rewritten and two clones' states merge as a union of lines.
public final class Mailbox {
    public static let refPrefix = "refs/gt/mail/"
    public static let stateRef = "refs/notes/gt/mail"
    /// Set by the broker for a worker's command: read, ack and archive marks may be
    /// recorded only in mailboxes it allows (the worker's own).
    nonisolated(unsafe) public static var stateGuard: ((Address) throws -> Void)?
    static let fileName = "message.json"

    public let repository: Repository
    public let now: String
    private let signature: Signature
    /// Open inotify watches by ref name (see `waitForNew`).
    var watchers: [String: RefWatcher] = [:]

    public init(repository: Repository) throws {
        self.repository = repository
        signature = try Signature.committer(in: repository)
        now = ISO8601.format(signature.time)
    }

    // MARK: sending

    /// Delivers one message to every recipient's mailbox in one all-or-nothing ref
    /// transaction, retried on conflict with the other senders.
    @discardableResult
    public func send(_ draft: MessageDraft, to: [Address], cc: [Address]) throws -> Message {
        guard !to.isEmpty else { throw GasworksError(.usage, "no recipient") }
        guard !draft.subject.allSatisfy(\.isWhitespace) || !draft.body.allSatisfy(\.isWhitespace) else {
            throw GasworksError(.usage, "empty message: give a subject (-s) or a body (-m, --stdin)")
        }
        guard Message.types.contains(draft.type) else {
            throw GasworksError(
                .usage, "invalid message type '\(draft.type)' (expected \(Message.types.joined(separator: ", ")))")
        }
        guard Message.priorities.contains(draft.priority) else {
            throw GasworksError(
                .usage, "invalid priority '\(draft.priority)' (expected \(Message.priorities.joined(separator: ", ")))")
        }
        let original = try draft.inReplyTo.map(findAnywhere)
        let id = Self.newID(draft, to: to)
        let message = Message(
            id: id, from: draft.from, to: to.map(\.value), cc: cc.filter { !to.contains($0) }.map(\.value),
            subject: draft.subject, body: draft.body, type: draft.type, priority: draft.priority,
            thread: original?.message.thread ?? id, inReplyTo: original?.message.id, time: now)
        let boxes = Array(Set(to + cc)).sorted()
        let author = Signature(
            name: draft.from, email: signature.email, time: signature.time, offsetMinutes: signature.offsetMinutes)
        let blob = try repository.writeBlob(message.json.canonicalText)
        let tree = try repository.writeTree([TreeEntry(name: Self.fileName, id: blob, kind: .blob)])
        try repository.withRetry(touching: boxes.map(\.refName)) {
            let updates = try boxes.map { box -> ReferenceUpdate in
                let tip = try repository.referenceTarget(box.refName)
                let commit = try repository.writeCommit(
                    tree: tree, parents: tip.map { [$0] } ?? [], message: message.commitMessage(for: box),
                    author: author,
                    committer: signature)
                return ReferenceUpdate(name: box.refName, expected: tip, target: commit)
            }
            try repository.updateReferences(updates, message: "mail: send \(id)")
        }
        return message
    }

    /// `m-` and eight base-36 digits from the content, the time and this process's randomness.
    static func newID(_ draft: MessageDraft, to: [Address]) -> String {
        var generator = SystemRandomNumberGenerator()
        let seed = "\(draft.from)\n\(to)\n\(draft.subject)\n\(draft.body)\n\(getpid())\n\(generator.next() as UInt64)"
        var value: UInt64 = 0
        for byte in GitHash.sha1(Array(seed.utf8)).prefix(8) { value = value << 8 | UInt64(byte) }
        let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var out = "m-"
        for _ in 0..<8 {
            out.append(digits[Int(value % 36)])
            value /= 36
        }
        return out
    }

    // MARK: reading

    /// The mailbox's deliveries, newest first; stops after `limit` that pass `include`.
    public func deliveries(
        of box: Address, limit: Int = .max, include: (Delivery) -> Bool = { _ in true }
    ) throws -> [Delivery] {
        guard limit > 0, let tip = try repository.referenceTarget(box.refName) else { return [] }
        let states = try StateReader(repository: repository)
        var out: [Delivery] = []
        // The walk is lazy: the 50 newest of 10,000 messages read about 50 commits.
        try repository.walk(from: [tip]) { commit in
            if let delivery = try self.delivery(commit, in: box, states: states), include(delivery) {
                out.append(delivery)
            }
            return out.count < limit
        }
        return out
    }

    /// The message a commit delivered; nil for a merge `git rig sync` wrote, which joins two
    /// clones' deliveries and carries none itself.
    func delivery(_ commit: OID, in box: Address, states: StateReader) throws -> Delivery? {
        try delivery(try repository.commit(commit), in: box, states: states)
    }

    private func delivery(_ commit: Commit, in box: Address, states: StateReader) throws -> Delivery? {
        if commit.parents.count > 1 { return nil }
        guard let entry = try repository.treeEntry(commit.tree, path: Self.fileName),
            let json = try? JSONValue.parse(try repository.readBlobText(entry.id))
        else { throw GasworksError(.badData, "corrupt message in \(box.refName) at \(commit.id.hex.prefix(12))") }
        return Delivery(
            message: try Message(json: json, source: box.refName), mailbox: box, commit: commit.id,
            state: try states.state(of: commit.id))
    }

    /// The delivery of message `given` (an id or unique prefix, with or without `m-`) in `box`.
    public func find(_ given: String, in box: Address) throws -> Delivery {
        try unique(given, try matches(given, in: [box]), place: " in \(box)")
    }

    /// The message `given` wherever it was delivered (for replies and threads).
    public func findAnywhere(_ given: String) throws -> Delivery {
        try unique(given, try matches(given, in: try mailboxes()), place: "")
    }

    /// Deliveries whose id starts with `given`. The commit's `Gt-Message-Id` trailer picks
    /// the candidates, so only they have their message blob and state note read; each
    /// candidate is then confirmed against the id in its `message.json`.
    private func matches(_ given: String, in boxes: [Address]) throws -> [Delivery] {
        guard !given.isEmpty else { return [] }
        func isMatch(_ id: Substring) -> Bool { id.hasPrefix(given) || id.hasPrefix("m-" + given) }
        var found: [Delivery] = []
        for box in boxes {
            guard let tip = try repository.referenceTarget(box.refName) else { continue }
            let states = try StateReader(repository: repository)
            try repository.walk(from: [tip]) { id in
                let commit = try repository.commit(id)
                let trailer = commit.message.split(separator: "\n").last { $0.hasPrefix("Gt-Message-Id: ") }
                if trailer.map({ isMatch($0.dropFirst("Gt-Message-Id: ".count)) }) ?? true {
                    if let delivery = try delivery(commit, in: box, states: states),
                        isMatch(Substring(delivery.message.id))
                    {
                        found.append(delivery)
                    }
                }
                return true
            }
        }
        return found
    }

    private func unique(_ given: String, _ matches: [Delivery], place: String) throws -> Delivery {
        guard let first = matches.first else { throw GasworksError(.notFound, "no message '\(given)'\(place)") }
        let ids = Set(matches.map(\.message.id))
        guard ids.count == 1 else {
            throw GasworksError(
                .ambiguous, "'\(given)' is ambiguous: \(ids.sorted().prefix(5).joined(separator: ", "))")
        }
        return first
    }

    public func mailboxes() throws -> [Address] {
        try repository.references(withPrefix: Self.refPrefix).compactMap {
            try? Address(String($0.name.dropFirst(Self.refPrefix.count)))
        }
    }

    /// Every message of a conversation, oldest first, each once.
    public func thread(_ given: String) throws -> [Delivery] {
        let start = try findAnywhere(given)
        var byID: [String: Delivery] = [:]
        for box in try mailboxes() {
            for delivery in try deliveries(of: box) where delivery.message.thread == start.message.thread {
                if byID[delivery.message.id] == nil { byID[delivery.message.id] = delivery }
            }
        }
        // Time order, except that a reply always comes after what it answers, whatever
        // the clocks say: a message waits until its parent has been placed.
        var pending = byID.values.sorted { ($0.message.time, $0.message.id) < ($1.message.time, $1.message.id) }
        var placed: [Delivery] = []
        var placedIDs = Set<String>()
        while !pending.isEmpty {
            let index =
                pending.firstIndex { delivery in
                    delivery.message.inReplyTo.map { placedIDs.contains($0) || byID[$0] == nil } ?? true
                } ?? 0
            let next = pending.remove(at: index)
            placed.append(next)
            placedIDs.insert(next.message.id)
        }
        return placed
    }

    // MARK: state

    /// Appends the same state events to each delivery's note, all in one notes commit.
    public func record(_ events: [DeliveryState.Event], on deliveries: [Delivery], by actor: String) throws {
        try record({ _ in events }, on: deliveries, by: actor)
    }

    /// Appends each delivery's own events (none is fine) to its note, all in one notes commit.
    public func record(
        _ events: (Delivery) -> [DeliveryState.Event], on deliveries: [Delivery], by actor: String
    ) throws {
        for delivery in deliveries { try Self.stateGuard?(delivery.mailbox) }
        let states = try StateReader(repository: repository)
        var edits: [NoteEdit] = []
        var recorded: [String] = []
        for delivery in deliveries {
            let count = try states.eventCount(of: delivery.commit)
            for (offset, event) in events(delivery).enumerated() {
                if !recorded.contains(event.rawValue) { recorded.append(event.rawValue) }
                let line = JSONValue.object([
                    "at": .string(now), "by": .string(actor), "event": .string(event.rawValue),
                    "n": .int(Int64(count + offset + 1)),
                ]).compactText()
                edits.append(.appendLine(delivery.commit, line))
            }
        }
        try repository.editNotes(notesRef: Self.stateRef, edits, message: "mail: \(recorded.joined(separator: "+"))")
    }
}

/// Reads delivery state notes, resolving the notes ref once.
struct StateReader {
    let repository: Repository
    let tree: OID?

    init(repository: Repository) throws {
        self.repository = repository
        tree = try repository.notesTree(Mailbox.stateRef)
    }

    func state(of commit: OID) throws -> DeliveryState {
        guard let tree else { return DeliveryState() }
        return DeliveryState(noteText: try repository.note(on: commit, notesTree: tree))
    }

    func eventCount(of commit: OID) throws -> Int {
        guard let tree else { return 0 }
        return try repository.note(on: commit, notesTree: tree)?.split(separator: "\n").count ?? 0
    }
}
