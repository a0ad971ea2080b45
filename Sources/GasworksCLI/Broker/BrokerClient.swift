import BeadKit
import CSpawn
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// Inside a sandbox: hands a command that changes state to the broker at `GT_BROKER`, with
/// this process's stdin, stdout and stderr, and exits with the command's status. The
/// broker runs it outside the sandbox as the worker it serves: nothing sent here names
/// who is asking.
enum BrokerClient {
    static func forward(_ arguments: [String], socket path: String) -> Never {
        let fd = UnixSocket.make()
        guard fd >= 0, UnixSocket.withAddress(path, { Glibc.connect(fd, $0, $1) }) == 0 else {
            fail("cannot reach the broker at \(path): \(String(cString: strerror(errno)))")
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let directory =
            buffer.withUnsafeMutableBufferPointer { raw in
                raw.baseAddress!.withMemoryRebound(to: CChar.self, capacity: raw.count) {
                    getcwd($0, raw.count) == nil ? nil : String(cString: $0)
                }
            } ?? "/"
        let request =
            JSONValue.object([
                "argv": .array(arguments.map { .string($0) }), "cwd": .string(directory),
            ]).compactText() + "\n"
        let bytes = Array(request.utf8)
        let descriptors: [Int32] = [0, 1, 2]
        let sent = bytes.withUnsafeBytes { data in
            gw_send_with_fds(fd, data.baseAddress, UInt(data.count), descriptors, 3)
        }
        guard sent == 0 else { fail("cannot talk to the broker at \(path): \(String(cString: strerror(errno)))") }
        // The broker answers with one line, `exit <status>`, once the command has finished.
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            answer += chunk[0..<count]
        }
        let text = String(decoding: answer, as: UTF8.self)
        guard text.hasPrefix("exit "), let status = Int32(text.dropFirst(5).prefix { $0 != "\n" }) else {
            fail("the broker at \(path) ended without an answer")
        }
        exit(status)
    }

    static func fail(_ message: String) -> Never {
        Console.error("fatal: \(message)\n")
        exit(GasworksError.Kind.repository.rawValue)
    }
}
