import BeadKit
import GitKit

/// What one patrol did and found. Stored as `patrol.json` in a commit on
/// `refs/gt/deacon/patrol` whenever it acted or its findings changed; the commit message
/// lists every action with its reason, so `git log refs/gt/deacon/patrol` is the deacon's
/// record.
public struct PatrolReport: Sendable {
    public struct Action: Sendable, Equatable {
        /// nudge, escalate, restart, release, repair, flag, report.
        public var kind: String
        public var worker: String
        public var reason: String

        var json: JSONValue { .object(["kind": .string(kind), "worker": .string(worker), "reason": .string(reason)]) }
        init(kind: String, worker: String, reason: String) {
            self.kind = kind
            self.worker = worker
            self.reason = reason
        }
        init?(json: JSONValue) {
            guard let kind = json["kind"]?.stringValue else { return nil }
            self.kind = kind
            worker = json["worker"]?.stringValue ?? ""
            reason = json["reason"]?.stringValue ?? ""
        }
    }

    public struct Problem: Sendable, Equatable {
        /// stalled, escalated, dead, drift, orphan.
        public var kind: String
        public var worker: String
        public var detail: String

        var json: JSONValue { .object(["kind": .string(kind), "worker": .string(worker), "detail": .string(detail)]) }
        init(kind: String, worker: String, detail: String) {
            self.kind = kind
            self.worker = worker
            self.detail = detail
        }
        init?(json: JSONValue) {
            guard let kind = json["kind"]?.stringValue else { return nil }
            self.kind = kind
            worker = json["worker"]?.stringValue ?? ""
            detail = json["detail"]?.stringValue ?? ""
        }
    }

    public var at: String
    public var checked: Int
    public var healthy: Int
    public var actions: [Action]
    public var problems: [Problem]
    /// What the deacon remembers between patrols: nudges per worker generation, respawns
    /// per bead, findings already reported.
    public var memory: [String: JSONValue]

    var json: JSONValue {
        .object([
            "at": .string(at), "checked": .int(Int64(checked)), "healthy": .int(Int64(healthy)),
            "actions": .array(actions.map(\.json)), "problems": .array(problems.map(\.json)),
            "memory": .object(memory),
        ])
    }

    init(at: String, checked: Int, healthy: Int, actions: [Action], problems: [Problem], memory: [String: JSONValue]) {
        self.at = at
        self.checked = checked
        self.healthy = healthy
        self.actions = actions
        self.problems = problems
        self.memory = memory
    }

    init(json: JSONValue) {
        at = json["at"]?.stringValue ?? ""
        checked = Int(json["checked"]?.intValue ?? 0)
        healthy = Int(json["healthy"]?.intValue ?? 0)
        actions = json["actions"]?.arrayValue?.compactMap(Action.init(json:)) ?? []
        problems = json["problems"]?.arrayValue?.compactMap(Problem.init(json:)) ?? []
        memory = json["memory"]?.objectValue ?? [:]
    }

    public static let ref = "refs/gt/deacon/patrol"
    static let fileName = "patrol.json"

    /// The last report written, if any.
    public static func last(in repository: Repository) throws -> (report: PatrolReport, commit: OID)? {
        guard let tip = try repository.referenceTarget(ref) else { return nil }
        let tree = try repository.commit(tip).tree
        guard let entry = try repository.treeEntry(tree, path: fileName) else {
            throw GasworksError(.badData, "\(ref) has no \(fileName)")
        }
        let text = try repository.readBlobText(entry.id)
        guard let json = try? JSONValue.parse(text), json.objectValue != nil else {
            throw GasworksError(.badData, "\(ref): \(fileName) at \(tip.hex.prefix(12)) is not a JSON object")
        }
        return (PatrolReport(json: json), tip)
    }

    /// The commit message: a summary line, then every action and its reason.
    var message: String {
        var text =
            "patrol: \(checked) checked, \(healthy) healthy, \(actions.count) action\(actions.count == 1 ? "" : "s")"
        text += problems.isEmpty ? "\n" : ", \(problems.count) open problem\(problems.count == 1 ? "" : "s")\n"
        if !actions.isEmpty { text += "\n" + actions.map { "- \($0.kind) \($0.worker): \($0.reason)\n" }.joined() }
        if !problems.isEmpty {
            text += "\nOpen:\n" + problems.map { "- \($0.kind) \($0.worker): \($0.detail)\n" }.joined()
        }
        return text + "\nGt-Op: patrol\nGt-Actor: deacon\n"
    }
}
