//! Printing results: JSON (Alibaba field names) with `--json`, short text otherwise. Errors go to
//! stderr; with `--json` a `{"Code", "Message"}` object also goes to stdout for scripts.

use serde::Serialize;
use serde_json::json;

use super::CliError;

pub struct Out {
    pub json: bool,
}

impl Out {
    /// Prints `value` as JSON, or the `human` text.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(s) => println!("{s}"),
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
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
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
