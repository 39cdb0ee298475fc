//! Where each value of a bundle document sits in its text, so every [`super::BundleError`] can
//! carry a line and column (serde_json keeps no positions).
//!
//! The index is built only when a document has errors, and only from text serde_json has already
//! accepted: the scan follows well-formed JSON, so it stays small. Paths are spelt exactly as the
//! parser spells them (`$`, `$.Key`, `$.List[3]`), keys decoded by serde_json itself.

use std::collections::HashMap;

use serde::Serialize;

/// A region of the document text: 1-based lines and columns, columns counted in characters
/// (Unicode scalar values). `end_*` is the position just past the value (equal to the start
/// for a syntax error, which has a position but no extent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "PascalCase")]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
pub struct SourceSpan {
    /// Line of the first character, from 1.
    pub line: u32,
    /// Column of the first character, from 1.
    pub column: u32,
    /// Line just past the value.
    pub end_line: u32,
    /// Column just past the value.
    pub end_column: u32,
}

/// Line starts of a text, to turn byte offsets into lines and columns.
pub(crate) struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    pub(crate) fn new(text: &'t str) -> Lines<'t> {
        let mut starts = vec![0];
        starts.extend(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    /// `(line, column)` of a byte offset (clamped to the text, moved back to a char boundary).
    pub(crate) fn position(&self, offset: usize) -> (u32, u32) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|s| *s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = self.text.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        (sat_u32(line), sat_u32(column))
    }

    /// The span of the bytes `start..end`.
    pub(crate) fn span(&self, start: usize, end: usize) -> SourceSpan {
        let (line, column) = self.position(start);
        let (end_line, end_column) = self.position(end);
        SourceSpan { line, column, end_line, end_column }
    }

    /// A position given as serde_json reports it: 1-based line, column counted in bytes.
    pub(crate) fn at_line_byte_column(&self, line: usize, column: usize) -> SourceSpan {
        let start = match line.checked_sub(1).and_then(|l| self.starts.get(l)) {
            Some(s) => s + column.saturating_sub(1),
            None => self.text.len(),
        };
        self.span(start, start)
    }
}

fn sat_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The byte range of every value of a document, by path, in document order.
pub(crate) struct SpanIndex<'t> {
    lines: Lines<'t>,
    /// `(path, start, end)` for every value (duplicate keys give several entries of one path).
    entries: Vec<(String, usize, usize)>,
    by_path: HashMap<String, Vec<usize>>,
}

