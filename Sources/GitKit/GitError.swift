import CLibgit2

/// An error reported by libgit2, with the code, class and message it gave.
///
/// Only the codes a caller is expected to act on get a named case; every other
/// failure keeps libgit2's own text in `message`.
public struct GitError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        /// `GIT_ENOTFOUND`: the object, reference or path does not exist.
        case notFound
        /// `GIT_EEXISTS`: something already exists where a new one was to be created.
        case exists
        /// `GIT_EMODIFIED`: a reference no longer has the value a compare-and-swap expected.
        case modified
        /// `GIT_ELOCKED`: another writer holds the lock file; libgit2 does not retry.
        case locked
        /// `GIT_EAMBIGUOUS`: a short id or prefix matches more than one object.
        case ambiguous
        /// Any other negative return code.
        case other(Int32)

        init(rawValue: Int32) {
            switch rawValue {
            case GIT_ENOTFOUND.rawValue: self = .notFound
            case GIT_EEXISTS.rawValue: self = .exists
            case GIT_EMODIFIED.rawValue: self = .modified
            case GIT_ELOCKED.rawValue: self = .locked
            case GIT_EAMBIGUOUS.rawValue: self = .ambiguous
            default: self = .other(rawValue)
            }
        }
    }

    public let code: Code
    public let rawCode: Int32
    /// libgit2's error class (`git_error_t`), 0 when it set none.
    public let errorClass: Int32
    public let message: String
    /// The libgit2 function (or GitKit operation) that failed.
    public let function: String

    public init(code: Code, rawCode: Int32 = -1, errorClass: Int32 = 0, message: String, function: String) {
        self.code = code
        self.rawCode = rawCode
        self.errorClass = errorClass
        self.message = message
        self.function = function
    }

    /// Builds the error from `git_error_last()` right after `function` returned `rc`.
    init(rc: Int32, function: String) {
        let last = git_error_last()
        let text = last.flatMap { $0.pointee.message.map { String(cString: $0) } } ?? "error \(rc)"
        self.init(
            code: Code(rawValue: rc), rawCode: rc, errorClass: last.map { $0.pointee.klass } ?? 0,
            message: text, function: function)
    }

    public var description: String { "\(function): \(message)" }

    /// True for the failures that a compare-and-swap loop answers by reading again and retrying.
    public var isRetryableConflict: Bool {
        switch code {
        case .modified, .exists, .locked, .notFound: return true
        default: return false
        }
    }
}

/// The one path from a libgit2 return code to a thrown `GitError`.
@inline(__always)
func check(_ rc: Int32, _ function: @autoclosure () -> String) throws {
    if rc < 0 { throw GitError(rc: rc, function: function()) }
}
