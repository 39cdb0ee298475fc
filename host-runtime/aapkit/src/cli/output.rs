//! Printing results: JSON (Alibaba field names) with `--json`, short text otherwise. Errors go to
//! stderr; with `--json` a `{"Code", "Message"}` object also goes to stdout for scripts.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::json;

use super::CliError;

pub struct Out {
    pub json: bool,
    /// Print nothing (a dry run's change: its result is the diff, printed by the caller).
    pub silent: bool,
}

impl Out {
    /// Prints `value` as JSON, or the `human` text.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.silent {
            return;
        }
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(s) => println!("{}", json_escape_unsafe(&s)),
                Err(e) => eprintln!("aapkit: cannot encode the result as JSON: {e}"),
            }
        } else {
            let text = human();
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }

    pub fn error(&self, e: &CliError) {
        if self.json {
            let v = json!({ "Code": e.code(), "Message": e.to_string() });
            println!("{}", json_escape_unsafe(&serde_json::to_string_pretty(&v).unwrap_or_default()));
        }
        eprintln!("aapkit: error: {e}");
    }

    /// A warning on stderr (never in the JSON on stdout).
    pub fn warn(&self, msg: &str) {
        eprintln!("aapkit: warning: {msg}");
    }
}

/// `Label: value` lines, labels padded to line up.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
}

/// A list rendered one item per line, or `(none)`.
pub fn lines<T>(items: &[T], line: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.iter().map(|i| line(i) + "\n").collect()
    }
}

pub fn join(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

/// Characters that must never reach a terminal as themselves: C0 and C1 controls and DEL (escape
/// sequences, carriage returns and newlines forge or hide lines), the Unicode bidirectional
/// controls (they reorder what the eye reads) and the line/paragraph separators.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{2028}' | '\u{2029}')
}

/// A field of a record (audit row, event) for text output: every unsafe character as a visible
/// escape (`\x1b`, `\n`, `\u{202e}`), and a backslash doubled, so data cannot pass off an escape
/// of its own as ours. Fields without either come back borrowed.
pub fn escape_field(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '\\' || is_unsafe_char(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_char(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// JSON text with every unsafe character `\uXXXX`-escaped. serde_json already escapes C0 controls
/// inside strings but writes DEL, C1 and the bidirectional controls as they are; none of those can
/// occur outside a string, so replacing them anywhere keeps the document (and its values) intact.
pub fn json_escape_unsafe(json: &str) -> Cow<'_, str> {
    let unsafe_here = |c: char| (c as u32) >= 0x7f && is_unsafe_char(c);
    if !json.chars().any(unsafe_here) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_here(c) {
            // Every unsafe character is in the Basic Multilingual Plane: one \uXXXX each.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fields_show_controls_and_never_interpret_them() {
        assert!(matches!(escape_field("KAAP.plain-id_1 /ok"), Cow::Borrowed(_)));
        assert_eq!(escape_field("a\u{1b}[32mallow\nb"), "a\\x1b[32mallow\\nb");
        assert_eq!(escape_field("x\ry\tz\u{7f}\u{9b}"), "x\\ry\\tz\\x7f\\x9b");
        assert_eq!(escape_field("\u{202e}evil\u{2066}\u{2069}\u{200f}"), "\\u{202e}evil\\u{2066}\\u{2069}\\u{200f}");
        // A backslash in the data cannot pose as one of our escapes.
        assert_eq!(escape_field("\\x1b"), "\\\\x1b");
        // Non-ASCII text that is not a control stays readable.
        assert_eq!(escape_field("clé/秘密"), "clé/秘密");
        for s in ["\u{1b}]0;t\u{7}", "\u{0}\u{85}\u{2028}", "a\u{202a}\u{202b}\u{202c}\u{202d}\u{2067}\u{2068}"] {
            assert!(!escape_field(s).chars().any(is_unsafe_char), "{s:?}");
        }
    }

    #[test]
    fn json_has_no_raw_unsafe_characters_and_keeps_its_values() {
        let v = serde_json::json!({ "AccessKeyId": "k\u{1b}[2J\n\u{7f}\u{9b}\u{202e}\u{2069}x", "Count": 1 });
        let text = serde_json::to_string_pretty(&v).unwrap();
        let safe = json_escape_unsafe(&text);
        assert!(!safe.chars().any(|c| is_unsafe_char(c) && c != '\n'), "{safe}");
        assert!(safe.contains("\\u001b") && safe.contains("\\u007f") && safe.contains("\\u009b"), "{safe}");
        assert!(safe.contains("\\u202e") && safe.contains("\\u2069"), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }
}
