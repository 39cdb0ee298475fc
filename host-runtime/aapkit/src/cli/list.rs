//! List-valued flags: each occurrence is one item or a JSON array of items (the form Alibaba's API
//! takes), so `--policies a --policies b` and `--policies '["a","b"]'` mean the same.

use super::CliError;

pub fn expand(flag: &str, values: &[String]) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    for v in values {
        let t = v.trim();
        if t.starts_with('[') {
            let items: Vec<String> = serde_json::from_str(t)
                .map_err(|e| CliError::Usage(format!("--{flag} {v:?}: not a JSON array of strings ({e})")))?;
            out.extend(items);
        } else {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

/// Like [`expand`], `None` when the flag was not given at all (updates keep the old value).
pub fn expand_opt(flag: &str, values: &[String]) -> Result<Option<Vec<String>>, CliError> {
    if values.is_empty() {
        Ok(None)
    } else {
        expand(flag, values).map(Some)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn repeated_and_json_forms() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(expand("p", &s(&["a", "b"])).unwrap(), s(&["a", "b"]));
        assert_eq!(expand("p", &s(&["[\"a\",\"b\"]"])).unwrap(), s(&["a", "b"]));
        assert_eq!(expand("p", &s(&["[\"a\"]", "c"])).unwrap(), s(&["a", "c"]));
        assert_eq!(expand("p", &s(&["[]"])).unwrap(), Vec::<String>::new());
        assert!(expand("p", &s(&["[a]"])).is_err());
        assert!(expand("p", &s(&["[1]"])).is_err());
        assert_eq!(expand_opt("p", &[]).unwrap(), None);
    }
}
