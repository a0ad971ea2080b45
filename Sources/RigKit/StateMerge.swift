import BeadKit
import GitKit

/// The deterministic three-way merge of two versions of one JSON state document (a bead,
/// a polecat record, a patrol report) that diverged from `base` on two machines.
///
/// The result never depends on which side is called "ours": wherever both sides changed
/// one value differently, the *preferred* side's value is taken, and which side is
/// preferred is decided by the sides themselves (see `Sync`), not by who merges.
public enum StateMerge {
    /// Merges `ours` and `theirs`. `preferOurs` settles values both sides changed.
    public static func merge(base: JSONValue?, ours: JSONValue, theirs: JSONValue, preferOurs: Bool) -> JSONValue {
        value(base: base, ours: ours, theirs: theirs, preferOurs: preferOurs) ?? (preferOurs ? ours : theirs)
    }

    /// One value: unchanged on one side → the other side's; changed on both → objects key
    /// by key, arrays element by element, anything else the preferred side's. A value one
    /// side removed and the other changed is kept (no field is lost).
    static func value(base: JSONValue?, ours: JSONValue?, theirs: JSONValue?, preferOurs: Bool) -> JSONValue? {
        if ours == theirs { return ours }
        if ours == base { return theirs }
        if theirs == base { return ours }
        guard let ours else { return theirs }
        guard let theirs else { return ours }
        switch (ours, theirs) {
        case (.object(let o), .object(let t)):
            let b = base?.objectValue ?? [:]
            var out: [String: JSONValue] = [:]
            for key in Set(o.keys).union(t.keys) {
                var (bv, ov, tv) = (b[key], o[key], t[key])
                // A list or object a writer emptied is often left out altogether (no labels,
                // no comments): absent then means empty, so removing the last element is a
                // removal, not a deletion the other side's edit would override.
                let empty = [bv, ov, tv].compactMap { $0 }.first.flatMap(Self.emptyValue)
                if let empty, [bv, ov, tv].allSatisfy({ $0 == nil || Self.emptyValue($0!) == empty }) {
                    (bv, ov, tv) = (bv ?? empty, ov ?? empty, tv ?? empty)
                    let merged = value(base: bv, ours: ov, theirs: tv, preferOurs: preferOurs)
                    let sideLacked = o[key] == nil || t[key] == nil
                    if let merged, merged != empty || !sideLacked { out[key] = merged }
                    continue
                }
                if let merged = value(base: bv, ours: ov, theirs: tv, preferOurs: preferOurs) {
                    out[key] = merged
                }
            }
            return .object(out)
        case (.array(let o), .array(let t)):
            return .array(mergeArrays(base: base?.arrayValue ?? [], ours: o, theirs: t, preferOurs: preferOurs))
        default:
            return preferOurs ? ours : theirs
        }
    }

    static func emptyValue(_ value: JSONValue) -> JSONValue? {
        switch value {
        case .array: return .array([])
        case .object: return .object([:])
        default: return nil
        }
    }

    /// Elements are compared whole. An element is kept when both sides have it, or when one
    /// side added it; one that either side removed stays removed. Order: the preferred
    /// side's, then the other side's additions in its order.
    static func mergeArrays(base: [JSONValue], ours: [JSONValue], theirs: [JSONValue], preferOurs: Bool)
        -> [JSONValue]
    {
        // A dependency is one per target and type, whenever and by whom it was recorded.
        let key = { (value: JSONValue) -> String in
            if let target = value["depends_on_id"]?.stringValue, let type = value["type"]?.stringValue {
                return "dependency \(target) \(type)"
            }
            return value.compactText()
        }
        let (first, second) = preferOurs ? (ours, theirs) : (theirs, ours)
        let baseKeys = Set(base.map(key))
        let firstKeys = Set(first.map(key))
        let secondKeys = Set(second.map(key))
        var out: [JSONValue] = []
        var seen: Set<String> = []
        for element in first {
            let k = key(element)
            guard secondKeys.contains(k) || !baseKeys.contains(k), seen.insert(k).inserted else { continue }
            out.append(element)
        }
        for element in second {
            let k = key(element)
            guard !firstKeys.contains(k), !baseKeys.contains(k), seen.insert(k).inserted else { continue }
            out.append(element)
        }
        return out
    }
}

