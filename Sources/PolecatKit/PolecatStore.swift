import BeadKit
import GitKit

/// A worker's record: `refs/gt/polecats/<name>`, a chain of commits whose tree holds
/// `polecat.json` (canonical JSON), one commit per change of state. Heartbeats are not
/// commits (see `Heartbeat`).
public struct PolecatRecord: Sendable, Equatable {
    public enum Kind: String, Sendable { case polecat, crew }
    public enum State: String, Sendable {
        /// Reserved with its bead claimed, waiting for capacity (`gt.polecat.max`).
        case queued
        /// Its agent runs (or should: the deacon checks).
        case running
        /// It finished its work and submitted a merge request.
        case done
        /// Stopped by the overseer; its worktree and branch are kept.
        case stopped
        /// Removed: no worktree, its name free again.
        case nuked
    }

    public var fields: [String: JSONValue]

    public init(fields: [String: JSONValue]) { self.fields = fields }

    public init(name: String, kind: Kind) {
        fields = ["name": .string(name), "kind": .string(kind.rawValue), "state": .string(State.running.rawValue)]
    }

    public func string(_ key: String) -> String? { fields[key]?.stringValue }

    public var name: String { string("name") ?? "" }
    public var kind: Kind { string("kind").flatMap(Kind.init(rawValue:)) ?? .polecat }
    public var state: State {
        get { string("state").flatMap(State.init(rawValue:)) ?? .running }
        set { fields["state"] = .string(newValue.rawValue) }
    }
    /// The mail address and actor of this worker: `polecat/<name>` or `crew/<name>`.
    public var address: String { "\(kind.rawValue)/\(name)" }
    public var generation: String? {
        get { string("generation") }
        set { fields["generation"] = newValue.map { .string($0) } }
    }
    public var worktree: String? {
        get { string("worktree") }
        set { fields["worktree"] = newValue.map { .string($0) } }
    }
    public var branch: String? {
        get { string("branch") }
        set { fields["branch"] = newValue.map { .string($0) } }
    }
    public var bead: String? {
        get { string("bead") }
        set { fields["bead"] = newValue.map { .string($0) } }
    }
    public var molecule: String? {
        get { string("molecule") }
        set { fields["molecule"] = newValue.map { .string($0) } }
    }
    public var agent: String? {
        get { string("agent") }
        set { fields["agent"] = newValue.map { .string($0) } }
    }
    public var pid: Int32? {
        get { fields["pid"]?.intValue.map { Int32($0) } }
        set { fields["pid"] = newValue.map { .int(Int64($0)) } }
    }
    /// The process's start time (clock ticks after boot, from /proc): with the pid it names
    /// one process, so a reused pid is never taken for the agent.
    public var pidStart: UInt64? {
        get { fields["pid_start"]?.intValue.map { UInt64($0) } }
        set { fields["pid_start"] = newValue.map { .int(Int64($0)) } }
    }

    public var json: JSONValue { .object(fields) }
}

/// Reads and writes worker records with compare-and-swap.
public final class PolecatStore {
    public static let refPrefix = "refs/gt/polecats/"
    /// Crew records live beside polecats' in a namespace of their own.
    public static let crewPrefix = "refs/gt/crew/"
    static let fileName = "polecat.json"

    public let repository: Repository
    public let actor: String
    public let now: String
    /// `refs/gt/polecats/` or `refs/gt/crew/`.
    public let prefix: String
    private let signature: Signature

    public init(repository: Repository, actor: String, prefix: String = PolecatStore.refPrefix) throws {
        self.repository = repository
        self.actor = actor
        self.prefix = prefix
        signature = try Signature.committer(in: repository)
        now = ISO8601.format(signature.time)
    }

    public func refName(_ name: String) -> String { prefix + name }

    /// A record and the commit it was read from; nil when there is none.
    public func load(_ name: String) throws -> (record: PolecatRecord, commit: OID)? {
        guard let tip = try repository.referenceTarget(refName(name)) else { return nil }
        return (try record(at: tip, name: name), tip)
    }

    public func require(_ name: String) throws -> PolecatRecord {
        guard let found = try load(name) else { throw GasworksError(.notFound, "no polecat or crew member '\(name)'") }
        return found.record
    }

    func record(at commit: OID, name: String) throws -> PolecatRecord {
        let tree = try repository.commit(commit).tree
        guard let entry = try repository.treeEntry(tree, path: Self.fileName),
            let object = try JSONValue.parse(try repository.readBlobText(entry.id)).objectValue
        else {
            throw GasworksError(.badData, "corrupt record for '\(name)': commit \(commit.hex.prefix(12))")
        }
        return PolecatRecord(fields: object)
    }

    /// Every record, by name.
    public func all() throws -> [PolecatRecord] {
        try repository.references(withPrefix: prefix).compactMap { reference in
            let name = String(reference.name.dropFirst(prefix.count))
            guard !name.contains("/") else { return nil }
            return try record(at: reference.target, name: name)
        }
    }

    /// Writes `record` as a new commit on its chain only if the chain's tip is still
    /// `expected` (nil: the name is unused): two slings never take the same name.
    public func publish(_ record: PolecatRecord, op: String, expected: OID?) throws {
        var fields = record.fields
        fields["updated_at"] = .string(now)
        let blob = try repository.writeBlob(JSONValue.object(fields).canonicalText)
        let tree = try repository.writeTree([TreeEntry(name: Self.fileName, id: blob, kind: .blob)])
        let message = "\(op) \(record.name)\n\nGt-Op: \(op)\nGt-Actor: \(actor)\nGt-Polecat: \(record.name)\n"
        let commit = try repository.writeCommit(
            tree: tree, parents: expected.map { [$0] } ?? [], message: message, author: signature)
        try repository.setReference(
            refName(record.name), to: commit, expecting: expected, message: "polecat: \(op)")
    }

    /// Changes a record with compare-and-swap, re-reading and re-applying on conflict.
    @discardableResult
    public func update(_ name: String, op: String, _ change: (inout PolecatRecord) throws -> Void) throws
        -> PolecatRecord
    {
        try repository.withRetry(touching: [refName(name)]) {
            guard let (current, tip) = try load(name) else {
                throw GasworksError(.notFound, "no polecat or crew member '\(name)'")
            }
            var changed = current
            try change(&changed)
            if changed != current { try publish(changed, op: op, expected: tip) }
            return changed
        }
    }
}
