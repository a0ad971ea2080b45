import BeadKit
import GitKit

#if canImport(Glibc)
    import Glibc
#endif

/// One refinery acts per rig at a time: it holds `refs/gt/refinery/lease`, a parentless
/// commit whose `lease.json` names the holder (host, pid and the process's start time) and
/// when the lease expires. Taking, renewing and releasing it are compare-and-swap updates,
/// so there is no lock file or PID file to go stale: a holder that crashed stops renewing
/// and its lease expires (on the same host it is taken over at once, its process being gone).
public final class Lease {
    public static let ref = "refs/gt/refinery/lease"
    static let fileName = "lease.json"

    /// What the lease ref says.
    public struct Holder: Sendable {
        public var host: String
        public var pid: Int32
        public var pidStart: UInt64
        public var acquired: Int64
        public var expires: Int64
        /// The merge requests it is working on.
        public var current: [String]

        public var name: String { "\(host)/\(pid)" }

        var json: JSONValue {
            .object([
                "host": .string(host), "pid": .int(Int64(pid)), "pid_start": .int(Int64(pidStart)),
                "acquired": .int(acquired), "expires": .int(expires), "current": .array(current.map { .string($0) }),
            ])
        }

        init(host: String, pid: Int32, pidStart: UInt64, acquired: Int64, expires: Int64, current: [String]) {
            self.host = host
            self.pid = pid
            self.pidStart = pidStart
            self.acquired = acquired
            self.expires = expires
            self.current = current
        }

        init?(json: JSONValue) {
            guard let host = json["host"]?.stringValue, let pid = json["pid"]?.intValue,
                let expires = json["expires"]?.intValue
            else { return nil }
            self.host = host
            self.pid = Int32(truncatingIfNeeded: pid)
            pidStart = UInt64(json["pid_start"]?.intValue ?? 0)
            acquired = json["acquired"]?.intValue ?? 0
            self.expires = expires
            current = json["current"]?.arrayValue?.compactMap(\.stringValue) ?? []
        }

        /// Whether the holder can no longer act: expired, or on this host and its process gone.
        public func isDead(now: Int64, host thisHost: String) -> Bool {
            if expires <= now { return true }
            return host == thisHost && ChildProcess.startTime(of: pid) != pidStart
        }
    }

    public enum Outcome {
        case acquired(took: Holder?)
        case busy(Holder)
    }

    let repository: Repository
    let seconds: Int64
    let signature: Signature
    public private(set) var commit: OID?
    public private(set) var holder: Holder?

    /// `seconds`: how long the lease lasts without renewal (`gt.refinery.lease`, default 120).
    public init(repository: Repository, seconds: Int64) throws {
        self.repository = repository
        self.seconds = seconds
        signature = try Signature.committer(in: repository)
    }

    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func now() -> Int64 { Int64(time(nil)) }

    /// The current holder, if any (expired or not).
    public static func read(_ repository: Repository) throws -> (commit: OID, holder: Holder?)? {
        guard let commit = try repository.referenceTarget(ref) else { return nil }
        let tree = try repository.commit(commit).tree
        guard let entry = try repository.treeEntry(tree, path: fileName),
            let json = try? JSONValue.parse(try repository.readBlobText(entry.id))
        else { return (commit, nil) }
        return (commit, Holder(json: json))
    }

    /// Whether a live refinery holds the lease now.
    public static func isHeld(_ repository: Repository) -> Bool {
        guard let found = try? read(repository), let holder = found.holder else { return false }
        return !holder.isDead(now: now(), host: hostName())
    }

    /// Takes the lease if it is free, expired, or held by a dead process on this host.
    public func acquire() throws -> Outcome {
        let me = Holder(
            host: Self.hostName(), pid: getpid(), pidStart: ChildProcess.startTime(of: getpid()) ?? 0,
            acquired: Self.now(), expires: Self.now() + seconds, current: [])
        for _ in 0..<20 {
            let found = try Self.read(repository)
            if let found, let holder = found.holder, !holder.isDead(now: Self.now(), host: me.host) {
                return .busy(holder)
            }
            do {
                try write(me, expecting: found?.commit, create: found == nil)
                return .acquired(took: found?.holder)
            } catch let error as GitError where error.isRetryableConflict {
                usleep(20_000)
            }
        }
        throw GasworksError(.refused, "cannot take the refinery lease: it keeps changing")
    }

    /// Extends the lease to `extra` seconds from now (at least its usual length) and records
    /// what the refinery works on. Throws `.refused` when another refinery took it over.
    public func renew(for extra: Int64? = nil, current: [String]? = nil) throws {
        guard var mine = holder, let commit else { throw GasworksError(.refused, "the refinery lease is not held") }
        let wanted = Self.now() + max(extra ?? 0, seconds)
        // Each renewal writes objects: skip it while more than half the lease is left, the
        // new expiry would not be much later, and nothing else changes.
        if mine.expires - Self.now() > seconds / 2, wanted - mine.expires < seconds / 2,
            current == nil || current == mine.current
        {
            guard try repository.referenceTarget(Self.ref) == commit else {
                throw GasworksError(.refused, "another refinery took over the lease; this one stops")
            }
            return
        }
        mine.expires = max(wanted, mine.expires)
        if let current { mine.current = current }
        do {
            try write(mine, expecting: commit, create: false)
        } catch let error as GitError where error.isRetryableConflict || error.code == .notFound {
            throw GasworksError(.refused, "another refinery took over the lease; this one stops")
        }
    }

    /// Gives the lease up, unless another refinery has taken it meanwhile.
    public func release() {
        guard let commit else { return }
        try? repository.deleteReference(Self.ref, expecting: commit)
        self.commit = nil
        holder = nil
    }

    private func write(_ holder: Holder, expecting: OID?, create: Bool) throws {
        let blob = try repository.writeBlob(holder.json.canonicalText + "\n")
        let tree = try repository.writeTree([TreeEntry(name: Self.fileName, id: blob, kind: .blob)])
        let message =
            "refinery lease: \(holder.name) until \(ISO8601.format(holder.expires))\n\n"
            + (holder.current.isEmpty ? "" : "Gt-Merge-Requests: \(holder.current.joined(separator: " "))\n")
        let written = try repository.writeCommit(tree: tree, parents: [], message: message, author: signature)
        // A lock on the lease ref (pack-refs, a killed writer) is waited out, not taken for a rival.
        try repository.withRetry(touching: [Self.ref], onlyLocks: true) {
            try repository.setReference(
                Self.ref, to: written, expecting: create ? nil : expecting, message: "refinery lease")
        }
        commit = written
        self.holder = holder
    }
}
