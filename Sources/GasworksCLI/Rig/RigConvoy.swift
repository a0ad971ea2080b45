import ArgumentParser
import BeadKit
import GitKit
import RigKit

/// `git rig convoy`: beads across rigs tracked as one, landing when all close.
struct RigConvoy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convoy", abstract: "Track beads across rigs; a convoy lands by itself when all of them close.",
        subcommands: [ConvoyCreate.self, ConvoyAdd.self, ConvoyStatus.self, ConvoyList.self])
}

extension CommonOptions {
    func openConvoys() throws -> Convoys { Convoys(beads: try openStore()) }
}

enum ConvoyOutput {
    static func json(_ convoy: Bead, _ states: [Convoys.MemberState]) -> JSONValue {
        .object([
            "id": .string(convoy.id), "title": .string(convoy.title), "status": .string(convoy.status.rawValue),
            "closed": .int(Int64(states.filter { $0.status == BeadStatus.closed.rawValue }.count)),
            "members": .array(
                states.map {
                    .object([
                        "rig": .string($0.member.rig), "id": .string($0.member.id), "status": .string($0.status),
                        "title": .string($0.title),
                    ])
                }),
        ])
    }

    static func line(_ convoy: Bead, _ states: [Convoys.MemberState]) -> String {
        let closed = states.filter { $0.status == BeadStatus.closed.rawValue }.count
        let state = convoy.status == .closed ? "landed" : "\(closed)/\(states.count) closed"
        return "\(convoy.id) \(state.padding(12)) \(convoy.title)\n"
    }
}

struct ConvoyCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "A new convoy over beads: <id> in this rig, <rig path>:<id> elsewhere.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Its title.") var title: String
    @Argument(help: "Member beads: <id> or <rig path>:<id>.") var members: [String] = []

    func run() throws {
        try reportingErrors {
            BeadOutput.emitChange(
                try common.openConvoys().create(title: title, members: members), verb: "created", common)
        }
    }
}

struct ConvoyAdd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add beads to a convoy.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The convoy.") var convoy: String
    @Argument(help: "Member beads: <id> or <rig path>:<id>.") var members: [String]

    func run() throws {
        try reportingErrors {
            BeadOutput.emitChange(try common.openConvoys().add(convoy, members: members), verb: "updated", common)
        }
    }
}

struct ConvoyStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Each member's state in its rig; lands the convoy if all are closed.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The convoy.") var convoy: String

    func run() throws {
        try reportingErrors {
            let convoys = try common.openConvoys()
            try convoys.settle()
            let bead = try convoys.load(convoy)
            let states = convoys.states(of: bead)
            if common.json {
                Console.out(ConvoyOutput.json(bead, states).compactText() + "\n")
            } else if common.quiet {
                Console.out(states.map { "\($0.member.label) \($0.status)\n" }.joined())
            } else {
                var out = ConvoyOutput.line(bead, states)
                for state in states {
                    let mark = state.status == BeadStatus.closed.rawValue ? "✓" : state.status == "missing" ? "?" : "○"
                    out += "  \(mark) \(state.member.label.padding(24)) \(state.status.padding(12)) \(state.title)\n"
                }
                Console.out(out)
            }
        }
    }
}

struct ConvoyList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Convoys and their progress.")
    @OptionGroup var common: CommonOptions
    @Flag(name: .long, help: "Landed convoys too.") var all = false

    func run() throws {
        try reportingErrors {
            let convoys = try common.openConvoys()
            try convoys.settle()
            let list = try convoys.all(includeClosed: all)
            if common.json {
                Console.out(
                    JSONValue.array(list.map { ConvoyOutput.json($0, convoys.states(of: $0)) }).compactText() + "\n")
            } else if common.quiet {
                Console.out(list.map { $0.id + "\n" }.joined())
            } else if list.isEmpty {
                Console.out(all ? "no convoys\n" : "no convoys in flight\n")
            } else {
                Console.out(list.map { ConvoyOutput.line($0, convoys.states(of: $0)) }.joined())
            }
        }
    }
}
