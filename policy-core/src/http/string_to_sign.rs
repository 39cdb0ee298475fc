//! The canonical string the SDKs sign (reference 1.3), byte for byte.

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
    let mut kms: Vec<(String, &str)> = req
        .headers
        .iter()
        .filter(|(k, _)| k.len() >= 6 && k.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-kms-")))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim()))
        .collect();
    kms.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut s = String::with_capacity(256);
    s.push_str(req.method);
    s.push('\n');
    for h in ["content-sha256", "content-type", "date"] {
        s.push_str(req.header(h).unwrap_or(""));
        s.push('\n');
    }
    for (k, v) in kms {
        s.push_str(&k);
        s.push(':');
        s.push_str(v);
        s.push('\n');
    }
    s.push('/');
    s
}
