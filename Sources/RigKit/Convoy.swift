import BeadKit
import GitKit
import MailKit

/// A convoy: a bead of type `convoy` that tracks beads across rigs (`convoy.members`, each
/// a rig path and a bead id) and lands by itself — closed, the overseer mailed — once every
/// member is closed.
public struct Convoys {
    public static let type = "convoy"
    public static let field = "convoy"

    public struct Member: Sendable, Equatable {
        /// The rig's path ("." for this rig), as given.
        public var rig: String
        public var id: String
        public var label: String { rig == "." ? id : "\(rig):\(id)" }

        /// `<id>` (this rig) or `<path>:<id>` (another rig).
        public init(parsing text: String) throws {
            if let colon = text.lastIndex(of: ":") {
                rig = String(text[..<colon])
                id = String(text[text.index(after: colon)...])
            } else {
                rig = "."
                id = text
            }
            guard !rig.isEmpty, !id.isEmpty else { throw GasworksError(.usage, "invalid convoy member '\(text)'") }
        }

        init(rig: String, id: String) {
            self.rig = rig
            self.id = id
        }

        var json: JSONValue { .object(["rig": .string(rig), "id": .string(id)]) }
    }

    /// Where a member stands, read from its rig.
    public struct MemberState: Sendable {
        public var member: Member
        /// open, in_progress, blocked, closed, … or "missing" (no such rig or bead).
        public var status: String
        public var title: String
    }

    public let beads: BeadStore
    public init(beads: BeadStore) { self.beads = beads }

    var repository: Repository { beads.repository }

    /// The working directory other rigs' relative paths are taken from: this rig's checkout.
    var base: String {
        if let workdir = repository.workdir { return workdir.hasSuffix("/") ? String(workdir.dropLast()) : workdir }
        return repository.commonDir.hasSuffix("/") ? String(repository.commonDir.dropLast()) : repository.commonDir
    }

    func absolute(_ rig: String) -> String {
        if rig == "." { return base }
        if rig.hasPrefix("/") { return rig }
        return base + "/" + rig
    }

    public func members(of bead: Bead) -> [Member] {
        bead.fields[Self.field]?["members"]?.arrayValue?.compactMap { value in
            guard let rig = value["rig"]?.stringValue, let id = value["id"]?.stringValue else { return nil }
            return Member(rig: rig, id: id)
        } ?? []
    }

    /// Checks that each member exists (in its rig) and returns it with its full id.
    func resolve(_ member: Member) throws -> Member {
        let path = absolute(member.rig)
        let store: BeadStore
        if member.rig == "." {
            store = beads
        } else {
            guard let other = try? Repository.open(path) else {
                throw GasworksError(.notFound, "no rig at '\(member.rig)' (looked in \(path))")
            }
            store = try BeadStore(repository: other, actor: beads.actor)
        }
        return Member(rig: member.rig, id: try store.resolve(member.id))
    }

    public func create(title: String, members given: [String]) throws -> StoredBead {
        let members = try given.map { try resolve(try Member(parsing: $0)) }
        var draft = Bead(id: "", title: title)
        draft.issueType = Self.type
        draft.fields[Self.field] = .object(["members": .array(members.map(\.json))])
        return try beads.create(draft)
    }

    public func load(_ given: String) throws -> Bead {
        let id = try beads.resolve(given)
        let bead = try beads.load(id).bead
        guard bead.issueType == Self.type else {
            throw GasworksError(.refused, "\(id) is a \(bead.issueType), not a convoy")
        }
        return bead
    }

    public func add(_ given: String, members added: [String]) throws -> StoredBead {
        let convoy = try load(given)
        guard convoy.status != .closed else { throw GasworksError(.refused, "convoy \(convoy.id) has landed") }
        let adding = try added.map { try resolve(try Member(parsing: $0)) }
        return try beads.update(convoy.id, op: "convoy add") { bead in
            var current = members(of: bead)
            for member in adding where !current.contains(member) { current.append(member) }
            var info = bead.fields[Self.field]?.objectValue ?? [:]
            info["members"] = .array(current.map(\.json))
            bead.fields[Self.field] = .object(info)
        }
    }

    public func states(of convoy: Bead) -> [MemberState] {
        var stores: [String: BeadStore] = [".": beads]
        return members(of: convoy).map { member in
            if stores[member.rig] == nil, let other = try? Repository.open(absolute(member.rig)),
                let store = try? BeadStore(repository: other, actor: beads.actor)
            {
                stores[member.rig] = store
            }
            guard let store = stores[member.rig], let bead = try? store.load(member.id).bead else {
                return MemberState(member: member, status: "missing", title: "")
            }
            return MemberState(member: member, status: bead.status.rawValue, title: bead.title)
        }
    }

    public func all(includeClosed: Bool) throws -> [Bead] {
        try beads.index().beads.values
            .filter {
                $0.type == Self.type && !$0.deleted && (includeClosed || $0.status != BeadStatus.closed.rawValue)
            }
            .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            .map { try $0.bead() }
    }

    /// Lands every open convoy whose members are all closed: closed, the overseer mailed.
    /// Returns the ids landed.
    @discardableResult
    public func settle() throws -> [String] {
        var landed: [String] = []
        for convoy in try all(includeClosed: false) {
            let states = states(of: convoy)
            guard !states.isEmpty, states.allSatisfy({ $0.status == BeadStatus.closed.rawValue }) else { continue }
            var closedNow = false
            try beads.update(convoy.id, op: "convoy landed") { bead in
                guard bead.status != .closed else { return }
                bead.markClosed(at: beads.now, reason: "landed: all \(states.count) beads closed")
                closedNow = true
            }
            guard closedNow else { continue }
            _ = try Mailbox(repository: repository).send(
                MessageDraft(
                    from: beads.actor, subject: "Convoy landed: \(convoy.title)",
                    body: "Convoy \(convoy.id) (\(convoy.title)) has landed: every bead it tracks is closed.\n"
                        + states.map { "  ✓ \($0.member.label) \($0.title)\n" }.joined(),
                    type: "notification"),
                to: [try Address("overseer")], cc: [])
            landed.append(convoy.id)
        }
        return landed
    }
}
