import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// Agents in tmux sessions, on a server of Gasworks' own (`tmux -L gasworks`), so the
/// overseer can attach and nudges can be typed into the pane.
public enum Tmux {
    static let socket = "gasworks"

    public static func sessionName(rig: String, name: String) -> String {
        "gt-" + (rig + "-" + name).map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
    }

    static func tmux(_ arguments: [String], environment: [String]? = nil) throws -> ChildOutcome {
        try ChildProcess.run(
            ["tmux", "-L", socket] + arguments, environment: environment ?? ChildProcess.environment())
    }

    /// Starts `command` in a new detached session and returns the pid of its pane's process;
    /// the pane's output is appended to `log`.
    static func start(
        _ session: String, command: String, in directory: String, variables: [String: String], log: String,
        environment: [String]
    ) throws -> pid_t {
        _ = try? tmux(["kill-session", "-t", "=" + session])
        var arguments = ["new-session", "-d", "-s", session, "-c", directory, "-x", "200", "-y", "50"]
        for (name, value) in variables.sorted(by: { $0.key < $1.key }) { arguments += ["-e", "\(name)=\(value)"] }
        let started = try tmux(arguments + [command], environment: environment)
        guard started.status == 0 else {
            throw GasworksError(.repository, "cannot start tmux session \(session): \(started.text.firstLine)")
        }
        _ = try? tmux(["pipe-pane", "-o", "-t", pane(session), "cat >> " + ShellQuoting.quote(log, in: .plain)])
        let shown = try tmux(["display-message", "-p", "-t", pane(session), "#{pane_pid}"])
        guard shown.status == 0, let pid = pid_t(shown.text.trimmingCharacters(in: "\n")) else {
            throw GasworksError(.repository, "cannot find the process of tmux session \(session)")
        }
        return pid
    }

    /// The active pane of exactly that session (`=name` alone is not a pane target).
    static func pane(_ session: String) -> String { "=" + session + ":" }

    public static func exists(_ session: String) -> Bool {
        (try? tmux(["has-session", "-t", "=" + session]))?.status == 0
    }

    /// Types `text` into the session's pane, then Enter (a nudge).
    public static func type(_ text: String, into session: String) throws {
        let sent = try tmux(["send-keys", "-t", pane(session), "-l", text])
        guard sent.status == 0 else { throw GasworksError(.refused, "no tmux session \(session)") }
        _ = try tmux(["send-keys", "-t", pane(session), "Enter"])
    }

    public static func kill(_ session: String) {
        _ = try? tmux(["kill-session", "-t", "=" + session])
    }

    /// Replaces this process with `tmux attach` to the session.
    public static func attach(_ session: String) throws -> Never {
        guard exists(session) else { throw GasworksError(.refused, "no tmux session \(session)") }
        let words: [String] = ["tmux", "-L", socket, "attach-session", "-t", "=" + session]
        let arguments: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        execvp("tmux", arguments)
        throw GasworksError(.repository, "cannot run tmux: \(String(cString: strerror(errno)))")
    }
}
