import CLibgit2

/// One note: the object it annotates and the blob holding its text.
public struct Note: Sendable, Equatable {
    public var annotated: OID
    public var blob: OID
}

/// One change to a notes ref; several are applied in a single notes commit.
public enum NoteEdit: Sendable, Equatable {
    /// Replace the note on the object.
    case set(OID, String)
    /// Add `line` at the end unless the note already has exactly that line
    /// (git's `cat_sort_uniq` merge treats a note as a set of lines).
    case appendLine(OID, String)
    case remove(OID)
    /// Point the note on the object at an existing blob.
    case setBlob(OID, OID)

    var object: OID {
        switch self {
        case .set(let id, _), .appendLine(let id, _), .remove(let id), .setBlob(let id, _): return id
        }
    }
}

/// Notes are read and written by GitKit itself rather than `git_note_*`: libgit2 1.5.1
/// writes notes trees flat, making every write and lookup O(n). GitKit reads any fan-out
/// git produces (flat, `ab/cdef…`, `ab/cd/ef…`) and writes git's one-level two-character
/// fan-out, so each write touches one subtree of about n/256 entries.
extension Repository {
    /// The text of the note on `object` under `notesRef`, nil when there is none.
    public func note(on object: OID, notesRef: String) throws -> String? {
        guard let tip = try referenceTarget(notesRef) else { return nil }
        let tree = try commit(tip).tree
        guard let (_, blob) = try locateNote(object.hex, in: tree) else { return nil }
        return try readBlobText(blob)
    }

    /// The tree of the notes ref's tip, for many lookups with `note(on:notesTree:)`.
    public func notesTree(_ notesRef: String) throws -> OID? {
        try referenceTarget(notesRef).map { try commit($0).tree }
    }

    /// The note on `object` in a notes tree from `notesTree(_:)`.
    public func note(on object: OID, notesTree tree: OID) throws -> String? {
        guard let (_, blob) = try locateNote(object.hex, in: tree) else { return nil }
        return try readBlobText(blob)
    }

    /// Every note under `notesRef`, sorted by annotated object.
    public func notes(notesRef: String) throws -> [Note] {
        guard let tip = try referenceTarget(notesRef) else { return [] }
        var found: [Note] = []
        try collectNotes(in: try commit(tip).tree, prefix: "", into: &found)
        return found.sorted { $0.annotated < $1.annotated }
    }

    public func setNote(_ text: String, on object: OID, notesRef: String) throws {
        try editNotes(notesRef: notesRef, [.set(object, text)], message: "Notes added by 'git notes add'")
    }

    public func appendNoteLine(_ line: String, on object: OID, notesRef: String) throws {
        try editNotes(notesRef: notesRef, [.appendLine(object, line)], message: "Notes added by 'git notes append'")
    }

    public func removeNote(on object: OID, notesRef: String) throws {
        try editNotes(notesRef: notesRef, [.remove(object)], message: "Notes removed by 'git notes remove'")
    }

    /// Applies all `edits` as one notes commit, compare-and-swapped onto `notesRef` and
    /// recomputed from the new tip whenever another writer got there first.
    /// With `packed`, the new objects are stored as one pack (see `withObjectBatch`):
    /// the right choice for thousands of notes at once.
    public func editNotes(notesRef: String, _ edits: [NoteEdit], message: String, packed: Bool = false) throws {
        guard !edits.isEmpty else { return }
        let signature = try Signature.committer(in: self)
        try updateReference(notesRef, message: message) { tip -> (ReferenceChange, Void) in
            let build = { (repository: Repository) in
                try repository.notesCommit(applying: edits, onto: tip, message: message, signature: signature)
            }
            let commitID = packed ? try withObjectBatch(build) : try build(self)
            return (commitID.map { .set($0) } ?? .keep, ())
        }
    }

    /// Writes the notes commit that applies `edits` on top of `tip`; nil when nothing changes.
    private func notesCommit(applying edits: [NoteEdit], onto tip: OID?, message: String, signature: Signature) throws
        -> OID?
    {
        let baseTree = try tip.map { try commit($0).tree }
        let tree = try notesTree(applying: edits, to: baseTree)
        if tree == baseTree { return nil }
        return try writeCommit(tree: tree, parents: tip.map { [$0] } ?? [], message: message + "\n", author: signature)
    }

