import BeadKit
import CSpawn
import GitKit
import PolecatKit

#if canImport(Glibc)
    import Glibc
#endif

/// The broker of one sandboxed agent: started by the launcher outside the sandbox, it
/// starts the agent (the bubblewrap command line after `--`) and serves a Unix socket
/// that only that agent sees. Each connection is one command: the broker checks it
/// (generation, the overseer's commands, `BrokerPolicy`'s guards) and runs it in a forked
/// process of its own, as the worker it was started for, with the client's stdin, stdout
/// and stderr; the client gets `exit <status>`. It ends when the agent ends.
///
///     gasworks __broker --rig <common dir> --worker polecat/<name> --generation <g>
///         --socket <path> --worktree <path> -- <agent argv…>
enum BrokerServer {
    static let verb = "__broker"

    struct Settings {
        var rig = ""
        var worker = ""
        var generation = ""
        var socket = ""
        var worktree = ""
        var agent: [String] = []
    }

    static func main(_ arguments: [String]) -> Never {
        var settings = Settings()
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            if word == "--" {
                settings.agent = Array(arguments[(index + 1)...])
                break
            }
            guard index + 1 < arguments.count else { fail("usage: gasworks \(verb) … -- <agent>") }
            let value = arguments[index + 1]
            switch word {
            case "--rig": settings.rig = value
            case "--worker": settings.worker = value
            case "--generation": settings.generation = value
            case "--socket": settings.socket = value
            case "--worktree": settings.worktree = value
            default: fail("unknown broker option \(word)")
            }
            index += 2
        }
        guard !settings.agent.isEmpty, !settings.socket.isEmpty, !settings.worker.isEmpty else {
            fail("usage: gasworks \(verb) --rig … --worker … --generation … --socket … --worktree … -- <agent>")
        }
        let listener = listen(on: settings.socket)
        let agent = fork()
        if agent == 0 {
            close(listener)
            let cArguments = settings.agent.map { strdup($0) } + [nil]
            execvp(settings.agent[0], cArguments)
            Console.error("fatal: cannot run \(settings.agent[0]): \(String(cString: strerror(errno)))\n")
            _exit(127)
        }
        // The agent and its broker end together: a signal to the broker ends the agent.
        for signalNumber in [SIGTERM, SIGINT, SIGHUP] { signal(signalNumber, SIG_DFL) }
        while true {
            var status: Int32 = 0
            var reaped = waitpid(-1, &status, WNOHANG)
            while reaped > 0 {
                if reaped == agent {
                    unlink(settings.socket)
                    exit(exitStatus(status))
                }
                reaped = waitpid(-1, &status, WNOHANG)
            }
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 250) > 0, poller.revents & Int16(POLLIN) != 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let handler = fork()
            if handler == 0 {
                close(listener)
                serve(client, settings)
            }
            close(client)
        }
    }

    static func listen(on path: String) -> Int32 {
        let fd = UnixSocket.make()
        guard fd >= 0 else { fail("cannot make the broker's socket \(path)") }
        unlink(path)
        guard UnixSocket.withAddress(path, { bind(fd, $0, $1) }) == 0, Glibc.listen(fd, 64) == 0 else {
            fail("cannot listen on \(path): \(String(cString: strerror(errno)))")
        }
        chmod(path, 0o600)
        return fd
    }

    /// One connection, in a process of its own: reads the request, checks it, runs it in a
    /// child and answers with its status.
    static func serve(_ client: Int32, _ settings: Settings) -> Never {
        var descriptors = [Int32](repeating: -1, count: 3)
        var received: Int32 = 0
        var data = [UInt8](repeating: 0, count: 65536)
        let count = data.withUnsafeMutableBytes {
            gw_receive_with_fds(client, $0.baseAddress, UInt($0.count), &descriptors, 3, &received)
        }
        guard count > 0, received == 3 else { _exit(1) }
        var request = Array(data[0..<count])
        while !request.contains(UInt8(ascii: "\n")) {
            let more = data.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            if more <= 0 { break }
            request += data[0..<more]
        }
        let stderrFD = descriptors[2]
        func answer(_ status: Int32, _ message: String? = nil) -> Never {
            if let message {
                let line = Array("fatal: \(message)\n".utf8)
                _ = line.withUnsafeBytes { write(stderrFD, $0.baseAddress, $0.count) }
            }
            let text = Array("exit \(status)\n".utf8)
            _ = text.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            _exit(0)
        }
        guard let json = try? JSONValue.parse(String(decoding: request, as: UTF8.self).firstLine),
            let argv = json["argv"]?.arrayValue?.compactMap(\.stringValue), !argv.isEmpty
        else { answer(GasworksError.Kind.usage.rawValue, "the broker got a malformed request") }
        let worker = settings.worker
        if let refusal = BrokerPolicy.refusal(argv, worker: worker) {
            answer(GasworksError.Kind.refused.rawValue, refusal)
        }
        guard LocalFile.isDirectory(settings.worktree) else {
            answer(
                GasworksError.Kind.refused.rawValue,
                "\(worker)'s worktree \(settings.worktree) is gone: its work is finished (merged or removed); stop here"
            )
        }
        // Commands run in the worker's own worktree: a directory elsewhere means the worktree.
        var directory = json["cwd"]?.stringValue ?? settings.worktree
        if directory != settings.worktree, !directory.hasPrefix(settings.worktree + "/") {
            directory = settings.worktree
        }
        let scope: Principal.WorkerScope
        do {
            scope = try currentScope(settings)
        } catch let error as GasworksError {
            answer(error.exitCode, error.message)
        } catch {
            answer(GasworksError.Kind.repository.rawValue, "\(error)")
        }
        let command = fork()
        if command == 0 {
            close(client)
            for (target, source) in descriptors.enumerated() {
                dup2(source, Int32(target))
                if source > 2 { close(source) }
            }
            if BrokerPolicy.runsAsSupervisor(argv) {
                chdir(settings.rig)
                for name in [
                    "GT_POLECAT", "GT_CREW", "GT_GENERATION", "GT_BEAD", "GT_MOLECULE", "GT_ACTOR", "GT_BROKER",
                ] {
                    unsetenv(name)
                }
                GasworksCommandLine.run(argv)
            }
            chdir(directory)
            setEnvironment(scope)
            BrokerPolicy.install(scope)
            GasworksCommandLine.run(argv)
        }
        for source in descriptors { close(source) }
        var status: Int32 = 0
        while waitpid(command, &status, 0) < 0, errno == EINTR {}
        answer(exitStatus(status))
    }

    /// The worker's scope now (its bead, molecule and branch from its record), refused when
    /// the record runs another generation: a stale process acts on nothing.
    static func currentScope(_ settings: Settings) throws -> Principal.WorkerScope {
        let repository = try Repository.discover(from: settings.rig)
        let name = String(settings.worker.split(separator: "/", maxSplits: 1).last ?? "")
        let polecats = try Polecats(repository: repository, actor: settings.worker)
        let record: PolecatRecord?
        if settings.worker.hasPrefix("crew/") {
            record = try polecats.crew.load(name)?.record
        } else {
            record = try polecats.store.load(name)?.record
        }
        guard let record else { throw GasworksError(.refused, "\(settings.worker) has no record: it is gone") }
        guard record.generation == settings.generation, record.state != .nuked else {
            throw GasworksError(
                .refused,
                "stale generation \(settings.generation): \(settings.worker) now runs generation "
                    + "\(record.generation ?? "-") (\(record.state.rawValue)); this process must stop")
        }
        return Principal.WorkerScope(
            address: settings.worker, generation: settings.generation, bead: record.bead, molecule: record.molecule,
            branch: record.branch)
    }

    /// The command's environment: the worker's identity from the broker, nothing the
    /// agent set (its environment never reaches the broker) and no repository variables.
    static func setEnvironment(_ scope: Principal.WorkerScope) {
        for name in [
            "GT_ACTOR", "GT_MAILBOX", "GT_BROKER", "GT_POLECAT", "GT_CREW", "GIT_DIR", "GIT_WORK_TREE",
            "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
        ] {
            unsetenv(name)
        }
        let name = String(scope.address.split(separator: "/", maxSplits: 1).last ?? "")
        setenv(scope.address.hasPrefix("crew/") ? "GT_CREW" : "GT_POLECAT", name, 1)
        setenv("GT_GENERATION", scope.generation ?? "", 1)
        for (variable, value) in [("GT_BEAD", scope.bead), ("GT_MOLECULE", scope.molecule)] {
            if let value { setenv(variable, value, 1) } else { unsetenv(variable) }
        }
    }

    static func exitStatus(_ status: Int32) -> Int32 {
        let signalNumber = status & 0x7f
        return signalNumber == 0 ? (status >> 8) & 0xff : 128 + signalNumber
    }

    static func fail(_ message: String) -> Never {
        Console.error("fatal: \(message)\n")
        exit(GasworksError.Kind.usage.rawValue)
    }
}
