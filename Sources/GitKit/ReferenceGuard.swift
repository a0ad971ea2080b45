/// A rule every reference this process writes must pass, checked before the write. The
/// broker sets it in the process that carries out a worker's command, so that command can
/// change only the refs the worker owns, whatever code path it takes.
public enum ReferenceGuard {
    /// Throws to refuse a write (or, with `deleting`, a deletion) of the named reference.
    nonisolated(unsafe) public static var check: ((_ name: String, _ deleting: Bool) throws -> Void)?
}
