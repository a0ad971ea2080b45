/// New beads described in a file or on stdin, before they get ids.
public struct Draft: Sendable {
    public var bead: Bead
    public var parent: String?
    /// `type:id` dependencies to add once the bead exists.
    public var dependencies: [(DependencyType, String)]

    public init(bead: Bead, parent: String? = nil, dependencies: [(DependencyType, String)] = []) {
        self.bead = bead
        self.parent = parent
        self.dependencies = dependencies
    }
}

public enum Drafts {
    /// Beads' markdown format: each `## Title` starts a bead; `### Priority`, `### Type`,
    /// `### Description`, `### Design`, `### Acceptance Criteria`, `### Notes`,
    /// `### Assignee`, `### Labels`, `### Dependencies` fill its fields; text right under
    /// the title is its description.
    public static func parseMarkdown(_ text: String, source: String) throws -> [Draft] {
        var drafts: [Draft] = []
        var current: (title: String, sections: [(String, [String])])?
        var lineNumber = 0
        func finish() throws {
            guard let item = current else { return }
            drafts.append(try draft(title: item.title, sections: item.sections, source: source))
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.hasPrefix("## ") {
                try finish()
                current = (String(line.dropFirst(3)).trimmed, [("description", [])])
            } else if line.hasPrefix("### ") {
                guard current != nil else {
                    throw GasworksError(.badData, "\(source):\(lineNumber): section before any '## Title'")
                }
                current!.sections.append((String(line.dropFirst(4)).trimmed.lowercased(), []))
            } else if current != nil {
                current!.sections[current!.sections.count - 1].1.append(String(line))
            } else if !line.allSatisfy(\.isWhitespace), !line.hasPrefix("# ") {
                throw GasworksError(.badData, "\(source):\(lineNumber): text before any '## Title'")
            }
        }
        try finish()
        if drafts.isEmpty { throw GasworksError(.badData, "\(source): no '## Title' found") }
        return drafts
    }

    private static func draft(title: String, sections: [(String, [String])], source: String) throws -> Draft {
        guard !title.isEmpty else { throw GasworksError(.badData, "\(source): empty title") }
        do {
            return try fill(title: title, sections: sections, source: source)
        } catch let error as GasworksError where error.kind == .usage {
            throw GasworksError(.badData, "\(source): '\(title)': \(error.message)")
        }
    }

    private static func fill(title: String, sections: [(String, [String])], source: String) throws -> Draft {
        var bead = Bead(fields: ["title": .string(title)])
        var dependencies: [(DependencyType, String)] = []
        var parent: String?
        for (name, lines) in sections {
            let body = lines.joined(separator: "\n").trimmed
            guard !body.isEmpty else { continue }
            switch name {
            case "description": bead.description = body
            case "design": bead.setString("design", body)
            case "acceptance criteria", "acceptance": bead.setString("acceptance_criteria", body)
            case "notes": bead.setString("notes", body)
            case "priority": bead.priority = try BeadStore.parsePriority(body)
            case "type": bead.issueType = try BeadStore.parseType(body)
            case "assignee": bead.assignee = body
            case "labels": bead.labels = splitList(body)
            case "parent": parent = body
            case "dependencies", "deps": dependencies = try parseDependencies(body)
            default: throw GasworksError(.badData, "\(source): unknown section '### \(name)' under '\(title)'")
            }
        }
        return Draft(bead: bead, parent: parent, dependencies: dependencies)
    }

    /// A JSON object or array of objects with Beads' field names (no id needed).
    public static func parseJSON(_ text: String, source: String) throws -> [Draft] {
        guard let value = try? JSONValue.parse(text) else { throw GasworksError(.badData, "\(source): malformed JSON") }
        let objects: [JSONValue] = value.arrayValue ?? [value]
        return try objects.enumerated().map { index, item in
            guard let object = item.objectValue, object["title"]?.stringValue?.isEmpty == false else {
                throw GasworksError(.badData, "\(source): item \(index + 1) is not an object with a \"title\"")
            }
            return try draft(fromObject: object, source: "\(source): item \(index + 1)")
        }
    }

    /// A draft from a JSON object; ids are chosen by `create` (`import` keeps given ids).
    static func draft(fromObject object: [String: JSONValue], source: String) throws -> Draft {
        var fields = object
        if fields["id"] != nil {
            throw GasworksError(
                .badData, "\(source): \"id\" is chosen by create; use 'git bead import' to keep given ids")
        }
        let parent = fields.removeValue(forKey: "parent")?.stringValue
        var bead = Bead(fields: fields)
        do {
            if let status = bead.string("status") { bead.status = try BeadStore.parseStatus(status) }
            switch fields["priority"] {
            case nil: break
            case .string(let text)?: bead.priority = try BeadStore.parsePriority(text)
            case let value?:
                guard let number = value.intValue, (0...4).contains(number) else {
                    throw GasworksError(.badData, "invalid priority '\(value.compactText())' (expected 0-4 or P0-P4)")
                }
            }
            if let type = bead.string("issue_type") { _ = try BeadStore.parseType(type) }
        } catch let error as GasworksError {
            throw GasworksError(.badData, "\(source): \(error.message)")
        }
        return Draft(bead: bead, parent: parent, dependencies: [])
    }

    /// `--stdin`: one bead per line, either a JSON object or just a title.
    public static func parseLines(_ text: String) throws -> [Draft] {
        var drafts: [Draft] = []
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.allSatisfy(\.isWhitespace) {
            if line.first == "{" {
                guard let object = (try? JSONValue.parse(line))?.objectValue,
                    object["title"]?.stringValue?.isEmpty == false
                else {
                    throw GasworksError(.badData, "stdin:\(offset + 1): malformed JSON or missing \"title\"")
                }
                drafts.append(try draft(fromObject: object, source: "stdin:\(offset + 1)"))
            } else {
                drafts.append(
                    Draft(bead: Bead(fields: ["title": .string(String(line).trimmed)]), parent: nil, dependencies: []))
            }
        }
        return drafts
    }

    /// `type:id,type:id` (a bare id means `blocks`).
    public static func parseDependencies(_ text: String) throws -> [(DependencyType, String)] {
        try splitList(text).map { item in
            guard let colon = item.firstIndex(of: ":") else { return (.blocks, item) }
            return (
                try BeadStore.parseDependencyType(String(item[..<colon])), String(item[item.index(after: colon)...])
            )
        }
    }

    public static func splitList(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "," || $0 == "\n" }).map { String($0).trimmed }.filter { !$0.isEmpty }
    }
}

extension String {
    var trimmed: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
