/// A bead: the unit of work, with Beads' field names and every field it was given.
///
/// The state is one JSON object; typed accessors read and write its fields. Fields this
/// type does not know are kept as they are, so an import/export round trip loses nothing.
public struct Bead: Sendable, Equatable {
    public var fields: [String: JSONValue]

    public init(fields: [String: JSONValue]) { self.fields = fields }

    public init(id: String, title: String) {
        fields = ["id": .string(id), "title": .string(title)]
    }

    /// Beads' JSONL order, so exported lines read like Beads' own.
    public static let fieldOrder = [
        "id", "title", "description", "design", "acceptance_criteria", "notes", "status", "priority",
        "issue_type", "assignee", "labels", "created_at", "created_by", "updated_at", "updated_by", "closed_at",
        "close_reason", "external_ref", "defer_until", "due_at", "metadata", "dependencies", "comments",
        "deleted_at", "deleted_by", "delete_reason", "original_type",
    ]

    public var id: String {
        get { string("id") ?? "" }
        set { fields["id"] = .string(newValue) }
    }
    public var title: String {
        get { string("title") ?? "" }
        set { fields["title"] = .string(newValue) }
    }
    public var description: String? {
        get { string("description") }
        set { setString("description", newValue) }
    }
    public var status: BeadStatus {
        get { string("status").flatMap(BeadStatus.init(rawValue:)) ?? .open }
        set { fields["status"] = .string(newValue.rawValue) }
    }
    public var priority: Int {
        get { fields["priority"]?.intValue.map(Int.init) ?? 2 }
        set { fields["priority"] = .int(Int64(newValue)) }
    }
    public var issueType: String {
        get { string("issue_type") ?? "task" }
        set { fields["issue_type"] = .string(newValue) }
    }
    public var assignee: String? {
        get { string("assignee").flatMap { $0.isEmpty ? nil : $0 } }
        set { setString("assignee", newValue) }
    }
    public var labels: [String] {
        get { fields["labels"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        set { fields["labels"] = newValue.isEmpty ? nil : .array(newValue.map(JSONValue.string)) }
    }
    public var createdAt: String? { string("created_at") }
    public var updatedAt: String? { string("updated_at") }
    public var deferUntil: String? { string("defer_until") }
    public var isDeleted: Bool { fields["deleted_at"] != nil || string("status") == BeadStatus.tombstone.rawValue }

    public var dependencies: [Dependency] {
        get { fields["dependencies"]?.arrayValue?.compactMap(Dependency.init(json:)) ?? [] }
        set { fields["dependencies"] = newValue.isEmpty ? nil : .array(newValue.map(\.json)) }
    }

    public var comments: [Comment] {
        get { fields["comments"]?.arrayValue?.compactMap(Comment.init(json:)) ?? [] }
        set { fields["comments"] = newValue.isEmpty ? nil : .array(newValue.map(\.json)) }
    }

    /// The parent named by a `parent-child` dependency, if any.
    public var parent: String? { dependencies.first { $0.type == .parentChild }?.dependsOn }

    public func string(_ key: String) -> String? { fields[key]?.stringValue }

    public mutating func setString(_ key: String, _ value: String?) {
        fields[key] = value.map(JSONValue.string)
    }

    public var json: JSONValue { .object(fields) }

    /// Closes the bead at `stamp`, with a reason when given.
    public mutating func markClosed(at stamp: String, reason: String?) {
        status = .closed
        fields["closed_at"] = .string(stamp)
        if let reason { fields["close_reason"] = .string(reason) }
    }

    /// Turns the bead into a tombstone (kept, so that a sync never brings it back).
    public mutating func markDeleted(at stamp: String, by actor: String, reason: String?) {
        fields["original_type"] = .string(issueType)
        fields["deleted_at"] = .string(stamp)
        fields["deleted_by"] = .string(actor)
        if let reason { fields["delete_reason"] = .string(reason) }
        status = .tombstone
    }
}

public enum BeadStatus: String, CaseIterable, Sendable {
    case open
    case inProgress = "in_progress"
    case blocked, deferred, closed, pinned, hooked
    /// A deleted bead: kept as a state so that sync never resurrects it.
    case tombstone

    public static let userSettable: [BeadStatus] = [.open, .inProgress, .blocked, .deferred, .closed, .pinned, .hooked]
}

public enum IssueTypes {
    public static let known = [
        "bug", "feature", "task", "epic", "chore", "decision", "spike", "molecule", "step", "gate",
        "merge-request", "convoy", "message", "event", "agent", "role", "digest",
    ]
    /// Types that are machinery rather than work: never offered by `ready`.
    public static let internalTypes: Set<String> = [
        "molecule", "gate", "merge-request", "convoy", "message", "event", "agent", "role", "digest",
    ]
}

public enum DependencyType: String, CaseIterable, Sendable {
    case blocks
    case parentChild = "parent-child"
    case conditionalBlocks = "conditional-blocks"
    case waitsFor = "waits-for"
    case related
    case discoveredFrom = "discovered-from"
    case duplicates, supersedes
    case repliesTo = "replies-to"

    /// Types whose target must close before the dependent bead is ready; cycles among
    /// them (with parent-child) would make work impossible, so they are refused.
    public var isBlocking: Bool { self == .blocks || self == .conditionalBlocks || self == .waitsFor }
}

/// `issue_id` depends on `depends_on_id` with `type` (Beads' dependency record).
public struct Dependency: Sendable, Equatable {
    public var issue: String
    public var dependsOn: String
    public var type: DependencyType
    public var extra: [String: JSONValue]

    public init(issue: String, dependsOn: String, type: DependencyType, createdAt: String?, createdBy: String?) {
        self.issue = issue
        self.dependsOn = dependsOn
        self.type = type
        var extra: [String: JSONValue] = [:]
        if let createdAt { extra["created_at"] = .string(createdAt) }
        if let createdBy { extra["created_by"] = .string(createdBy) }
        self.extra = extra
    }

    init?(json: JSONValue) {
        guard var object = json.objectValue, let issue = object["issue_id"]?.stringValue,
            let target = object["depends_on_id"]?.stringValue,
            let type = DependencyType(rawValue: object["type"]?.stringValue ?? "blocks")
        else { return nil }
        self.issue = issue
        dependsOn = target
        self.type = type
        for key in ["issue_id", "depends_on_id", "type"] { object[key] = nil }
        extra = object
    }

    var json: JSONValue {
        var object = extra
        object["issue_id"] = .string(issue)
        object["depends_on_id"] = .string(dependsOn)
        object["type"] = .string(type.rawValue)
        return .object(object)
    }
}

public struct Comment: Sendable, Equatable {
    public var id: Int64
    public var issue: String
    public var author: String
    public var text: String
    public var createdAt: String

    init?(json: JSONValue) {
        guard let object = json.objectValue, let text = object["text"]?.stringValue else { return nil }
        id = object["id"]?.intValue ?? 0
        issue = object["issue_id"]?.stringValue ?? ""
        author = object["author"]?.stringValue ?? ""
        self.text = text
        createdAt = object["created_at"]?.stringValue ?? ""
    }

    public init(id: Int64, issue: String, author: String, text: String, createdAt: String) {
        self.id = id
        self.issue = issue
        self.author = author
        self.text = text
        self.createdAt = createdAt
    }

    var json: JSONValue {
        .object([
            "id": .int(id), "issue_id": .string(issue), "author": .string(author), "text": .string(text),
            "created_at": .string(createdAt),
        ])
    }
}
