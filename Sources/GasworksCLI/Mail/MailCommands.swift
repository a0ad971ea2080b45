import ArgumentParser
import BeadKit
import GitKit
import MailKit

struct MailSend: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Send a message to one or more addresses.")

    @OptionGroup var options: MailOptions
    @Argument(help: "Recipients: addresses, 'polecats', or list names.") var recipients: [String] = []
    @Option(name: .shortAndLong, help: "Subject line.") var subject: String = ""
    @Option(name: [.customShort("m"), .long], help: "Message body.") var message: String?
    @Flag(name: .long, help: "Read the body from stdin.") var stdin = false
    @Option(name: .long, help: "Message type (message, task, question, done, help, nudge, …).") var type: String =
        "message"
    @Option(name: .long, help: "urgent, high, normal or low.") var priority: String = "normal"
    @Option(name: .long, help: "The message this answers (id or prefix): same thread.") var replyTo: String?
    @Option(name: .long, help: "Copy to these addresses (repeat or comma-separate).") var cc: [String] = []
    @Option(name: .long, help: ArgumentHelp("Send as this address (default: your own).", valueName: "address"))
    var from: String?

    func validate() throws { if recipients.isEmpty { throw ValidationError("give at least one recipient") } }

    func run() throws {
        try reportingErrors {
            let (store, own) = try options.open()
            let book = AddressBook(repository: store.repository)
            let to = try book.expand(recipients.flatMap(Drafts.splitList))
            let copies = try book.expand(cc.flatMap(Drafts.splitList))
            if let from, from != own.value, let worker = Principal.worker(in: store.repository) {
                throw GasworksError(.refused, "\(worker) sends only as itself, not as '\(from)'")
            }
            let sender = try from.map { try Address($0) } ?? own
            let body = stdin ? Console.readStandardInput() : (message ?? "")
            let sent = try store.send(
                MessageDraft(
                    from: sender.value, subject: subject, body: body, type: type, priority: priority, inReplyTo: replyTo
                ),
                to: to, cc: copies)
            if options.common.json {
                Console.out(sent.json.compactText() + "\n")
            } else if options.common.quiet {
                Console.out(sent.id + "\n")
            } else {
                Console.out("sent \(sent.id) to \((sent.to + sent.cc).joined(separator: ", "))\n")
            }
        }
    }
}

struct MailInbox: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inbox", abstract: "List messages, unread first, newest first within each group.")

    @OptionGroup var options: MailOptions
    @Flag(name: .long, help: "Include archived messages.") var all = false
    @Flag(name: .long, help: "Only unread messages.") var unread = false
    @Option(name: [.customLong("limit"), .customShort("n")], help: "Look at the newest N messages (default 50).")
    var limit: Int = 50

    func run() throws {
        try reportingErrors {
            try checkLimit(limit)
            let (store, box) = try options.open()
            let listed = try store.deliveries(of: box, limit: limit) { delivery in
                (all || !delivery.state.archived) && (!unread || !delivery.state.read)
            }
            let ordered = listed.filter { !$0.state.read } + listed.filter(\.state.read)
            MailOutput.emit(ordered, options.common)
        }
    }
}

/// Commands that act on messages of the caller's mailbox by id.
struct MailIDArguments: ParsableArguments {
    @Argument(help: "Message ids or unique prefixes.") var ids: [String]

    func validate() throws { if ids.isEmpty { throw ValidationError("give at least one message id") } }

    func resolve(_ store: Mailbox, _ box: Address) throws -> [Delivery] { try ids.map { try store.find($0, in: box) } }
}

struct MailRead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read", abstract: "Show messages in full and mark them read.")

    @OptionGroup var options: MailOptions
    @OptionGroup var targets: MailIDArguments

    func run() throws {
        try reportingErrors {
            let (store, box) = try options.open()
            var found = try targets.resolve(store, box)
            let unread = found.filter { !$0.state.read }
            if !unread.isEmpty { try store.record([.read], on: unread, by: options.recorder(box)) }
            for index in found.indices { found[index].state.read = true }
            MailOutput.emit(found, options.common, full: true)
        }
    }
}

struct MailPeek: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peek", abstract: "Show messages in full without marking them read.")

    @OptionGroup var options: MailOptions
    @OptionGroup var targets: MailIDArguments

    func run() throws {
        try reportingErrors {
            let (store, box) = try options.open()
            MailOutput.emit(try targets.resolve(store, box), options.common, full: true)
        }
    }
}

/// ack, mark-unread, archive and unarchive: state events on each named message, recorded
/// in one notes commit.
enum MailStateChange {
    static func apply(
        _ events: (Delivery) -> [DeliveryState.Event], verb: String, _ options: MailOptions,
        _ targets: MailIDArguments
    ) throws {
        try reportingErrors {
            let (store, box) = try options.open()
            let found = try targets.resolve(store, box)
            try store.record(events, on: found, by: options.recorder(box))
            if options.common.json {
                Console.out(JSONValue.array(found.map { .string($0.message.id) }).compactText() + "\n")
            } else if options.common.quiet {
                Console.out(found.map { $0.message.id + "\n" }.joined())
            } else {
                Console.out(found.map { "\(verb) \($0.message.id): \($0.message.subject)\n" }.joined())
            }
        }
    }
}

struct MailAck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ack", abstract: "Acknowledge messages (also marks them read).")
    @OptionGroup var options: MailOptions
    @OptionGroup var targets: MailIDArguments

    func run() throws {
        try MailStateChange.apply({ $0.state.read ? [.ack] : [.read, .ack] }, verb: "acknowledged", options, targets)
    }
}

