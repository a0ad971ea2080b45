import CLibgit2

/// One entry of a tree, copied out of libgit2.
public struct TreeEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case blob, executable, tree, link, commit
    }

    public var name: String
    public var id: OID
    public var kind: Kind

    public init(name: String, id: OID, kind: Kind) {
        self.name = name
        self.id = id
        self.kind = kind
    }

    var filemode: git_filemode_t {
        switch kind {
        case .blob: return GIT_FILEMODE_BLOB
        case .executable: return GIT_FILEMODE_BLOB_EXECUTABLE
        case .tree: return GIT_FILEMODE_TREE
        case .link: return GIT_FILEMODE_LINK
        case .commit: return GIT_FILEMODE_COMMIT
        }
    }

    static func kind(of mode: git_filemode_t) -> Kind {
        switch mode {
        case GIT_FILEMODE_TREE: return .tree
        case GIT_FILEMODE_BLOB_EXECUTABLE: return .executable
        case GIT_FILEMODE_LINK: return .link
        case GIT_FILEMODE_COMMIT: return .commit
        default: return .blob
        }
    }
}

/// A commit, copied out of libgit2.
public struct Commit: Sendable, Equatable {
    public var id: OID
    public var tree: OID
    public var parents: [OID]
    public var message: String
    public var author: Signature
    public var committer: Signature
}

// MARK: - blobs

extension Repository {
    @discardableResult
    public func writeBlob(_ bytes: some Collection<UInt8>) throws -> OID {
        var oid = git_oid()
        let rc =
            bytes.withContiguousStorageIfAvailable { buffer in
                git_blob_create_from_buffer(&oid, pointer, buffer.baseAddress, buffer.count)
            } ?? Array(bytes).withUnsafeBytes { git_blob_create_from_buffer(&oid, pointer, $0.baseAddress, $0.count) }
        try check(rc, "git_blob_create_from_buffer")
        return recordWrite(OID(oid))
    }

    @discardableResult
    public func writeBlob(_ text: String) throws -> OID { try writeBlob(Array(text.utf8)) }

    public func readBlob(_ id: OID) throws -> [UInt8] {
        try withObject(id, GIT_OBJECT_BLOB, "git_blob_lookup") { blob in
            let size = Int(git_blob_rawsize(blob))
            guard size > 0, let raw = git_blob_rawcontent(blob) else { return [] }
            return Array(UnsafeRawBufferPointer(start: raw, count: size))
        }
    }

    public func readBlobText(_ id: OID) throws -> String {
        String(decoding: try readBlob(id), as: UTF8.self)
    }
}

// MARK: - trees

extension Repository {
    /// Writes a tree from `entries` (any order; libgit2 sorts them as git does).
    @discardableResult
    public func writeTree(_ entries: [TreeEntry]) throws -> OID {
        try editTree(base: nil) { builder in
            for entry in entries { try builder.insert(entry) }
        }
    }

    /// Writes a tree that starts as `base` (nil: empty) and is changed by `edit`.
    public func editTree(base: OID?, _ edit: (TreeBuilder) throws -> Void) throws -> OID {
        let builder = try TreeBuilder(repository: self, base: base)
        try edit(builder)
        return try builder.write()
    }

    public func treeEntries(_ id: OID) throws -> [TreeEntry] {
        try withObject(id, GIT_OBJECT_TREE, "git_tree_lookup") { tree in
            let count = git_tree_entrycount(tree)
            var entries: [TreeEntry] = []
            entries.reserveCapacity(count)
            for index in 0..<count {
                let entry = git_tree_entry_byindex(tree, index)!
                entries.append(Self.copy(entry))
            }
            return entries
        }
    }

    /// The entry at a slash-separated `path` inside tree `id`, nil when there is none.
    public func treeEntry(_ id: OID, path: String) throws -> TreeEntry? {
        try withObject(id, GIT_OBJECT_TREE, "git_tree_lookup") { tree in
            var entry: OpaquePointer?
            let rc = git_tree_entry_bypath(&entry, tree, path)
            if rc == GIT_ENOTFOUND.rawValue { return nil }
            try check(rc, "git_tree_entry_bypath(\(path))")
            defer { git_tree_entry_free(entry) }
            return Self.copy(entry!)
        }
    }

