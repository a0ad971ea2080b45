/// Quoting a value for the place in a shell command it is put (a formula variable in a check
/// command, a path or a title in a command line): outside quotes it becomes one single-quoted
/// word; inside single quotes its own quotes are closed and escaped; inside double quotes
/// `\\`, `"`, `$` and backquotes are escaped. No value can end a quote early, start a command
/// substitution or a new command.
public enum ShellQuoting {
    public enum State: Sendable { case plain, single, double }

    /// The quoting state at the end of `text` (backslash escapes, single and double quotes).
    public static func state(after text: String) -> State {
        var state = State.plain
        var escaped = false
        for character in text.unicodeScalars {
            if escaped {
                escaped = false
                continue
            }
            switch (state, character) {
            case (.plain, "\\"), (.double, "\\"): escaped = true
            case (.plain, "'"): state = .single
            case (.single, "'"): state = .plain
            case (.plain, "\""): state = .double
            case (.double, "\""): state = .plain
            default: break
            }
        }
        return state
    }

    public static func quote(_ value: String, in state: State) -> String {
        switch state {
        case .plain:
            return "'" + value.replacing("'", with: "'\\''") + "'"
        case .single:
            return value.replacing("'", with: "'\\''")
        case .double:
            var out = ""
            for character in value {
                if "\\\"$`".contains(character) { out.append("\\") }
                out.append(character)
            }
            return out
        }
    }
}