impl<'t> SpanIndex<'t> {
    /// Scans `text`, which serde_json has accepted as JSON. On text that is not JSON the scan
    /// stops at the first surprise and keeps what it found before.
    pub(crate) fn build(text: &'t str) -> SpanIndex<'t> {
        let mut s = Scanner { b: text.as_bytes(), text, i: 0, entries: Vec::new() };
        let _ = s.value("$".to_owned());
        let mut by_path: HashMap<String, Vec<usize>> = HashMap::new();
        for (n, (p, _, _)) in s.entries.iter().enumerate() {
            by_path.entry(p.clone()).or_default().push(n);
        }
        SpanIndex { lines: Lines::new(text), entries: s.entries, by_path }
    }

    /// The span of the `nth` value at `path` (0 = the first; later ones exist only for
    /// duplicate keys), else of its nearest enclosing value (for a path inside a string that
    /// holds JSON, or a missing field).
    pub(crate) fn find(&self, path: &str, nth: usize) -> Option<SourceSpan> {
        let mut p = path;
        let mut nth = nth;
        loop {
            if let Some(list) = self.by_path.get(p) {
                let idx = list.get(nth).or_else(|| list.last())?;
                let (_, start, end) = self.entries.get(*idx)?;
                return Some(self.lines.span(*start, *end));
            }
            nth = 0;
            p = parent(p)?;
        }
    }
}

/// The path one level up: `$.A[2].B` → `$.A[2]` → `$.A` → `$`; `None` for `$`.
fn parent(path: &str) -> Option<&str> {
    if path == "$" {
        return None;
    }
    let cut = path.rfind(['.', '['])?;
    path.get(..cut).filter(|p| !p.is_empty())
}

struct Scanner<'t> {
    b: &'t [u8],
    text: &'t str,
    i: usize,
    entries: Vec<(String, usize, usize)>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek() == Some(c)).then(|| self.i += 1)
    }

    /// Skips a string (at its opening quote); returns its raw text with the quotes.
    fn string(&mut self) -> Option<&str> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
        self.i += 1;
        self.text.get(start..self.i)
    }

    fn value(&mut self, path: String) -> Option<()> {
        self.ws();
        let start = self.i;
        let slot = self.entries.len();
        self.entries.push((path, start, start));
        match self.peek()? {
            b'{' => {
                self.i += 1;
                if self.eat(b'}').is_none() {
                    loop {
                        self.ws();
                        if self.peek()? != b'"' {
                            return None;
                        }
                        let raw = self.string()?;
                        let key: String = serde_json::from_str(raw).ok()?;
                        self.eat(b':')?;
                        let child = format!("{}.{key}", self.entries.get(slot)?.0);
                        self.value(child)?;
                        if self.eat(b',').is_none() {
                            self.eat(b'}')?;
                            break;
                        }
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.eat(b']').is_none() {
                    for n in 0.. {
                        let child = format!("{}[{n}]", self.entries.get(slot)?.0);
                        self.value(child)?;
                        if self.eat(b',').is_none() {
                            self.eat(b']')?;
                            break;
                        }
                    }
                }
            }
            b'"' => {
                self.string()?;
            }
            _ => {
                // A number, `true`, `false` or `null`: up to the next delimiter.
                while !matches!(self.peek(), None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')) {
                    self.i += 1;
                }
            }
        }
        if let Some(e) = self.entries.get_mut(slot) {
            e.2 = self.i;
        }
        Some(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str, path: &str) -> (u32, u32) {
        let s = SpanIndex::build(text).find(path, 0).unwrap();
        (s.line, s.column)
    }

    #[test]
    fn values_and_their_nearest_enclosing_value() {
        let text = "{\n  \"Policies\": [\n    {\n      \"Name\": \"p\",\n      \"Resources\": [\"key/a\",\n        \"key/b\"]\n    }\n  ]\n}";
        assert_eq!(at(text, "$"), (1, 1));
        assert_eq!(at(text, "$.Policies[0].Name"), (4, 15));
        assert_eq!(at(text, "$.Policies[0].Resources[1]"), (6, 9));
        assert_eq!(at(text, "$.Policies[0].Resources"), (5, 20));
        // A missing field is reported at its object; an unknown path at the nearest ancestor.
        assert_eq!(at(text, "$.Policies[0].Missing"), (3, 5));
        assert_eq!(at(text, "$.Nope"), (1, 1));
        let s = SpanIndex::build(text).find("$.Policies[0].Name", 0).unwrap();
        assert_eq!((s.end_line, s.end_column), (4, 18));
    }

    #[test]
    fn escapes_unicode_and_new_lines_in_strings() {
        let t = "{\"a\": \"x\\\"y\\n\",\n \"b\": [1, {\"c\\u0041\": \"ü\"}],\n \"d\": true}";
        assert_eq!(at(t, "$.d"), (3, 7));
        assert_eq!(at(t, "$.b[1].cA"), (2, 23));
        assert_eq!(at(t, "$.b[0]"), (2, 8));
        // Columns count characters, not bytes.
        let u = "{\"é\": 1, \"x\": [true, null]}";
        assert_eq!(at(u, "$.x[1]"), (1, 22));
    }

    #[test]
    fn duplicate_keys_have_one_entry_each() {
        let t = "{\"a\": 1,\n \"a\": 2,\n \"a\": 3}";
        let idx = SpanIndex::build(t);
        assert_eq!(idx.find("$.a", 0).unwrap().line, 1);
        assert_eq!(idx.find("$.a", 1).unwrap().line, 2);
        assert_eq!(idx.find("$.a", 2).unwrap().line, 3);
        assert_eq!(idx.find("$.a", 9).unwrap().line, 3);
    }

    #[test]
    fn keys_with_path_characters() {
        let t = "{\"a.b\": {\"c[0]\": 5}}";
        assert_eq!(at(t, "$.a.b.c[0]"), (1, 18));
        assert_eq!(at(t, "$.a.b"), (1, 9));
    }

    #[test]
    fn stops_quietly_on_text_that_is_not_json() {
        let t = "{\n \"A\": 1,\n \"B\": [\n  2,\n  oops\n ]\n}";
        let idx = SpanIndex::build(t);
        assert_eq!(idx.find("$.B[0]", 0).unwrap().line, 4);
        assert_eq!(SpanIndex::build("").find("$", 0).map(|s| (s.line, s.column)), Some((1, 1)));
    }

    #[test]
    fn serde_positions() {
        let lines = Lines::new("{\n  \"é\": x}");
        let s = lines.at_line_byte_column(2, 9);
        assert_eq!((s.line, s.column), (2, 8));
        assert_eq!(lines.at_line_byte_column(9, 1).line, 2);
    }
}
