/// A formula of `count` steps: a chain in which every tenth step fans out to three side
/// steps that the next chain step needs, the shape (and size) of Gas Town's largest. Used by the
/// crash tests and the benchmarks.
public func generatedFormula(name: String, count: Int) -> String {
    var text = "formula = \"\(name)\"\ndescription = \"Generated: \(count) steps.\"\n[vars.topic]\nrequired = true\n"
    var previous: [String] = []
    var index = 0
    while index < count {
        let id = "s\(index)"
        text += "\n[[steps]]\nid = \"\(id)\"\ntitle = \"Step \(index) of {{topic}}\"\n"
        text += "description = \"Do part \(index) of {{topic}}.\"\ncheck = \"test -f part-\(index)\"\n"
        if !previous.isEmpty { text += "needs = [\(previous.map { "\"\($0)\"" }.joined(separator: ", "))]\n" }
        index += 1
        if index % 10 == 0, index + 3 <= count {
            let side = (0..<3).map { "s\(index + $0)" }
            for sideID in side {
                text += "\n[[steps]]\nid = \"\(sideID)\"\ntitle = \"Side \(sideID)\"\nneeds = [\"\(id)\"]\n"
            }
            index += 3
            previous = side
        } else {
            previous = [id]
        }
    }
    return text
}
