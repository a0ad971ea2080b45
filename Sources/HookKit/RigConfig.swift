import BeadKit
import GitKit

/// The two settings every part of a rig reads, hooks included.
public enum RigConfig {
    /// The branch only the refinery advances: `gt.target`, default `main`.
    public static func target(_ repository: Repository) throws -> String {
        try repository.config("gt.target").flatMap { $0.isEmpty ? nil : $0 } ?? "main"
    }

    /// A repository is a rig once `git rig init` (or `git bead init`) gave it a prefix or target.
    public static func isRig(_ repository: Repository) throws -> Bool {
        try repository.config("gt.target") != nil || repository.config("gt.prefix") != nil
    }
}
