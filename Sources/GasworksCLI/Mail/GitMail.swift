import ArgumentParser
import BeadKit
import GitKit
import MailKit

struct GitMail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mail",
        abstract: "Mailboxes for agents and the overseer, stored as refs/gt/mail/<address>.",
        discussion: """
            Addresses: overseer, mayor, witness, refinery, deacon, polecat/<name>, crew/<name>;
            the group 'polecats'; lists from git config gt.list.<name>. Your own mailbox is
            --mailbox, else GT_MAILBOX, else polecat/$GT_POLECAT, else crew/$GT_CREW, else overseer.
            Exit status: 0 success; 1 refused (wait/watch timed out with no message); 2 unknown
            message id; 3 ambiguous id prefix; 64 invalid arguments (bad address, empty message,
            unknown type or priority); 65 a corrupt stored message; 128 not a git repository.
            """,
        subcommands: [
            MailSend.self, MailInbox.self, MailRead.self, MailPeek.self, MailReply.self, MailThread.self,
            MailAck.self, MailMarkUnread.self, MailArchive.self, MailUnarchive.self, MailSearch.self, MailCount.self,
            MailWait.self,
            MailWatch.self,
        ])
}

/// Options of every mail command: the common ones plus whose mailbox this is.
struct MailOptions: ParsableArguments {
    @OptionGroup var common: CommonOptions
    @Option(
        name: [.customShort("b"), .long],
        help: ArgumentHelp("Act on this mailbox (default: your own).", valueName: "address"))
    var mailbox: String?

    /// The mailbox store and the mailbox acted on. A worker acts on its own mailbox only
    /// (never the overseer's, whatever `-b` or `GT_MAILBOX` say).
    func open() throws -> (Mailbox, Address) {
        let repository = try common.openRepository()
        let store = try Mailbox(repository: repository)
        if let worker = Principal.worker(in: repository) {
            if let mailbox, mailbox != worker {
                throw GasworksError(.refused, "\(worker) may act only on its own mailbox, not '\(mailbox)'")
            }
            _ = try common.checkedActor(in: repository)
            return (store, try Address(worker))
        }
        return (store, try Address(mailbox ?? Self.ownAddress()))
    }

    /// Who state events are recorded as: --actor, else the mailbox's owner.
    func recorder(_ box: Address) -> String {
        Principal.brokered == nil ? (common.actor ?? box.value) : box.value
    }

    /// The caller's own address: GT_MAILBOX, a polecat's or crew member's, or the overseer's.
    static func ownAddress() -> String {
        if let box = ProcessEnvironment["GT_MAILBOX"], !box.isEmpty { return box }
        if let name = ProcessEnvironment["GT_POLECAT"], !name.isEmpty { return "polecat/" + name }
        if let name = ProcessEnvironment["GT_CREW"], !name.isEmpty { return "crew/" + name }
        return "overseer"
    }
}

enum MailOutput {
    static func line(_ delivery: Delivery) -> String {
        let mark = delivery.state.archived ? "a" : delivery.state.read ? (delivery.state.acked ? "✓" : " ") : "*"
        let message = delivery.message
        let tag = message.priority == "normal" ? message.type : "\(message.type),\(message.priority)"
        return
            "\(mark) \(message.id)  \(BeadOutput.pad(message.from, 16)) \(BeadOutput.pad("[\(tag)]", 14)) \(message.subject)  (\(message.time))"
    }

    static func full(_ delivery: Delivery) -> String {
        let message = delivery.message
        var out = "From: \(message.from)\nTo: \(message.to.joined(separator: ", "))\n"
        if !message.cc.isEmpty { out += "Cc: \(message.cc.joined(separator: ", "))\n" }
        out += "Subject: \(message.subject)\nDate: \(message.time)\nMessage-Id: \(message.id)\n"
        out += "Type: \(message.type)  Priority: \(message.priority)  Thread: \(message.thread)\n"
        if let reply = message.inReplyTo { out += "In-Reply-To: \(reply)\n" }
        return out + "\n" + message.body + (message.body.hasSuffix("\n") || message.body.isEmpty ? "" : "\n")
    }

    static func emit(_ deliveries: [Delivery], _ common: CommonOptions, full: Bool = false) {
        if common.json {
            Console.out(JSONValue.array(deliveries.map(\.json)).compactText() + "\n")
        } else if common.quiet {
            Console.out(deliveries.map { $0.message.id + "\n" }.joined())
        } else if full {
            Console.out(deliveries.map(MailOutput.full).joined(separator: "\n"))
        } else {
            Console.out(deliveries.map { line($0) + "\n" }.joined())
        }
    }
}