    static func copy(_ entry: OpaquePointer) -> TreeEntry {
        TreeEntry(
            name: String(cString: git_tree_entry_name(entry)),
            id: OID(git_tree_entry_id(entry)),
            kind: TreeEntry.kind(of: git_tree_entry_filemode(entry)))
    }
}

/// A tree being assembled; `Repository.editTree` owns it and frees it when done.
public final class TreeBuilder {
    private let repository: Repository
    private let pointer: OpaquePointer

    init(repository: Repository, base: OID?) throws {
        self.repository = repository
        var out: OpaquePointer?
        if let base {
            try repository.withObject(base, GIT_OBJECT_TREE, "git_tree_lookup") { tree in
                try check(git_treebuilder_new(&out, repository.pointer, tree), "git_treebuilder_new")
            }
        } else {
            try check(git_treebuilder_new(&out, repository.pointer, nil), "git_treebuilder_new")
        }
        pointer = out!
    }

    deinit { git_treebuilder_free(pointer) }

    public func insert(_ entry: TreeEntry) throws {
        var raw = entry.id.raw
        try check(
            git_treebuilder_insert(nil, pointer, entry.name, &raw, entry.filemode),
            "git_treebuilder_insert(\(entry.name))")
    }

    /// Removes `name`; removing a name that is not there is not an error.
    public func remove(_ name: String) throws {
        guard git_treebuilder_get(pointer, name) != nil else { return }
        try check(git_treebuilder_remove(pointer, name), "git_treebuilder_remove(\(name))")
    }

    public func entry(_ name: String) -> TreeEntry? {
        git_treebuilder_get(pointer, name).map(Repository.copy)
    }

    public var count: Int { Int(git_treebuilder_entrycount(pointer)) }

    func write() throws -> OID {
        var oid = git_oid()
        try check(git_treebuilder_write(&oid, pointer), "git_treebuilder_write")
        return repository.recordWrite(OID(oid))
    }
}

// MARK: - commits

extension Repository {
    /// Writes a commit object; moves no reference (callers publish it by compare-and-swap).
    @discardableResult
    public func writeCommit(
        tree: OID, parents: [OID], message: String, author: Signature, committer: Signature? = nil
    ) throws -> OID {
        try withObject(tree, GIT_OBJECT_TREE, "git_tree_lookup") { treePointer in
            var parentPointers: [OpaquePointer?] = []
            defer { for parent in parentPointers { git_commit_free(parent) } }
            for parent in parents {
                var raw = parent.raw
                var commit: OpaquePointer?
                try check(git_commit_lookup(&commit, pointer, &raw), "git_commit_lookup(\(parent))")
                parentPointers.append(commit)
            }
            return try author.withRaw { authorRaw in
                try (committer ?? author).withRaw { committerRaw in
                    var oid = git_oid()
                    try parentPointers.withUnsafeMutableBufferPointer { buffer in
                        try check(
                            git_commit_create(
                                &oid, pointer, nil, authorRaw, committerRaw, nil, message, treePointer,
                                buffer.count, buffer.baseAddress),
                            "git_commit_create")
                    }
                    return recordWrite(OID(oid))
                }
            }
        }
    }

    public func commit(_ id: OID) throws -> Commit {
        try withObject(id, GIT_OBJECT_COMMIT, "git_commit_lookup") { commit in
            let parentCount = git_commit_parentcount(commit)
            return Commit(
                id: id,
                tree: OID(git_commit_tree_id(commit)),
                parents: (0..<parentCount).map { OID(git_commit_parent_id(commit, $0)) },
                message: String(cString: git_commit_message(commit)),
                author: Signature(git_commit_author(commit)),
                committer: Signature(git_commit_committer(commit)))
        }
    }

    /// The best common ancestor of two commits, nil when they share no history.
    public func mergeBase(_ a: OID, _ b: OID) throws -> OID? {
        var out = git_oid()
        var rawA = a.raw
        var rawB = b.raw
        let rc = git_merge_base(&out, pointer, &rawA, &rawB)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check(rc, "git_merge_base")
        return OID(out)
    }

    /// True when `ancestor` is reachable from `descendant` (or equal to it).
    public func isAncestor(_ ancestor: OID, of descendant: OID) throws -> Bool {
        if ancestor == descendant { return true }
        var rawA = descendant.raw
        var rawB = ancestor.raw
        let rc = git_graph_descendant_of(pointer, &rawA, &rawB)
        try check(rc, "git_graph_descendant_of")
        return rc == 1
    }

