import BeadKit
import GitKit

/// The deacon's thresholds, all in plain git config.
public struct DeaconSettings: Sendable {
    /// `gt.deacon.stallSeconds`: no sign of progress for this long is a stall (default 600).
    public var stallSeconds: Int
    /// `gt.deacon.graceSeconds`: a freshly started agent is left alone this long (default 120).
    public var graceSeconds: Int
    /// `gt.deacon.nudges`: nudges before a stall is escalated (default 3).
    public var nudges: Int
    /// `gt.deacon.respawns`: restarts of dead agents per bead before the bead is released (default 3).
    public var respawns: Int
    /// `gt.deacon.slowFactor`: a step running this many times longer than its siblings' median is flagged (default 3).
    public var slowFactor: Int

    public static func read(_ repository: Repository) throws -> DeaconSettings {
        func number(_ key: String, _ fallback: Int, minimum: Int) throws -> Int {
            try repository.configNumber(key, default: fallback, minimum: minimum)
        }
        return DeaconSettings(
            stallSeconds: try number("gt.deacon.stallSeconds", 600, minimum: 0),
            graceSeconds: try number("gt.deacon.graceSeconds", 120, minimum: 0),
            nudges: try number("gt.deacon.nudges", 3, minimum: 0),
            respawns: try number("gt.deacon.respawns", 3, minimum: 0),
            slowFactor: try number("gt.deacon.slowFactor", 3, minimum: 1))
    }
}