struct MailMarkUnread: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mark-unread", abstract: "Mark messages unread again.")
    @OptionGroup var options: MailOptions
    @OptionGroup var targets: MailIDArguments

    func run() throws { try MailStateChange.apply({ _ in [.unread] }, verb: "marked unread", options, targets) }
}

struct MailArchive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive", abstract: "Archive messages (hidden from inbox unless --all).")
    @OptionGroup var options: MailOptions
    @OptionGroup var targets: MailIDArguments

    func run() throws { try MailStateChange.apply({ _ in [.archive] }, verb: "archived", options, targets) }
}

struct MailUnarchive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unarchive", abstract: "Bring archived messages back to the inbox.")
    @OptionGroup var options: MailOptions
    @OptionGroup var targets: MailIDArguments

    func run() throws { try MailStateChange.apply({ _ in [.unarchive] }, verb: "unarchived", options, targets) }
}

struct MailReply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reply", abstract: "Answer a message: to its sender, in its thread.")

    @OptionGroup var options: MailOptions
    @Argument(help: "The message to answer (id or prefix).") var id: String
    @Option(name: [.customShort("m"), .long], help: "Reply body.") var message: String?
    @Flag(name: .long, help: "Read the body from stdin.") var stdin = false
    @Option(name: .shortAndLong, help: "Subject (default: Re: <original subject>).") var subject: String?
    @Option(name: .long, help: "Message type.") var type: String = "reply"

    func run() throws {
        try reportingErrors {
            let (store, box) = try options.open()
            let original = try store.find(id, in: box)
            let body = stdin ? Console.readStandardInput() : (message ?? "")
            guard !body.allSatisfy(\.isWhitespace) else {
                throw GasworksError(.usage, "empty reply: give -m or --stdin")
            }
            let title =
                subject
                ?? (original.message.subject.hasPrefix("Re: ")
                    ? original.message.subject : "Re: " + original.message.subject)
            let sent = try store.send(
                MessageDraft(
                    from: box.value, subject: title, body: body, type: type, priority: original.message.priority,
                    inReplyTo: original.message.id),
                to: [try Address(original.message.from)], cc: [])
            if options.common.json {
                Console.out(sent.json.compactText() + "\n")
            } else {
                Console.out(options.common.quiet ? sent.id + "\n" : "sent \(sent.id) to \(original.message.from)\n")
            }
        }
    }
}

struct MailThread: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thread", abstract: "A whole conversation, oldest first, across mailboxes.")

    @OptionGroup var options: MailOptions
    @Argument(help: "Any message of the thread (id or prefix).") var id: String

    func run() throws {
        try reportingErrors {
            let (store, _) = try options.open()
            MailOutput.emit(try store.thread(id), options.common, full: !options.common.quiet)
        }
    }
}

struct MailSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Find messages whose subject, body or sender contain text.")

    @OptionGroup var options: MailOptions
    @Argument(help: "Text to find (case-insensitive).") var query: String
    @Flag(name: .long, help: "Search every mailbox, not only yours.") var everyMailbox = false

    func run() throws {
        try reportingErrors {
            guard !query.isEmpty else { throw GasworksError(.usage, "empty search text") }
            let (store, box) = try options.open()
            let needle = query.lowercased()
            let boxes = everyMailbox ? try store.mailboxes() : [box]
            let found = try boxes.flatMap { box in
                try store.deliveries(of: box) { delivery in
                    [delivery.message.subject, delivery.message.body, delivery.message.from].contains {
                        $0.lowercased().contains(needle)
                    }
                }
            }
            MailOutput.emit(found, options.common)
        }
    }
}

struct MailCount: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "count", abstract: "Unread (and total) messages: for status lines and prompts.")

    @OptionGroup var options: MailOptions

    func run() throws {
        try reportingErrors {
            let (store, box) = try options.open()
            let all = try store.deliveries(of: box) { !$0.state.archived }
            let unread = all.filter { !$0.state.read }.count
            if options.common.json {
                Console.out(
                    JSONValue.object([
                        "mailbox": .string(box.value), "unread": .int(Int64(unread)), "total": .int(Int64(all.count)),
                    ]).compactText() + "\n")
            } else {
                Console.out("\(unread)\n")
            }
        }
    }
}

struct MailWait: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait", abstract: "Block until a new message arrives in the mailbox (exit 1 on timeout).")

    @OptionGroup var options: MailOptions
    @Option(name: .shortAndLong, help: "Give up after this many seconds.") var timeout: Double?

    func run() throws {
        try reportingErrors {
            let (store, box) = try options.open()
            let start = try store.repository.referenceTarget(box.refName)
            let fresh = try store.waitForNew(in: box, since: start, timeout: timeout)
            if fresh.isEmpty { throw GasworksError(.refused, "no new message in \(box) within \(timeout ?? 0) s") }
            MailOutput.emit(fresh, options.common)
        }
    }
}

struct MailWatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Print new messages as they arrive, until interrupted.")

    @OptionGroup var options: MailOptions
    @Option(name: .long, help: "Stop after this many messages.") var count: Int?
    @Option(name: .shortAndLong, help: "Stop after this many seconds.") var timeout: Double?

    func run() throws {
        try reportingErrors {
            let (store, box) = try options.open()
            var since = try store.repository.referenceTarget(box.refName)
            var printed = 0
            let deadline = timeout.map { MonotonicClock.seconds() + $0 }
            while count.map({ printed < $0 }) ?? true {
                let remaining = deadline.map { $0 - MonotonicClock.seconds() }
                if let remaining, remaining <= 0 { break }
                let fresh = try store.waitForNew(in: box, since: since, timeout: remaining)
                guard let last = fresh.last else { break }
                since = last.commit
                MailOutput.emit(fresh, options.common)
                printed += fresh.count
            }
        }
    }
}