    func recordWrite(_ id: OID) -> OID {
        batchWrites?.append(id)
        return id
    }

    public func objectExists(_ id: OID) throws -> Bool {
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, pointer), "git_repository_odb")
        defer { git_odb_free(odb) }
        var raw = id.raw
        return git_odb_exists(odb, &raw) == 1
    }

    /// Resolves a revision expression (`HEAD`, `main~2`, an abbreviated id) to an object id.
    public func revparse(_ spec: String) throws -> OID {
        var object: OpaquePointer?
        try check(git_revparse_single(&object, pointer, spec), "git_revparse_single(\(spec))")
        defer { git_object_free(object) }
        return OID(git_object_id(object))
    }

    /// Looks up an object of `type`, hands it to `body`, and frees it afterwards.
    func withObject<T>(
        _ id: OID, _ type: git_object_t, _ function: String, _ body: (OpaquePointer) throws -> T
    ) throws -> T {
        var raw = id.raw
        var object: OpaquePointer?
        try check(git_object_lookup(&object, pointer, &raw, type), "\(function)(\(id))")
        defer { git_object_free(object) }
        return try body(object!)
    }
}

/// Hashing with git's own SHA-1, for ids derived from content.
public enum GitHash {
    /// The 20-byte SHA-1 of `bytes` as a git blob (`git hash-object` without writing).
    public static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        Libgit2.ready
        var oid = git_oid()
        _ = bytes.withUnsafeBytes { git_odb_hash(&oid, $0.baseAddress, $0.count, GIT_OBJECT_BLOB) }
        return withUnsafeBytes(of: &oid.id) { Array($0) }
    }
}

// MARK: - history walks

extension Repository {
    /// Commits reachable from `tips` but not from `hidden`, newest first by commit time
    /// (git's default order; on a linear chain, chain order), at most `limit` of them.
    /// The walk is incremental: a small `limit` reads only that many commits.
    public func walk(from tips: [OID], hiding hidden: [OID] = [], limit: Int = .max) throws -> [OID] {
        var found: [OID] = []
        try walk(from: tips, hiding: hidden) { id in
            found.append(id)
            return found.count < limit
        }
        return found
    }

    /// Visits the same commits one at a time until `visit` returns false.
    ///
    /// libgit2 1.5's revwalk prepares by walking the whole history (`limit_list`) before
    /// returning the first commit: 10,000 commits cost ~40 ms even for one result. This
    /// walk keeps a time-ordered frontier and reads commits only as it reaches them; hidden
    /// commits travel through the same frontier, marking their ancestors, and the walk ends
    /// when only hidden commits are left in it (git's own approach).
    public func walk(from tips: [OID], hiding hidden: [OID] = [], _ visit: (OID) throws -> Bool) throws {
        struct Entry {
            var time: Int64
            var order: Int
            var id: OID
            var parents: [OID]
        }
        var frontier: [Entry] = []  // ascending by (time, -order): the next commit is last
        var hiddenSet = Set<OID>()
        var seen = Set<OID>()
        var order = 0
        var interesting = 0
        func enqueue(_ id: OID, hidden: Bool) throws {
            if hidden, hiddenSet.insert(id).inserted, seen.contains(id) {
                if frontier.contains(where: { $0.id == id }) { interesting -= 1 }
                return
            }
            guard seen.insert(id).inserted else { return }
            let commit = try self.commit(id)
            order += 1
            let entry = Entry(time: commit.committer.time, order: order, id: id, parents: commit.parents)
            let index = frontier.firstIndex { ($0.time, -$0.order) > (entry.time, -entry.order) } ?? frontier.count
            frontier.insert(entry, at: index)
            if !hidden { interesting += 1 }
        }
        for id in hidden { try enqueue(id, hidden: true) }
        for tip in tips { try enqueue(tip, hidden: false) }
        while interesting > 0, let next = frontier.popLast() {
            if hiddenSet.contains(next.id) {
                for parent in next.parents { try enqueue(parent, hidden: true) }
                continue
            }
            interesting -= 1
            if try !visit(next.id) { return }
            for parent in next.parents { try enqueue(parent, hidden: false) }
        }
    }
}
