import ArgumentParser
import BeadKit
import GitKit
import HookKit

#if canImport(Glibc)
    import Glibc
#endif

/// `git rig town`: every rig under a directory, side by side.
struct RigTown: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "town", abstract: "Views across the rigs in a directory.",
        subcommands: [RigTownStatus.self])
}

struct RigTownStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Discover the rigs under a directory and show one table across them.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The directory to look in (default: the current one).") var directory: String = "."
    @Option(name: .long, help: "How many directory levels to descend (default 2).") var depth: Int = 2

    func validate() throws {
        if depth < 0 || depth > 6 { throw ValidationError("--depth must be between 0 and 6") }
    }

    /// Repositories (with a work tree or bare) under `root` that are rigs, in path order.
    static func discover(_ root: String, depth: Int) -> [String] {
        var found: [String] = []
        func visit(_ path: String, _ level: Int) {
            let isCheckout = LocalFile.isDirectory(path + "/.git") || LocalFile.isFile(path + "/.git")
            let isBare =
                LocalFile.isFile(path + "/HEAD") && LocalFile.isDirectory(path + "/refs")
                && LocalFile.isDirectory(path + "/objects")
            if isCheckout || isBare {
                if let repository = try? Repository.open(path), (try? RigConfig.isRig(repository)) == true,
                    !repository.isLinkedWorktree
                {
                    found.append(path)
                }
                // A rig's own worktrees and data are not other rigs.
                return
            }
            guard level < depth else { return }
            for name in LocalFile.list(path).sorted() where !name.hasPrefix(".") {
                let child = path == "/" ? "/" + name : path + "/" + name
                if LocalFile.isDirectory(child) { visit(child, level + 1) }
            }
        }
        visit(root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root, 0)
        return found
    }

    func run() throws {
        try reportingErrors {
            guard LocalFile.isDirectory(directory) else {
                throw GasworksError(.notFound, "no directory '\(directory)'")
            }
            var rows: [(path: String, overview: RigOverview?, error: String?)] = []
            for path in Self.discover(directory, depth: depth) {
                do {
                    rows.append((path, try RigOverview.read(try Repository.open(path)), nil))
                } catch let error as GasworksError {
                    rows.append((path, nil, error.message))
                } catch {
                    rows.append((path, nil, "\(error)"))
                }
            }
            if common.json {
                Console.out(
                    JSONValue.array(
                        rows.map { row in
                            var object = row.overview?.json.objectValue ?? [:]
                            object["path"] = .string(row.path)
                            if let error = row.error { object["error"] = .string(error) }
                            return .object(object)
                        }
                    ).compactText() + "\n")
                return
            }
            if common.quiet {
                Console.out(rows.map { $0.path + "\n" }.joined())
                return
            }
            if rows.isEmpty {
                Console.out("no rigs under \(directory)\n")
                return
            }
            var out =
                "rig".padding(16) + " " + "open".padding(6) + " " + "ready".padding(6) + " " + "workers".padding(9)
                + " " + "dead".padding(5) + " " + "queue".padding(6) + " " + "bounced".padding(8) + " "
                + "problems".padding(9) + " " + "mail".padding(5) + " path\n"
            var totals = [0, 0, 0, 0, 0, 0, 0, 0]
            for row in rows {
                guard let rig = row.overview else {
                    out +=
                        "\(row.path.split(separator: "/").last.map(String.init) ?? row.path)".padding(16)
                        + " error: \(row.error ?? "?")  \(row.path)\n"
                    continue
                }
                let running = rig.workers.filter { $0.record.state == .running }
                let dead = running.filter { !$0.alive }.count
                let values = [
                    rig.open, rig.ready, running.count, dead, rig.queue.count, rig.bounced.count,
                    rig.patrol?.problems.count ?? 0, rig.unread,
                ]
                for (index, value) in values.enumerated() { totals[index] += value }
                let widths = [6, 6, 9, 5, 6, 8, 9, 5]
                out += rig.name.padding(16)
                for (value, width) in zip(values, widths) { out += " " + "\(value)".padding(width) }
                out += " \(row.path)\n"
            }
            if rows.count > 1 {
                let widths = [6, 6, 9, 5, 6, 8, 9, 5]
                out += "total".padding(16)
                for (value, width) in zip(totals, widths) { out += " " + "\(value)".padding(width) }
                out += " \(rows.count) rigs\n"
            }
            Console.out(out)
        }
    }
}
