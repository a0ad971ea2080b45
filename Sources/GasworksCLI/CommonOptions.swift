import ArgumentParser
import BeadKit
import GitKit
import PolecatKit

/// Options every command takes.
struct CommonOptions: ParsableArguments {
    @Option(name: .customShort("C"), help: ArgumentHelp("Run as if started in <path>.", valueName: "path"))
    var directory: String?

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print only ids (where that helps scripts).")
    var quiet = false

    @Option(name: .long, help: ArgumentHelp("Record changes as made by <name>.", valueName: "name"))
    var actor: String?

    func openRepository() throws -> Repository {
        do {
            return try Repository.discover(from: directory ?? ".")
        } catch let error as GitError where error.code == .notFound {
            throw GasworksError(
                .repository, "not a git repository (or any of the parent directories): \(directory ?? ".")")
        }
    }

    func openStore() throws -> BeadStore {
        let repository = try openRepository()
        try refuseStaleGeneration(in: repository)
        return try BeadStore(repository: repository, actor: try checkedActor(in: repository))
    }

    /// An agent's process of an earlier generation (its `GT_GENERATION` is no longer its
    /// record's: it was restarted) acts on nothing. Inside a sandbox the broker checks this.
    func refuseStaleGeneration(in repository: Repository) throws {
        guard Principal.brokered == nil, let mine = ProcessEnvironment["GT_GENERATION"], !mine.isEmpty else { return }
        let crew = ProcessEnvironment["GT_CREW"].flatMap { $0.isEmpty ? nil : $0 }
        guard let name = ProcessEnvironment["GT_POLECAT"].flatMap({ $0.isEmpty ? nil : $0 }) ?? crew else { return }
        let polecats = try Polecats(repository: repository, actor: (crew == nil ? "polecat/" : "crew/") + name)
        let store = crew == nil ? polecats.store : try polecats.crew
        guard let record = try store.load(name)?.record else { return }
        try polecats.refuseStaleGeneration(record)
    }

    /// `--actor`, refused with control characters or line breaks, and in a worker's
    /// context unless it names that worker (a worker never acts as someone else).
    func checkedActor(in repository: Repository) throws -> String? {
        guard let actor else { return nil }
        return try Principal.checkedActor(actor, from: "--actor", worker: Principal.worker(in: repository))
    }
}

struct Gasworks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gasworks",
        abstract: "Git-native coordination for many coding agents; each tool also runs as `git <tool>`.",
        subcommands: [
            GitBead.self, GitMail.self, GitMolecule.self, GitWitness.self, GitRig.self, GitPolecat.self,
            GitRefinery.self, GitDeacon.self,
        ])
}
