import BeadKit
import GitKit

/// The refinery's configuration, all in plain git config.
public struct RefinerySettings: Sendable {
    public enum Mode: String, Sendable {
        /// Advance the target branch here.
        case direct
        /// Push the branch and print the pull-request command: the target is protected elsewhere.
        case pullRequest = "pr"
    }

    /// `gt.refinery.gate`: a shell command run in the refinery's worktree on each candidate.
    public var gate: String?
    /// `gt.refinery.gateTimeout`: seconds before a gate run is killed (default 1800).
    public var gateTimeout: Int
    /// `gt.refinery.retries`: extra runs of a red gate before it counts as red (flaky gates).
    public var retries: Int
    /// `gt.refinery.batch`: how many merge requests are stacked and tested at once.
    public var batch: Int
    /// `gt.refinery.mode`: `direct` (default) or `pr`.
    public var mode: Mode
    /// `gt.refinery.remote`: where PR mode pushes branches (default `origin`).
    public var remote: String
    /// `gt.refinery.lease`: seconds a lease lasts without renewal (default 120).
    public var leaseSeconds: Int64
    /// `gt.refinery.auto`: `git polecat done` and a hub's post-receive start a run (default true).
    public var auto: Bool
    /// `gt.refinery.allowPlain`: requests without a molecule queued by workers may land
    /// (default false: only the overseer's do).
    public var allowPlain: Bool
    /// `gt.refinery.trustUnsigned`: verdicts and approvals count without a signature by a
    /// trusted key (default false; only for rigs made before the rig's keys).
    public var trustUnsigned: Bool

    public static func read(_ repository: Repository) throws -> RefinerySettings {
        func number(_ key: String, _ fallback: Int, minimum: Int) throws -> Int {
            try repository.configNumber(key, default: fallback, minimum: minimum)
        }
        let modeText = try repository.config("gt.refinery.mode") ?? "direct"
        guard let mode = Mode(rawValue: modeText.isEmpty ? "direct" : modeText) else {
            throw GasworksError(.usage, "gt.refinery.mode must be 'direct' or 'pr', not '\(modeText)'")
        }
        return RefinerySettings(
            gate: try repository.config("gt.refinery.gate").flatMap { $0.isEmpty ? nil : $0 },
            gateTimeout: try number("gt.refinery.gateTimeout", 1800, minimum: 1),
            retries: try number("gt.refinery.retries", 0, minimum: 0),
            batch: try number("gt.refinery.batch", 1, minimum: 1),
            mode: mode,
            remote: try repository.config("gt.refinery.remote").flatMap { $0.isEmpty ? nil : $0 } ?? "origin",
            leaseSeconds: Int64(try number("gt.refinery.lease", 120, minimum: 1)),
            auto: try repository.configBool("gt.refinery.auto") ?? true,
            allowPlain: try repository.configBool("gt.refinery.allowPlain") ?? false,
            trustUnsigned: try repository.configBool("gt.refinery.trustUnsigned") ?? false)
    }
}
