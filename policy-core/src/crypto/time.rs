//! X.509 validity times (RFC 5280 §4.1.2.5) to Unix seconds.

use super::der::{Tlv, TAG_GENERALIZED_TIME, TAG_UTC_TIME};
use super::error::PublicKeyError;

/// Parses a DER `UTCTime` (`YYMMDDHHMMSSZ`, years 1950–2049) or `GeneralizedTime`
/// (`YYYYMMDDHHMMSSZ`, no fractional seconds) into seconds since the Unix epoch.
pub(crate) fn parse_time(tlv: &Tlv<'_>, field: &'static str) -> Result<i64, PublicKeyError> {
    let bad = || PublicKeyError::BadTime { field };
    let (year, rest) = match (tlv.tag, tlv.content) {
        (TAG_UTC_TIME, [y1, y2, rest @ ..]) if rest.len() == 11 => {
            let yy = digits(&[*y1, *y2]).ok_or_else(bad)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, rest)
        }
        (TAG_GENERALIZED_TIME, [y1, y2, y3, y4, rest @ ..]) if rest.len() == 11 => {
            (digits(&[*y1, *y2, *y3, *y4]).ok_or_else(bad)?, rest)
        }
        _ => return Err(bad()),
    };
    let [mo1, mo2, d1, d2, h1, h2, mi1, mi2, s1, s2, b'Z'] = rest else {
        return Err(bad());
    };
    let month = digits(&[*mo1, *mo2]).ok_or_else(bad)?;
    let day = digits(&[*d1, *d2]).ok_or_else(bad)?;
    let hour = digits(&[*h1, *h2]).ok_or_else(bad)?;
    let minute = digits(&[*mi1, *mi2]).ok_or_else(bad)?;
    let second = digits(&[*s1, *s2]).ok_or_else(bad)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0')))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(tag: u8, s: &str) -> Result<i64, PublicKeyError> {
        parse_time(&Tlv { tag, content: s.as_bytes(), raw: &[] }, "notBefore")
    }

    #[test]
    fn known_instants() {
        assert_eq!(t(TAG_UTC_TIME, "700101000000Z").unwrap(), 0);
        assert_eq!(t(TAG_UTC_TIME, "210701042404Z").unwrap(), 1_625_113_444);
        assert_eq!(t(TAG_UTC_TIME, "491231235959Z").unwrap(), 2_524_607_999);
        assert_eq!(t(TAG_UTC_TIME, "500101000000Z").unwrap(), -631_152_000);
        assert_eq!(t(TAG_GENERALIZED_TIME, "20500101000000Z").unwrap(), 2_524_608_000);
        assert_eq!(t(TAG_GENERALIZED_TIME, "20000229120000Z").unwrap(), 951_825_600);
        assert_eq!(t(TAG_GENERALIZED_TIME, "99991231235959Z").unwrap(), 253_402_300_799);
    }

    #[test]
    fn rejects_non_der_forms() {
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
            assert!(t(TAG_UTC_TIME, bad).is_err(), "{bad}");
        }
        for bad in ["20210701042404.5Z", "2021070104240Z", "19000229000000Z"] {
            assert!(t(TAG_GENERALIZED_TIME, bad).is_err(), "{bad}");
        }
        assert!(t(0x04, "210701042404Z").is_err());
    }
}
