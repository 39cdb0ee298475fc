//! Time without a clock: `UnixTime` seconds are always passed in. The one calendar routine of the
//! crate, with hand-written parsers and formatters for the forms we meet: ISO 8601 UTC
//! (`2021-07-01T00:00:00Z`, client key validity), RFC 3339 (request documents), RFC 1123 (the
//! `date` header) and the DER `UTCTime` / `GeneralizedTime` of X.509 validity (RFC 5280).

/// Seconds since 1970-01-01T00:00:00Z.
pub type UnixTime = i64;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday

/// Days since the epoch of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of `days_from_civil`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Validated fields to seconds. Leap seconds (`:60`) are rejected.
fn to_unix(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<UnixTime> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s))
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |a, b| a * 10 + u32::from(b - b'0')))
}

fn split(t: UnixTime) -> (i64, u32, u32, u32, u32, u32, usize) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let wd = days.rem_euclid(7) as usize;
    (y, m, d, (secs / 3600) as u32, ((secs / 60) % 60) as u32, (secs % 60) as u32, wd)
}

/// Parses `yyyy-MM-ddTHH:mm:ssZ` (the only form of client-key NotBefore/NotAfter).
pub fn parse_iso8601(s: &str) -> Option<UnixTime> {
    let b = s.as_bytes();
    if b.len() != 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') || b.get(19) != Some(&b'Z') {
        return None;
    }
    to_unix(
        i64::from(digits(b.get(0..4)?)?),
        digits(b.get(5..7)?)?,
        digits(b.get(8..10)?)?,
        digits(b.get(11..13)?)?,
        digits(b.get(14..16)?)?,
        digits(b.get(17..19)?)?,
    )
}

/// Formats as `yyyy-MM-ddTHH:mm:ssZ`.
pub fn format_iso8601(t: UnixTime) -> String {
    let (y, m, d, h, mi, s, _) = split(t);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Parses RFC 3339 (`2020-02-06T07:32:54Z`, optional fraction — truncated — and `±hh:mm` offset).
pub fn parse_rfc3339(s: &str) -> Option<UnixTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let base = to_unix(
        i64::from(digits(b.get(0..4)?)?),
        digits(b.get(5..7)?)?,
        digits(b.get(8..10)?)?,
        digits(b.get(11..13)?)?,
        digits(b.get(14..16)?)?,
        digits(b.get(17..19)?)?,
    )?;
    let mut rest = b.get(19..)?;
    if rest.first() == Some(&b'.') {
        let n = rest.iter().skip(1).take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = rest.get(1 + n..)?;
    }
    match rest {
        [b'Z' | b'z'] => Some(base),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let off = i64::from(h * 3600 + m * 60);
            Some(if *sign == b'+' { base - off } else { base + off })
        }
        _ => None,
    }
}

/// Parses an RFC 1123 HTTP date, `Thu, 06 Feb 2020 07:32:54 GMT` (the SDKs' `date` header).
/// The day may have one or two digits; the weekday must be a valid name but is not cross-checked
/// (servers built on Java date parsers do not check it either).
pub fn parse_rfc1123(s: &str) -> Option<UnixTime> {
    let mut parts = s.split(' ');
    let wd = parts.next()?;
    let day = parts.next()?;
    let mon = parts.next()?;
    let year = parts.next()?;
    let hms = parts.next()?;
    let zone = parts.next()?;
    if parts.next().is_some() || zone != "GMT" {
        return None;
    }
    let wd = wd.strip_suffix(',')?;
    if !WEEKDAYS.contains(&wd) || day.len() > 2 || year.len() != 4 {
        return None;
    }
    let mo = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
    let hb = hms.as_bytes();
    if hb.len() != 8 || hb.get(2) != Some(&b':') || hb.get(5) != Some(&b':') {
        return None;
    }
    to_unix(
        i64::from(digits(year.as_bytes())?),
        mo,
        digits(day.as_bytes())?,
        digits(hb.get(0..2)?)?,
        digits(hb.get(3..5)?)?,
        digits(hb.get(6..8)?)?,
    )
}

/// Formats an RFC 1123 HTTP date.
pub fn format_rfc1123(t: UnixTime) -> String {
    let (y, m, d, h, mi, s, wd) = split(t);
    let wd = WEEKDAYS.get(wd).copied().unwrap_or("Thu");
    let mon = MONTHS.get((m as usize).wrapping_sub(1)).copied().unwrap_or("Jan");
    format!("{wd}, {d:02} {mon} {y:04} {h:02}:{mi:02}:{s:02} GMT")
}

