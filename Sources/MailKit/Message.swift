import BeadKit
import GitKit

/// One message as sent: the same for every mailbox it was delivered to.
public struct Message: Sendable, Equatable {
    public static let types = [
        "message", "task", "question", "reply", "done", "help", "nudge", "escalation", "fix-needed", "merged",
        "merge-failed", "notification",
    ]
    public static let priorities = ["urgent", "high", "normal", "low"]

    public var id: String
    public var from: String
    public var to: [String]
    public var cc: [String]
    public var subject: String
    public var body: String
    public var type: String
    public var priority: String
    /// The id of the first message of the conversation.
    public var thread: String
    public var inReplyTo: String?
    /// RFC 3339, UTC.
    public var time: String

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id), "from": .string(from), "to": .array(to.map(JSONValue.string)),
            "subject": .string(subject), "body": .string(body), "type": .string(type), "priority": .string(priority),
            "thread": .string(thread), "time": .string(time),
        ]
        if !cc.isEmpty { object["cc"] = .array(cc.map(JSONValue.string)) }
        if let inReplyTo { object["in_reply_to"] = .string(inReplyTo) }
        return .object(object)
    }

    init(json: JSONValue, source: String) throws {
        guard let id = json["id"]?.stringValue, let from = json["from"]?.stringValue,
            let subject = json["subject"]?.stringValue, let time = json["time"]?.stringValue
        else { throw GasworksError(.badData, "corrupt message in \(source): missing id, from, subject or time") }
        self.id = id
        self.from = from
        self.subject = subject
        self.time = time
        to = json["to"]?.arrayValue?.compactMap(\.stringValue) ?? []
        cc = json["cc"]?.arrayValue?.compactMap(\.stringValue) ?? []
        body = json["body"]?.stringValue ?? ""
        type = json["type"]?.stringValue ?? "message"
        priority = json["priority"]?.stringValue ?? "normal"
        thread = json["thread"]?.stringValue ?? id
        inReplyTo = json["in_reply_to"]?.stringValue
    }

    init(
        id: String, from: String, to: [String], cc: [String], subject: String, body: String, type: String,
        priority: String, thread: String, inReplyTo: String?, time: String
    ) {
        self.id = id
        self.from = from
        self.to = to
        self.cc = cc
        self.subject = subject
        self.body = body
        self.type = type
        self.priority = priority
        self.thread = thread
        self.inReplyTo = inReplyTo
        self.time = time
    }

    /// The commit message: subject, body, then trailers, so `git log refs/gt/mail/<box>`
    /// reads as the inbox. `Gt-Mailbox` makes each delivery its own commit, so state notes
    /// on one mailbox's copy never touch another's.
    func commitMessage(for box: Address) -> String {
        var trailers = [
            "Gt-Message-Id: \(id)", "Gt-From: \(from)", "Gt-To: \(to.joined(separator: ", "))",
        ]
        if !cc.isEmpty { trailers.append("Gt-Cc: \(cc.joined(separator: ", "))") }
        trailers += ["Gt-Type: \(type)", "Gt-Priority: \(priority)", "Gt-Thread: \(thread)"]
        if let inReplyTo { trailers.append("In-Reply-To: \(inReplyTo)") }
        trailers.append("Gt-Mailbox: \(box.value)")
        let subjectLine = subject.split(whereSeparator: \.isNewline).joined(separator: " ")
        let bodyText = body.isEmpty ? "" : body + (body.hasSuffix("\n") ? "" : "\n") + "\n"
        return subjectLine + "\n\n" + bodyText + trailers.joined(separator: "\n") + "\n"
    }
}

/// A message in one mailbox, with that mailbox's read/ack/archive state.
public struct Delivery: Sendable {
    public var message: Message
    public var mailbox: Address
    /// The commit that delivered it to this mailbox: state notes hang on it.
    public var commit: OID
    public var state: DeliveryState

    public var json: JSONValue {
        guard case .object(var object) = message.json else { return message.json }
        object["mailbox"] = .string(mailbox.value)
        object["read"] = .bool(state.read)
        object["acked"] = .bool(state.acked)
        object["archived"] = .bool(state.archived)
        return .object(object)
    }
}

/// Read, acknowledged and archived, folded from the delivery's events in time order.
public struct DeliveryState: Sendable, Equatable {
    public var read = false
    public var acked = false
    public var archived = false

    public enum Event: String, CaseIterable, Sendable {
        case read, unread, ack, archive, unarchive
    }

    /// Events are note lines `{"at":…,"by":…,"event":…,"n":…}` (`n` counts the events the
    /// writer saw); sorting by (time, n, text) gives one order on every clone, so two
    /// clones' merged notes fold to the same state.
    init(noteText: String?) {
        guard let noteText else { return }
        let events = noteText.split(separator: "\n").compactMap { line -> (String, Int64, String, Event)? in
            guard let object = try? JSONValue.parse(line), let at = object["at"]?.stringValue,
                let event = object["event"]?.stringValue.flatMap(Event.init(rawValue:))
            else { return nil }
            return (at, object["n"]?.intValue ?? 0, String(line), event)
        }
        for (_, _, _, event) in events.sorted(by: { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }) {
            switch event {
            case .read: read = true
            case .unread: read = false
            case .ack: acked = true
            case .archive: archived = true
            case .unarchive: archived = false
            }
        }
    }

    public init(read: Bool = false, acked: Bool = false, archived: Bool = false) {
        self.read = read
        self.acked = acked
        self.archived = archived
    }
}
