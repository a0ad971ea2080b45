/// An error a user sees: one line on stderr (`fatal: <message>`) and a documented exit code.
public struct GasworksError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Exit codes shared by every `git <tool>` command (documented in each man page).
    public enum Kind: Int32, Sendable {
        /// The request was valid but refused by the rules (claim lost, cycle, closed step…).
        case refused = 1
        /// An id, prefix, mailbox or other name that matches nothing.
        case notFound = 2
        /// A prefix that matches more than one bead.
        case ambiguous = 3
        /// Wrong arguments or an invalid value (status, priority, type…): EX_USAGE.
        case usage = 64
        /// Malformed input data or a corrupt stored object: EX_DATAERR.
        case badData = 65
        /// Not inside a git repository, or the repository failed: git's own 128.
        case repository = 128
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var exitCode: Int32 { kind.rawValue }
    public var description: String { message }
}
