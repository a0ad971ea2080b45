import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

extension Mailbox {
    /// Blocks until `box` holds messages newer than `since` (nil: any message), then returns
    /// them oldest first; returns `[]` when `timeout` seconds pass first (nil: no limit).
    ///
    /// It sleeps in `poll` on inotify watches of the directory holding the mailbox's loose
    /// ref and of `packed-refs`, so it uses no CPU until a ref is renamed into place, and
    /// wakes as soon as another process sends.
    ///
    /// The watch stays open for the life of this `Mailbox`: `watch` reuses it between
    /// messages, and closing an inotify handle (the kernel's fsnotify clean-up, up to ~16 ms
    /// here) then happens after the caller has printed what arrived, not before.
    public func waitForNew(in box: Address, since: OID?, timeout: Double?) throws -> [Delivery] {
        let watcher = try watchers[box.refName] ?? RefWatcher(repository: repository, refName: box.refName)
        watchers[box.refName] = watcher
        let deadline = timeout.map { MonotonicClock.seconds() + $0 }
        while true {
            if let current = try repository.referenceTarget(box.refName), current != since {
                let states = try StateReader(repository: repository)
                let fresh = try repository.walk(from: [current], hiding: since.map { [$0] } ?? [])
                return try fresh.reversed().compactMap { try delivery($0, in: box, states: states) }
            }
            var remaining = -1.0
            if let deadline {
                remaining = deadline - MonotonicClock.seconds()
                if remaining <= 0 { return [] }
            }
            watcher.sleep(upTo: remaining)
        }
    }
}

/// inotify watches on the directories where a ref can change: its loose file's directory
/// and the common git dir (for `packed-refs`).
public final class RefWatcher {
    private let fd: Int32

    /// Watches where `refName` (which need not exist yet) and its siblings change.
    public init(repository: Repository, refName: String) throws {
        fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else {
            throw GasworksError(.repository, "cannot watch refs: \(String(cString: strerror(errno)))")
        }
        let common = repository.commonDir
        let looseDirectory = common + String(refName[..<refName.lastIndex(of: "/")!])
        Self.makeDirectories(looseDirectory)
        let mask = UInt32(IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE | IN_DELETE)
        for directory in [looseDirectory, String(common.dropLast())] where inotify_add_watch(fd, directory, mask) < 0 {
            close(fd)
            throw GasworksError(.repository, "cannot watch '\(directory)': \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    /// Sleeps until a watched directory changes or `seconds` pass (negative: no limit),
    /// then drains the pending events.
    public func sleep(upTo seconds: Double) {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = seconds < 0 ? -1 : Int32(min(seconds * 1000, Double(Int32.max)).rounded(.up))
        guard poll(&descriptor, 1, milliseconds) > 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        _ = read(fd, &buffer, buffer.count)
    }

    /// `mkdir -p`: an empty directory under refs/ is harmless to git, and it lets the
    /// watch exist before the mailbox's first message.
    private static func makeDirectories(_ path: String) {
        var current = ""
        for part in path.split(separator: "/") {
            current += "/" + part
            mkdir(current, 0o755)
        }
    }
}
