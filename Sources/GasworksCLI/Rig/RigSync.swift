import ArgumentParser
import BeadKit
import GitKit
import RigKit

/// `git rig sync`: fetch a remote's state, merge what diverged, push the result.
struct RigSync: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Fetch refs/gt/* and refs/notes/gt/* from a remote, merge diverged chains, push without force.",
        discussion: """
            The remote's state is fetched to refs/gt-sync/<remote>/. A ref only one side moved is \
            created or fast-forwarded; one both moved gets a merge commit that is the same in every \
            clone (beads field by field, mailboxes and notes as unions). Then every state ref that \
            differs from the remote's is pushed without force; when the remote moved meanwhile, the \
            round is repeated.
            """)
    @OptionGroup var common: CommonOptions
    @Argument(help: "The remote (default: gt.remote, origin, or the only remote).") var remote: String?
    @Flag(name: .long, help: "Fetch and merge only.") var noPush = false
    @Option(name: .long, help: "Rounds to try while the remote keeps moving (default 5).") var attempts = 5

    func validate() throws {
        if attempts < 1 || attempts > 100 { throw ValidationError("--attempts must be between 1 and 100") }
    }

    func run() throws {
        try reportingErrors {
            let repository = try common.openRepository()
            var sync = try Sync(repository: repository, remote: remote ?? Sync.defaultRemote(repository))
            sync.push = !noPush
            sync.attempts = attempts
            let outcome = try sync.run()
            var out = ""
            for conflict in outcome.conflicts {
                out +=
                    "claim conflict on \(conflict.bead): \(conflict.winner) keeps it, \(conflict.loser) was told\n"
            }
            if !common.quiet {
                var parts: [String] = []
                if !outcome.created.isEmpty { parts.append("\(outcome.created.count) new") }
                if !outcome.fastForwarded.isEmpty { parts.append("\(outcome.fastForwarded.count) fast-forwarded") }
                if !outcome.merged.isEmpty { parts.append("\(outcome.merged.count) merged") }
                let fetched = parts.isEmpty ? "nothing new" : parts.joined(separator: ", ")
                let pushed =
                    noPush
                    ? "not pushed" : outcome.pushed.isEmpty ? "nothing to push" : "pushed \(outcome.pushed.count)"
                let rounds = outcome.rounds > 1 ? " (\(outcome.rounds) rounds)" : ""
                out += "sync \(outcome.remote): \(fetched); \(pushed)\(rounds)\n"
                for name in outcome.merged.prefix(20) { out += "  merged \(name.dropFirst("refs/".count))\n" }
                if outcome.merged.count > 20 { out += "  … and \(outcome.merged.count - 20) more\n" }
            }
            Console.out(out)
            if let first = outcome.collisions.first {
                let ids = outcome.collisions.map { String($0.dropFirst("refs/gt/beads/".count)) }
                throw GasworksError(
                    .refused,
                    "\(ids.joined(separator: ", ")) created separately here and on \(outcome.remote) (no common history): "
                        + "kept this clone's, left theirs at refs/gt-sync/\(outcome.remote)/\(first.dropFirst("refs/".count))"
                        + (ids.count > 1 ? " and beside it" : "") + "; neither was pushed")
            }
        }
    }
}
