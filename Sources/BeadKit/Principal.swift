import GitKit

/// Who a process acts for. Agents are untrusted: a worker's process acts only as that
/// worker, whatever `--actor` or `GT_ACTOR` say, and never as the overseer.
///
/// Inside a sandbox the broker (outside it) carries out every state change and sets
/// `brokered` in the process that does: there the worker is known by the socket it asked
/// on, not by anything the agent could set. Outside a sandbox the environment the
/// launcher gave the agent (`GT_POLECAT`, `GT_CREW`) or the checkout's worker file say it.
public enum Principal {
    /// What a worker may touch: its own bead, its molecule's steps, its branch, its mailbox.
    public struct WorkerScope: Sendable, Equatable {
        /// `polecat/<name>` or `crew/<name>`.
        public var address: String
        public var generation: String?
        public var bead: String?
        public var molecule: String?
        /// The branch without `refs/heads/`.
        public var branch: String?

        public init(
            address: String, generation: String? = nil, bead: String? = nil, molecule: String? = nil,
            branch: String? = nil
        ) {
            self.address = address
            self.generation = generation
            self.bead = bead
            self.molecule = molecule
            self.branch = branch
        }

        /// Whether bead `id` is the worker's own: its bead, its molecule or one of its steps.
        public func owns(bead id: String) -> Bool {
            if id == bead || id == molecule { return true }
            if let molecule, id.hasPrefix(molecule + ".") { return true }
            return false
        }
    }

    /// Set only by the broker, in the process that carries out one brokered command.
    nonisolated(unsafe) public static var brokered: WorkerScope?

    /// The worker this process acts for, if any: the broker's, else the launcher's
    /// variables, else the worker whose checkout `repository` is.
    public static func worker(in repository: Repository?) -> String? {
        if let brokered { return brokered.address }
        if let name = ProcessEnvironment["GT_POLECAT"], !name.isEmpty { return "polecat/" + name }
        if let name = ProcessEnvironment["GT_CREW"], !name.isEmpty { return "crew/" + name }
        return repository.flatMap(BeadStore.worker(of:))
    }

    /// A name given for the actor (`--actor`, `GT_ACTOR`), checked: commit trailers and
    /// mail headers are built from it, so a line break or control character could forge
    /// one. In a worker's context it must name that worker.
    public static func checkedActor(_ given: String, from source: String, worker: String?) throws -> String {
        if given.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f || $0 == "\u{2028}" }) {
            throw GasworksError(.usage, "\(source) may not hold control characters or line breaks")
        }
        if let worker, given != worker {
            throw GasworksError(
                .refused, "\(source) '\(given)' refused: \(worker) acts only as itself (the overseer acts from outside)"
            )
        }
        return given
    }
}
