//! The canonical string the SDKs sign (`docs/protocol.md#instance-api-signature`), byte for byte,
//! and the headers that verification reads, gathered in one pass over the request.

use core::cmp::Ordering;

/// A borrowed view of an HTTP request: method, headers (names case-insensitive), body.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequestView<'a> {
    pub method: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl<'a> HttpRequestView<'a> {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }
}

/// `METHOD\n content-sha256\n content-type\n date\n` + the `x-kms-*` headers (lower-case names,
/// plain byte order, `name:trim(value)\n`) + `/`.
pub fn string_to_sign(req: &HttpRequestView<'_>) -> String {
    SignedHeaders::gather(req).string_to_sign(req.method)
}

/// `name` starts with `x-kms-` in any case.
fn is_kms(name: &str) -> bool {
    name.as_bytes().get(..6).is_some_and(|p| p.eq_ignore_ascii_case(b"x-kms-"))
}

/// Header names compared as their lower-case forms.
fn cmp_lowercase(a: &str, b: &str) -> Ordering {
    a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// The headers a signed request is checked against, each the first occurrence of its name; found
/// in a single pass, so that verification does not scan the header list once per name.
#[derive(Debug, Default)]
pub(crate) struct SignedHeaders<'a> {
    pub content_sha256: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub date: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub access_key_id: Option<&'a str>,
    pub api_version: Option<&'a str>,
    pub api_name: Option<&'a str>,
    pub signature_method: Option<&'a str>,
    /// Every `x-kms-*` header as (name, trimmed value, position), sorted by lower-case name and,
    /// within a name, by position.
    kms: Vec<(&'a str, &'a str, usize)>,
    /// Position of the first signed header (the four single ones or an `x-kms-*`) that appears
    /// again later.
    duplicate: Option<usize>,
    /// The request's headers, to name the duplicate.
    headers: &'a [(&'a str, &'a str)],
}

impl<'a> SignedHeaders<'a> {
    pub(crate) fn gather(req: &HttpRequestView<'a>) -> Self {
        let mut s = SignedHeaders { headers: req.headers, ..SignedHeaders::default() };
        // Position of the first occurrence of each single header, to report duplicates.
        let mut first = [usize::MAX; 4];
        for (i, &(name, value)) in req.headers.iter().enumerate() {
            if is_kms(name) {
                s.kms.push((name, value.trim(), i));
                let slot = match name.len() {
                    18 if name.eq_ignore_ascii_case("x-kms-acccesskeyid") => &mut s.access_key_id,
                    16 if name.eq_ignore_ascii_case("x-kms-apiversion") => &mut s.api_version,
                    13 if name.eq_ignore_ascii_case("x-kms-apiname") => &mut s.api_name,
                    21 if name.eq_ignore_ascii_case("x-kms-signaturemethod") => &mut s.signature_method,
                    _ => continue,
                };
                slot.get_or_insert(value);
                continue;
            }
            let (slot, n) = match name.len() {
                14 if name.eq_ignore_ascii_case("content-sha256") => (&mut s.content_sha256, 0),
                12 if name.eq_ignore_ascii_case("content-type") => (&mut s.content_type, 1),
                4 if name.eq_ignore_ascii_case("date") => (&mut s.date, 2),
                13 if name.eq_ignore_ascii_case("authorization") => (&mut s.authorization, 3),
                _ => continue,
            };
            match slot {
                None => {
                    *slot = Some(value);
                    first[n] = i;
                }
                Some(_) => s.note_duplicate(first[n]),
            }
        }
        // Stable: equal names keep their request order, as the SDKs' sort does.
        s.kms.sort_by(|a, b| cmp_lowercase(a.0, b.0));
        // Within a run of one name the positions ascend, and the smallest is kept: the first
        // occurrence is the one named.
        let repeated = s.kms.windows(2).filter(|w| w[0].0.eq_ignore_ascii_case(w[1].0)).map(|w| w[0].2).min();
        if let Some(position) = repeated {
            s.note_duplicate(position);
        }
        s
    }

    fn note_duplicate(&mut self, position: usize) {
        self.duplicate = Some(self.duplicate.map_or(position, |d| d.min(position)));
    }

    /// The name of the first signed header sent more than once, as the request spelt it.
    pub(crate) fn duplicate(&self) -> Option<&'a str> {
        self.duplicate.and_then(|i| self.headers.get(i)).map(|(k, _)| *k)
    }

    pub(crate) fn string_to_sign(&self, method: &str) -> String {
        let mut s = String::with_capacity(256 + self.kms.iter().map(|(k, v, _)| k.len() + v.len() + 2).sum::<usize>());
        s.push_str(method);
        s.push('\n');
        for h in [self.content_sha256, self.content_type, self.date] {
            s.push_str(h.unwrap_or(""));
            s.push('\n');
        }
        for (k, v, _) in &self.kms {
            let start = s.len();
            s.push_str(k);
            if let Some(name) = s.get_mut(start..) {
                name.make_ascii_lowercase();
            }
            s.push(':');
            s.push_str(v);
            s.push('\n');
        }
        s.push('/');
        s
    }
}
