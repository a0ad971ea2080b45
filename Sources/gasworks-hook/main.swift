import BeadKit
import GitKit
import HookKit

#if canImport(Glibc)
    import Glibc
#endif

// `gasworks-hook commit-msg <message file>`: what the commit-msg hook runs. The same check
// as `git rig hook commit-msg`, in an executable that links only GitKit and BeadKit: a
// third of the start-up time of the full `gasworks` binary, paid on a worker's commits.

func fail(_ message: String, _ status: Int32) -> Never {
    let bytes = Array("fatal: \(message)\n".utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(status)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 2, arguments[0] == "commit-msg" else {
    fail("usage: gasworks-hook commit-msg <message file>", GasworksError.Kind.usage.rawValue)
}
do {
    let repository = try Repository.discover(from: ".")
    try CommitCheck(beads: try BeadStore(repository: repository)).commitMessage(file: arguments[1])
    exit(0)
} catch let error as GasworksError {
    fail(error.message, error.exitCode)
} catch let error as GitError {
    fail(error.message, GasworksError.Kind.repository.rawValue)
} catch {
    fail("\(error)", GasworksError.Kind.repository.rawValue)
}
