import ArgumentParser
import BeadKit
import DeaconKit
import GitKit
import PolecatKit

#if canImport(Glibc)
    import Glibc
#endif

struct GitDeacon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deacon",
        abstract: "Patrols workers: nudges the stalled, restarts the crashed, flags drift, repairs orphans.",
        discussion: """
            Exit status: 0 success (a patrol that acted or found problems succeeded too); 1 refused; \
            2 unknown id; 3 ambiguous id prefix; 64 invalid arguments or configuration; 65 corrupt \
            stored data (the patrol report); 128 not a git repository or git failed.
            """,
        subcommands: [DeaconPatrol.self, DeaconStatus.self])
}

enum DeaconOutput {
    static func json(_ report: PatrolReport) -> JSONValue {
        .object([
            "at": .string(report.at), "checked": .int(Int64(report.checked)), "healthy": .int(Int64(report.healthy)),
            "actions": .array(
                report.actions.map {
                    .object(["kind": .string($0.kind), "worker": .string($0.worker), "reason": .string($0.reason)])
                }),
            "problems": .array(
                report.problems.map {
                    .object(["kind": .string($0.kind), "worker": .string($0.worker), "detail": .string($0.detail)])
                }),
        ])
    }

    static func summary(_ report: PatrolReport) -> String {
        var text =
            "patrol at \(report.at): \(report.checked) checked, \(report.healthy) healthy, "
            + "\(report.actions.count) action\(report.actions.count == 1 ? "" : "s")\n"
        if !report.problems.isEmpty {
            text += "open problems:\n" + report.problems.map { "  \($0.kind) \($0.worker): \($0.detail)\n" }.joined()
        }
        return text
    }
}

struct DeaconPatrol: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patrol", abstract: "Check every polecat and crew member once (or keep patrolling).")
    @OptionGroup var common: CommonOptions
    @Flag(name: .long, help: "One patrol (the default).") var once = false
    @Flag(name: .long, help: "Keep patrolling every --interval seconds.") var watch = false
    @Option(name: .long, help: "With --watch: seconds between patrols.") var interval: Double = 30
    @Option(name: .long, help: "With --watch: stop after this many seconds.") var timeout: Double?

    func validate() throws {
        if once && watch { throw ValidationError("give --once or --watch, not both") }
        if interval <= 0 || interval > 3600 { throw ValidationError("--interval must be between 0 and 3600 seconds") }
        if let timeout, timeout < 0 { throw ValidationError("--timeout must not be negative") }
    }

    func run() throws {
        try reportingErrors {
            let repository = try common.openRepository()
            let started = MonotonicClock.seconds()
            while true {
                do {
                    try patrolOnce(repository)
                } catch let error as GasworksError where watch {
                    // A watch keeps going: the next patrol may well succeed.
                    Console.error("warning: the patrol failed: \(error.message)\n")
                }
                if !watch { return }
                if let timeout, MonotonicClock.seconds() - started + interval > timeout { return }
                MonotonicClock.sleep(interval)
            }
        }
    }

    /// One patrol, with stores made afresh so its times are its own.
    func patrolOnce(_ repository: Repository) throws {
        let polecats = try Polecats(repository: repository, actor: "deacon")
        let rig = polecats.rigName()
        let deacon = try Deacon(
            repository: repository, prompt: { try Prime.polecat($0, rig: rig, repository: repository) })
        let printing = !common.quiet && !common.json
        if printing { deacon.log = { Console.out($0) } }
        guard let report = try deacon.patrol() else {
            if printing { Console.out("another patrol is running; this one leaves it to that\n") }
            if common.json { Console.out("null\n") }
            return
        }
        if common.json {
            Console.out(DeaconOutput.json(report).compactText() + "\n")
        } else if common.quiet {
            Console.out(report.actions.map { "\($0.kind) \($0.worker)\n" }.joined())
        } else {
            Console.out(DeaconOutput.summary(report))
        }
    }
}

struct DeaconStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The last patrol recorded and the problems it left open.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingErrors {
            let repository = try common.openRepository()
            guard let last = try PatrolReport.last(in: repository) else {
                if common.json {
                    Console.out("null\n")
                } else if !common.quiet {
                    Console.out("no patrol recorded yet (git deacon patrol)\n")
                }
                return
            }
            if common.json {
                Console.out(DeaconOutput.json(last.report).compactText() + "\n")
            } else if common.quiet {
                Console.out(last.report.problems.map { "\($0.kind) \($0.worker)\n" }.joined())
            } else {
                var text = DeaconOutput.summary(last.report)
                if last.report.problems.isEmpty { text += "no open problems\n" }
                if !last.report.actions.isEmpty {
                    text +=
                        "its actions:\n"
                        + last.report.actions.map { "  \($0.kind) \($0.worker): \($0.reason)\n" }.joined()
                }
                text += "history: git log \(PatrolReport.ref)\n"
                Console.out(text)
            }
        }
    }
}
