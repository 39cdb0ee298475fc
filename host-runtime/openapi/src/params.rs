//! Request parameters: the query string and a form body, decoded strictly and merged (the
//! management SDK sends the query, Terraform the body, one request may use both), plus the typed
//! readers the actions use. Every reader error names the parameter.

use crate::OpenApiError;

/// At most this many parameters per request (the largest action takes about fifteen).
const MAX_PARAMS: usize = 128;

/// The decoded parameters of one request, query first, then body; names are unique.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes `query` (without the `?`) and, when given, an `application/x-www-form-urlencoded`
    /// body. `+` is a space (the SDKs send spaces so), `%XX` a byte; the result must be UTF-8.
    /// A name given twice (in either place) is refused rather than guessed at.
    pub fn parse(query: &str, form_body: Option<&[u8]>) -> Result<Params, OpenApiError> {
        let mut params = Params::default();
        params.extend(query.as_bytes())?;
        if let Some(body) = form_body {
            params.extend(body)?;
        }
        Ok(params)
    }

    fn extend(&mut self, encoded: &[u8]) -> Result<(), OpenApiError> {
        let text = std::str::from_utf8(encoded)
            .map_err(|_| OpenApiError::invalid("(parameters)", "the encoded parameters are not ASCII"))?;
        // One decoder for the server and the signature code: policy-core's.
        let pairs = policy_core::openapi::decode_form_urlencoded(text)
            .map_err(|e| OpenApiError::invalid("(parameters)", e.to_string()))?;
        for (name, value) in pairs {
            if name.is_empty() {
                return Err(OpenApiError::invalid("(parameter name)", "a parameter has an empty name"));
            }
            if self.pairs.iter().any(|(n, _)| *n == name) {
                return Err(OpenApiError::invalid(name, "given more than once"));
            }
            if self.pairs.len() == MAX_PARAMS {
                return Err(OpenApiError::invalid("(parameters)", format!("more than {MAX_PARAMS} parameters")));
            }
            self.pairs.push((name, value));
        }
        Ok(())
    }

    /// Every parameter, for the signature's canonical form.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The value of `name`, if present (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A present, non-empty value; else `MissingParameter`.
    pub fn required(&self, name: &str) -> Result<&str, OpenApiError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(OpenApiError::MissingParameter(name.to_owned())),
        }
    }

    /// A value, with an empty one read as absent (the SDKs send unset optional fields as absent;
    /// Terraform sometimes as empty).
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// A boolean, case-insensitive (`True` from Python's `str()`, `true` from Go).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, OpenApiError> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(OpenApiError::invalid(name, "expected true or false")),
        }
    }

    /// An integer within `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, OpenApiError> {
        let Some(v) = self.optional(name) else { return Ok(None) };
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(OpenApiError::invalid(name, format!("expected an integer from {min} to {max}"))),
        }
    }

    /// A JSON array of strings carried in a string parameter (`SourcePrivateIp`, `Permissions`,
    /// `Resources`, `Policies`: the SDK models type them `str`).
    pub fn json_strings(&self, name: &str) -> Result<Option<Vec<String>>, OpenApiError> {
        let Some(v) = self.optional(name) else { return Ok(None) };
        json_string_array(v).map(Some).map_err(|why| OpenApiError::invalid(name, why))
    }

    /// The page of a List* call: `PageNumber` (from 1) and `PageSize` (1..=100, default
    /// `default_size`: Alibaba's per-action default, see docs/openapi.md#responses).
    pub fn page(&self, default_size: i64) -> Result<Page, OpenApiError> {
        let number = self.int("PageNumber", 1, i64::from(u32::MAX))?.unwrap_or(1);
        let size = self.int("PageSize", 1, 100)?.unwrap_or(default_size);
        Ok(Page { number: number as u64, size: size as u64 })
    }
}

/// `PageNumber`/`PageSize` of a List* call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u64,
    pub size: u64,
}

impl Page {
    /// The items of this page.
    pub fn slice<'a, T>(&self, all: &'a [T]) -> &'a [T] {
        let start = usize::try_from((self.number - 1).saturating_mul(self.size)).unwrap_or(usize::MAX).min(all.len());
        let end = start.saturating_add(usize::try_from(self.size).unwrap_or(usize::MAX)).min(all.len());
        &all[start..end]
    }
}

fn json_string_array(text: &str) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON array of strings ({e})"))?;
    let items = value.as_array().ok_or("expected a JSON array of strings, e.g. [\"a\",\"b\"]")?;
    items
        .iter()
        .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| "every element must be a string".to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn query_and_body_merge_and_decode() {
        let p =
            Params::parse("Action=CreatePolicy&Name=a+b%2Fc", Some(b"Permissions=%5B%22x%22%5D&Description=")).unwrap();
        assert_eq!(p.get("Name"), Some("a b/c"));
        assert_eq!(p.json_strings("Permissions").unwrap(), Some(vec!["x".to_owned()]));
        assert_eq!(p.get("Description"), Some(""));
        assert_eq!(p.optional("Description"), None);
    }

    #[test]
    fn a_name_twice_is_refused() {
        let e = Params::parse("Name=a", Some(b"Name=b")).unwrap_err();
        assert!(matches!(e, OpenApiError::InvalidParameter { ref param, .. } if param == "Name"), "{e:?}");
    }

    #[test]
    fn bad_escapes_and_bad_utf8_are_refused() {
        assert!(Params::parse("Name=%zz", None).is_err());
        assert!(Params::parse("Name=%4", None).is_err());
        assert!(Params::parse("Name=%ff", None).is_err());
    }

    #[test]
    fn booleans_are_case_insensitive_and_strict() {
        let p = Params::parse("A=True&B=false&C=yes", None).unwrap();
        assert_eq!(p.bool("A").unwrap(), Some(true));
        assert_eq!(p.bool("B").unwrap(), Some(false));
        assert!(p.bool("C").is_err());
    }

    #[test]
    fn pages_slice_without_overflow() {
        let all: Vec<u32> = (0..25).collect();
        let p = Params::parse("PageNumber=3&PageSize=10", None).unwrap().page(10).unwrap();
        assert_eq!(p.slice(&all), &[20, 21, 22, 23, 24]);
        let far = Params::parse("PageNumber=4294967295&PageSize=100", None).unwrap().page(10).unwrap();
        assert!(far.slice(&all).is_empty());
        assert!(Params::parse("PageSize=101", None).unwrap().page(10).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(q in ".{0,200}", b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = Params::parse(&q, Some(&b));
        }
    }
}
