import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// A merge request: a bead of type `merge-request` whose `merge_request` field says what to
/// land (branch, head, target) and where the refinery stands with it.
public struct MergeRequest: Sendable {
    /// Where the refinery stands with a merge request (`merge_request.state`).
    public enum State: String, Sendable, CaseIterable {
        /// Waiting in the queue (the bead is open).
        case queued
        /// Landed on the target (the bead is closed).
        case merged
        /// Sent back: a conflict, a red gate, unverified steps, a missing branch (the bead is blocked).
        case bounced
        /// Refused for good by the overseer (the bead is closed).
        case rejected
        /// PR mode: the branch was pushed for a pull request elsewhere (the bead stays open).
        case pullRequest = "pull-request"
    }

    public static let type = "merge-request"
    public static let field = "merge_request"

    public var bead: Bead

    public init(bead: Bead) { self.bead = bead }

    public var id: String { bead.id }
    var info: [String: JSONValue] { bead.fields[Self.field]?.objectValue ?? [:] }
    public func string(_ key: String) -> String? { info[key]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } }
    public var branch: String { string("branch") ?? "" }
    public var target: String? { string("target") }
    public var head: OID? { string("head").flatMap { OID(hex: $0) } }
    public var polecat: String? { string("polecat") }
    public var generation: String? { string("generation") }
    public var workBead: String? { string("bead") }
    public var molecule: String? { string("molecule") }
    public var reason: String? { string("reason") }
    public var attempts: Int { Int(info["attempts"]?.intValue ?? 0) }
    public var state: State {
        if let state = string("state").flatMap(State.init(rawValue:)) { return state }
        switch bead.status {
        case .closed: return .merged
        case .blocked: return .bounced
        default: return .queued
        }
    }
    /// Whether the refinery should take it up: queued and open.
    public var isQueued: Bool { state == .queued && (bead.status == .open || bead.status == .inProgress) }

    /// Changes `merge_request` fields of `bead` (nil removes a key).
    public static func set(_ bead: inout Bead, _ changes: [String: JSONValue?]) {
        var info = bead.fields[field]?.objectValue ?? [:]
        for (key, value) in changes { info[key] = value }
        bead.fields[field] = .object(info)
    }

    /// The fields of a new merge request.
    public static func draft(
        branch: String, head: OID, target: String, title: String? = nil, description: String,
        priority: Int? = nil, by record: PolecatRecord? = nil, bead: String? = nil, molecule: String? = nil,
        base: String? = nil, at stamp: String, actor: String
    ) -> Bead {
        var request = Bead(id: "", title: title ?? "Merge \(branch)")
        request.issueType = type
        request.description = description
        if let priority { request.priority = priority }
        var info: [String: JSONValue] = [
            "branch": .string(branch), "target": .string(target), "head": .string(head.hex),
            "state": .string(State.queued.rawValue), "queued_at": .int(wallClockNanoseconds()),
            "queued_by": .string(actor),
        ]
        if let record {
            info["polecat"] = .string(record.name)
            info["generation"] = .string(record.generation ?? "")
        }
        if let bead { info["bead"] = .string(bead) }
        if let molecule { info["molecule"] = .string(molecule) }
        if let base { info["base"] = .string(base) }
        request.fields[field] = .object(info)
        if let bead {
            request.dependencies.append(
                Dependency(issue: "", dependsOn: bead, type: .related, createdAt: stamp, createdBy: actor))
        }
        return request
    }

    /// Every merge request, oldest first.
    public static func all(in beads: BeadStore) throws -> [MergeRequest] {
        try beads.index().beads.values.filter { $0.type == type && !$0.deleted }
            .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            .map { MergeRequest(bead: try $0.bead()) }
    }

    /// When it was queued, in nanoseconds of the wall clock: orders requests made within one
    /// second (and under pinned dates) by age.
    public var queuedAt: Int64 { info["queued_at"]?.intValue ?? 0 }

    /// The queue in the order the refinery takes it: priority (0 first), then age, then id.
    public static func queue(in beads: BeadStore, target: String) throws -> [MergeRequest] {
        queue(of: try all(in: beads), target: target)
    }

    /// The queue among `requests` (already read), in the refinery's order.
    public static func queue(of requests: [MergeRequest], target: String) -> [MergeRequest] {
        requests.filter { $0.isQueued && ($0.target ?? target) == target }
            .sorted { a, b in
                (a.bead.priority, a.bead.createdAt ?? "", a.queuedAt, a.id)
                    < (b.bead.priority, b.bead.createdAt ?? "", b.queuedAt, b.id)
            }
    }

    static func wallClockNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// A merge request by id (or unique prefix); refuses a bead of another type.
    public static func load(_ given: String, in beads: BeadStore) throws -> MergeRequest {
        let id = try beads.resolve(given)
        let bead = try beads.load(id).bead
        guard bead.issueType == type else {
            throw GasworksError(.refused, "\(id) is a \(bead.issueType), not a merge request")
        }
        return MergeRequest(bead: bead)
    }
}