    private func notesTree(applying edits: [NoteEdit], to base: OID?) throws -> OID {
        let groups = Dictionary(grouping: edits) { String($0.object.hex.prefix(2)) }
        return try editTree(base: base) { top in
            for (fanout, group) in groups {
                let subtree = top.entry(fanout).flatMap { $0.kind == .tree ? $0.id : nil }
                let newSubtree = try editTree(base: subtree) { sub in
                    for edit in group {
                        let hex = edit.object.hex
                        let rest = String(hex.dropFirst(2))
                        // A note git left flat at the top moves into the fan-out.
                        let existing = sub.entry(rest)?.id ?? top.entry(hex)?.id
                        try top.remove(hex)
                        switch edit {
                        case .set(_, let text):
                            try sub.insert(TreeEntry(name: rest, id: try writeBlob(text), kind: .blob))
                        case .appendLine(_, let line):
                            let old = try existing.map(readBlobText) ?? ""
                            let lines = old.split(separator: "\n", omittingEmptySubsequences: true)
                            if lines.contains(Substring(line)) {
                                if let existing { try sub.insert(TreeEntry(name: rest, id: existing, kind: .blob)) }
                                continue
                            }
                            let joined =
                                old.isEmpty || old.hasSuffix("\n") ? old + line + "\n" : old + "\n" + line + "\n"
                            try sub.insert(TreeEntry(name: rest, id: try writeBlob(joined), kind: .blob))
                        case .setBlob(_, let blob):
                            try sub.insert(TreeEntry(name: rest, id: blob, kind: .blob))
                        case .remove:
                            try sub.remove(rest)
                        }
                    }
                }
                if try treeEntries(newSubtree).isEmpty {
                    try top.remove(fanout)
                } else {
                    try top.insert(TreeEntry(name: fanout, id: newSubtree, kind: .tree))
                }
            }
        }
    }

    /// Finds the note for `hex` at any fan-out depth: returns its path and blob.
    private func locateNote(_ hex: String, in tree: OID) throws -> (String, OID)? {
        var path = ""
        var remaining = Substring(hex)
        var current = tree
        while !remaining.isEmpty {
            if let entry = try treeEntry(current, path: String(remaining)), entry.kind != .tree {
                return (path + remaining, entry.id)
            }
            guard remaining.count > 2,
                let entry = try treeEntry(current, path: String(remaining.prefix(2))), entry.kind == .tree
            else { return nil }
            path += remaining.prefix(2) + "/"
            remaining = remaining.dropFirst(2)
            current = entry.id
        }
        return nil
    }

    private func collectNotes(in tree: OID, prefix: String, into found: inout [Note]) throws {
        for entry in try treeEntries(tree) {
            let name = prefix + entry.name
            if entry.kind == .tree, entry.name.count == 2, name.count < 40 {
                try collectNotes(in: entry.id, prefix: name, into: &found)
            } else if entry.kind != .tree, name.count == 40, let annotated = OID(hex: name) {
                found.append(Note(annotated: annotated, blob: entry.id))
            }
        }
    }
}

// MARK: - merging

extension Repository {
    /// Every note in the notes tree of commit `notesCommit`, by annotated object.
    public func notes(ofCommit notesCommit: OID) throws -> [OID: OID] {
        var found: [Note] = []
        try collectNotes(in: try commit(notesCommit).tree, prefix: "", into: &found)
        return Dictionary(found.map { ($0.annotated, $0.blob) }, uniquingKeysWith: { first, _ in first })
    }

    /// The notes tree merging notes commits `ours` and `theirs` from their common ancestor
    /// `base`: a note only one side changed (added, edited, removed) takes that side's
    /// change; a note both changed becomes the set of lines either kept or added, sorted —
    /// git's `cat_sort_uniq` with deletions respected. Written into `ours`' tree, so pass
    /// the two commits in a fixed order for a result that does not depend on the caller.
    public func mergedNotesTree(base: OID?, ours: OID, theirs: OID) throws -> OID {
        let baseNotes = try base.map { try notes(ofCommit: $0) } ?? [:]
        let ourNotes = try notes(ofCommit: ours)
        let theirNotes = try notes(ofCommit: theirs)
        var edits: [NoteEdit] = []
        for object in Set(ourNotes.keys).union(theirNotes.keys).sorted() {
            let (b, o, t) = (baseNotes[object], ourNotes[object], theirNotes[object])
            if o == t || t == b { continue }
            if o == b {
                edits.append(t.map { .setBlob(object, $0) } ?? .remove(object))
                continue
            }
            func lines(_ blob: OID?) throws -> Set<Substring> {
                guard let blob else { return [] }
                return Set(try readBlobText(blob).split(separator: "\n", omittingEmptySubsequences: true))
            }
            let (baseLines, ourLines, theirLines) = (try lines(b), try lines(o), try lines(t))
            let kept = ourLines.intersection(theirLines)
                .union(ourLines.subtracting(baseLines))
                .union(theirLines.subtracting(baseLines))
            edits.append(
                kept.isEmpty ? .remove(object) : .set(object, kept.sorted().map { $0 + "\n" }.joined()))
        }
        let tree = try commit(ours).tree
        return edits.isEmpty ? tree : try notesTree(applying: edits, to: tree)
    }
}