/// Two machines claimed one bead while apart; the earlier claim keeps it.
public struct ClaimConflict: Sendable, Equatable {
    public var bead: String
    public var title: String
    public var winner: String
    public var loser: String
    public var winnerClaimed: Int64
    public var loserClaimed: Int64
}

/// The bead rules on top of `StateMerge`.
public enum BeadMerge {
    /// One side of a diverged bead: its state and when its current assignee took it.
    public struct Side {
        public var bead: JSONValue
        public var claimedAt: Int64?

        public init(bead: JSONValue, claimedAt: Int64?) {
            self.bead = bead
            self.claimedAt = claimedAt
        }
    }

    /// Merges two versions of a bead:
    /// - fields as `StateMerge` does; `updated_at` is the later of the two;
    /// - a deletion on either side stands (a tombstone is never undone by the other side's
    ///   edits); with both deleted, the preferred side's tombstone;
    /// - when both sides gave the bead to different assignees, the one who claimed first
    ///   keeps it (ties: the smaller name), with that side's status; the merge adds a
    ///   comment naming both claims, at `time`, and returns the conflict so the loser is told.
    public static func merge(base: JSONValue?, ours: Side, theirs: Side, preferOurs: Bool, time: Int64)
        -> (JSONValue, ClaimConflict?)
    {
        var merged = StateMerge.merge(base: base, ours: ours.bead, theirs: theirs.bead, preferOurs: preferOurs)
        guard case .object(var fields) = merged else { return (merged, nil) }
        let o = Bead(fields: ours.bead.objectValue ?? [:])
        let t = Bead(fields: theirs.bead.objectValue ?? [:])
        let b = base.flatMap { $0.objectValue }.map { Bead(fields: $0) }

        switch (o.updatedAt, t.updatedAt) {
        case (let a?, let b?):
            let (ia, ib) = (instant(a), instant(b))
            fields["updated_at"] = .string(ia == ib ? (preferOurs ? a : b) : (ia > ib ? a : b))
        case (let a?, nil): fields["updated_at"] = .string(a)
        case (nil, let b?): fields["updated_at"] = .string(b)
        case (nil, nil): break
        }

        let deletionKeys = ["status", "deleted_at", "deleted_by", "delete_reason", "original_type"]
        let (oDeleted, tDeleted) = (o.isDeleted, t.isDeleted)
        if oDeleted || tDeleted {
            let source = oDeleted && tDeleted ? (preferOurs ? o : t) : (oDeleted ? o : t)
            for key in deletionKeys { fields[key] = source.fields[key] }
            merged = .object(fields)
            return (merged, nil)
        }

        var conflict: ClaimConflict?
        if let oa = o.assignee, let ta = t.assignee, oa != ta, oa != b?.assignee, ta != b?.assignee {
            let oTime = ours.claimedAt ?? .max
            let tTime = theirs.claimedAt ?? .max
            let oursWins = (oTime, oa) < (tTime, ta)
            let (winner, loser) = oursWins ? (o, t) : (t, o)
            for key in ["assignee", "status", "closed_at", "close_reason"] { fields[key] = winner.fields[key] }
            let found = ClaimConflict(
                bead: winner.id, title: winner.title, winner: winner.assignee ?? "", loser: loser.assignee ?? "",
                winnerClaimed: oursWins ? oTime : tTime, loserClaimed: oursWins ? tTime : oTime)
            conflict = found
            var comments = fields["comments"]?.arrayValue ?? []
            let nextID = (comments.compactMap { $0["id"]?.intValue }.max() ?? 0) + 1
            comments.append(
                .object([
                    "id": .int(nextID), "issue_id": .string(winner.id), "author": .string("gasworks sync"),
                    "created_at": .string(ISO8601.format(time)),
                    "text": .string(
                        "Claim conflict: \(found.winner) claimed this at \(ISO8601.format(found.winnerClaimed)), "
                            + "\(found.loser) at \(ISO8601.format(found.loserClaimed)) on another clone; "
                            + "\(found.winner) keeps it."),
                ]))
            fields["comments"] = .array(comments)
        }
        return (.object(fields), conflict)
    }

    static func instant(_ text: String) -> Int64 { ISO8601.parse(text) ?? .min }
}
