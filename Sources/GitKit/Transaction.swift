import CLibgit2

/// One reference change inside an all-or-nothing transaction.
public struct ReferenceUpdate: Sendable, Equatable {
    public var name: String
    /// The value the reference must have now; nil means it must not exist.
    public var expected: OID?
    /// The value to write; nil deletes the reference.
    public var target: OID?

    public init(name: String, expected: OID?, target: OID?) {
        self.name = name
        self.expected = expected
        self.target = target
    }
}

extension Repository {
    /// Applies every update or none: all references are locked first, each one's current
    /// value is compared with its `expected`, and only if all match are they written.
    /// A mismatch throws `.modified` (or `.exists` for a ref expected to be absent) and a
    /// lock held elsewhere throws `.locked`; in both cases no reference changes.
    public func updateReferences(_ updates: [ReferenceUpdate], message: String) throws {
        guard !updates.isEmpty else { return }
        for update in updates { try ReferenceGuard.check?(update.name, update.target == nil) }
        var tx: OpaquePointer?
        try check(git_transaction_new(&tx, pointer), "git_transaction_new")
        defer { git_transaction_free(tx) }
        // Locking in name order keeps two transactions from each holding half of the other's set.
        let ordered = updates.sorted { $0.name < $1.name }
        for update in ordered {
            try check(git_transaction_lock_ref(tx, update.name), "git_transaction_lock_ref(\(update.name))")
        }
        for update in ordered {
            let current = try referenceTarget(update.name)
            if current != update.expected {
                let code: GitError.Code = update.expected == nil ? .exists : .modified
                throw GitError(
                    code: code,
                    message:
                        "reference '\(update.name)' is \(current?.hex ?? "absent"), expected \(update.expected?.hex ?? "absent")",
                    function: "updateReferences")
            }
        }
        for update in ordered {
            if let target = update.target {
                var raw = target.raw
                try check(
                    git_transaction_set_target(tx, update.name, &raw, nil, message),
                    "git_transaction_set_target(\(update.name))")
            } else if update.expected != nil {
                try check(git_transaction_remove(tx, update.name), "git_transaction_remove(\(update.name))")
            }
        }
        try check(git_transaction_commit(tx), "git_transaction_commit")
    }
}
