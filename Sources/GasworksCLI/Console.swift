import ArgumentParser
import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// Writing to the terminal, and turning failures into git-style one-line errors.
enum Console {
    static func out(_ text: String) { write(text, to: STDOUT_FILENO) }

    static func error(_ text: String) { write(text, to: STDERR_FILENO) }

    private static func write(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written <= 0 { return }
            offset += written
        }
    }

    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    static func readStandardInput() -> String {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(STDIN_FILENO, &buffer, buffer.count)
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func readFile(_ path: String) throws -> String {
        do {
            return String(decoding: try LocalFile.read(path), as: UTF8.self)
        } catch {
            throw GasworksError(.usage, "cannot read '\(path)': \(error.reason)")
        }
    }

    static func writeFile(_ path: String, _ text: String) throws {
        let temporary = path + ".tmp.\(getpid())"
        guard let file = fopen(temporary, "w") else {
            throw GasworksError(.usage, "cannot write '\(path)': \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        let written = fwrite(bytes, 1, bytes.count, file)
        fclose(file)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw GasworksError(.usage, "cannot write '\(path)'")
        }
    }
}

/// Runs a command body and reports what it throws the way git does: `fatal: …` on one
/// line and the documented exit code.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as GasworksError {
        Console.error("fatal: \(error.message)\n")
        throw ExitCode(error.exitCode)
    } catch let error as GitError {
        Console.error("fatal: \(error.message)\n")
        throw ExitCode(GasworksError.Kind.repository.rawValue)
    }
}
