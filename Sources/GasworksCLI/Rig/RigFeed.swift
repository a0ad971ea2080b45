import ArgumentParser
import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// `git rig feed`: the activity stream over every state ref, built on git's own log.
struct RigFeed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "The activity stream across every refs/gt/ ref, newest last (git log over refs/gt/*).")
    @OptionGroup var common: CommonOptions
    @Option(name: [.customShort("n"), .long], help: "How many entries (default 30).") var limit: Int = 30
    @Flag(name: [.short, .long], help: "Keep printing new activity as it happens.") var follow = false
    @Option(name: .long, help: "With --follow: seconds between looks.") var interval: Double = 1
    @Option(name: .long, help: "With --follow: stop after this many seconds.") var timeout: Double?

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
        if interval <= 0 || interval > 3600 { throw ValidationError("--interval must be between 0 and 3600 seconds") }
    }

    struct Entry {
        var time: Int64
        var commit: String
        var ref: String
        var actor: String
        var subject: String
    }

    /// `git log --glob=refs/gt/* --source`: each commit once, with the ref it was reached from.
    static func entries(_ repository: Repository, limit: Int, since: Int64? = nil) throws -> [Entry] {
        var arguments = [
            "git", "--git-dir=" + repository.commonDir, "log", "--glob=refs/gt/*", "--source", "--date-order",
            "--format=%ct%x09%H%x09%S%x09%(trailers:key=Gt-Actor,valueonly,separator=%x2C)%x09%an%x09%s", "-n",
            "\(limit)",
        ]
        if let since { arguments.append("--since=@\(since)") }
        let outcome = try ChildProcess.run(arguments, environment: ChildProcess.environment())
        guard outcome.status == 0 else {
            throw GasworksError(.repository, "git log over refs/gt/ failed: \(outcome.text.firstLine)")
        }
        return outcome.text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 6, let time = Int64(fields[0]) else { return nil }
            let actor = fields[3].isEmpty ? fields[4] : fields[3]
            return Entry(time: time, commit: fields[1], ref: fields[2], actor: actor, subject: fields[5])
        }.reversed()
    }

    static func line(_ entry: Entry) -> String {
        var ref = entry.ref
        for prefix in ["refs/gt/", "refs/"] where ref.hasPrefix(prefix) {
            ref = String(ref.dropFirst(prefix.count))
            break
        }
        return "\(ISO8601.format(entry.time)) \(ref.padding(24)) \(entry.actor.padding(16)) \(entry.subject)\n"
    }

    static func json(_ entry: Entry) -> JSONValue {
        .object([
            "time": .string(ISO8601.format(entry.time)), "commit": .string(entry.commit), "ref": .string(entry.ref),
            "actor": .string(entry.actor), "subject": .string(entry.subject),
        ])
    }

    func run() throws {
        try reportingErrors {
            let repository = try common.openRepository()
            var seen = Set<String>()
            func show(_ entries: [Entry]) {
                for entry in entries where seen.insert(entry.commit).inserted {
                    if common.json {
                        Console.out(Self.json(entry).compactText() + "\n")
                    } else if common.quiet {
                        Console.out(entry.commit + "\n")
                    } else {
                        Console.out(Self.line(entry))
                    }
                }
            }
            let first = try Self.entries(repository, limit: limit)
            show(first)
            guard follow else { return }
            let started = MonotonicClock.seconds()
            var newest = first.last?.time ?? 0
            while timeout.map({ MonotonicClock.seconds() - started < $0 }) ?? true {
                MonotonicClock.sleep(interval)
                let fresh = try Self.entries(repository, limit: 1_000, since: max(newest - 1, 0))
                show(fresh)
                newest = max(newest, fresh.last?.time ?? newest)
            }
        }
    }
}