/// Parses the content of an X.509 validity time (RFC 5280 §4.1.2.5) in its DER form: `UTCTime`
/// `YYMMDDHHMMSSZ` (years 1950–2049), or with `generalized` a `GeneralizedTime`
/// `YYYYMMDDHHMMSSZ` (no fractional seconds).
pub(crate) fn parse_x509_time(content: &[u8], generalized: bool) -> Option<UnixTime> {
    let (year, rest) = if generalized {
        (i64::from(digits(content.get(..4)?)?), content.get(4..)?)
    } else {
        let yy = i64::from(digits(content.get(..2)?)?);
        (if yy < 50 { 2000 + yy } else { 1900 + yy }, content.get(2..)?)
    };
    let [mo1, mo2, d1, d2, h1, h2, mi1, mi2, s1, s2, b'Z'] = rest else {
        return None;
    };
    to_unix(
        year,
        digits(&[*mo1, *mo2])?,
        digits(&[*d1, *d2])?,
        digits(&[*h1, *h2])?,
        digits(&[*mi1, *mi2])?,
        digits(&[*s1, *s2])?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_date() {
        let t = parse_rfc1123("Thu, 06 Feb 2020 07:32:54 GMT");
        assert_eq!(t, Some(1_580_974_374));
        assert_eq!(format_rfc1123(1_580_974_374), "Thu, 06 Feb 2020 07:32:54 GMT");
        assert_eq!(parse_rfc1123("Thu, 6 Feb 2020 07:32:54 GMT"), Some(1_580_974_374));
    }

    #[test]
    fn bad_dates() {
        for s in [
            "",
            "Thu, 06 Feb 2020 07:32:54",
            "Thu 06 Feb 2020 07:32:54 GMT",
            "Thu, 06 Feb 2020 07:32:54 UTC",
            "Thu, 30 Feb 2020 07:32:54 GMT",
            "Thu, 06 Fev 2020 07:32:54 GMT",
            "Xyz, 06 Feb 2020 07:32:54 GMT",
            "Thu, 06 Feb 2020 24:00:00 GMT",
            "Thu, 06 Feb 2020 07:32:54 GMT ",
            "Thu, 06 Feb 20 07:32:54 GMT",
            "Thu,  06 Feb 2020 07:32:54 GMT",
            "2020-02-06T07:32:54Z",
        ] {
            assert_eq!(parse_rfc1123(s), None, "{s}");
        }
    }

    #[test]
    fn iso_and_rfc3339() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601("2026-07-01T00:00:00Z").map(format_iso8601).as_deref(), Some("2026-07-01T00:00:00Z"));
        assert_eq!(parse_iso8601("2024-02-29T23:59:59Z").map(format_iso8601).as_deref(), Some("2024-02-29T23:59:59Z"));
        assert_eq!(parse_iso8601("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_iso8601("2023-01-01T00:00:00"), None);
        assert_eq!(parse_iso8601("2023-01-01 00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2020-02-06T07:32:54Z"), Some(1_580_974_374));
        assert_eq!(parse_rfc3339("2020-02-06T15:32:54.123+08:00"), Some(1_580_974_374));
        assert_eq!(parse_rfc3339("2020-02-06T07:32:54"), None);
        assert_eq!(format_iso8601(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000i64..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn x509_known_instants() {
        let utc = |s: &str| parse_x509_time(s.as_bytes(), false);
        let gen = |s: &str| parse_x509_time(s.as_bytes(), true);
        assert_eq!(utc("700101000000Z"), Some(0));
        assert_eq!(utc("210701042404Z"), Some(1_625_113_444));
        assert_eq!(utc("491231235959Z"), Some(2_524_607_999));
        assert_eq!(utc("500101000000Z"), Some(-631_152_000));
        assert_eq!(gen("20500101000000Z"), Some(2_524_608_000));
        assert_eq!(gen("20000229120000Z"), Some(951_825_600));
        assert_eq!(gen("99991231235959Z"), Some(253_402_300_799));
    }

    #[test]
    fn x509_rejects_non_der_forms() {
        for bad in [
            "2107010424Z",
            "210701042404",
            "210701042404+0800",
            "211301000000Z",
            "210230000000Z",
            "210701246000Z",
            "2107010424604Z",
            "21070104240aZ",
        ] {
            assert_eq!(parse_x509_time(bad.as_bytes(), false), None, "{bad}");
        }
        for bad in ["20210701042404.5Z", "2021070104240Z", "19000229000000Z"] {
            assert_eq!(parse_x509_time(bad.as_bytes(), true), None, "{bad}");
        }
    }
}
