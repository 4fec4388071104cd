//! UTC timestamps in the recording formats, without a date library: the
//! frame time (`2026-05-17T12:34:56.789Z`), the file stem
//! (`20260517T123456-789012Z`) and parsing of query bounds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 → (year, month, day) (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: u64,
    mi: u64,
    s: u64,
    micros: u32,
}

fn parts(t: SystemTime) -> Parts {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    Parts {
        y,
        mo,
        d,
        h: rem / 3600,
        mi: rem % 3600 / 60,
        s: rem % 60,
        micros: since.subsec_micros(),
    }
}

/// `2026-05-17T12:34:56.789Z` (the `t` of a frame).
pub fn iso_millis(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.y,
        p.mo,
        p.d,
        p.h,
        p.mi,
        p.s,
        p.micros / 1000
    )
}

/// `20260517T123456-789012Z` (a recording's file stem).
pub fn stem(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}-{:06}Z",
        p.y, p.mo, p.d, p.h, p.mi, p.s, p.micros
    )
}

/// The last second a frame time can name (9999-12-31T23:59:59Z): its year
/// has four digits.
const MAX_EPOCH: f64 = 253_402_300_799.0;

/// Parses an ISO-8601 time (`2026-05-17T12:34:56Z`, with optional
/// fraction, `Z` or `±HH:MM`, or a date alone) or epoch seconds, and
/// renders it as a frame time, so bounds compare exactly with frame times.
/// `None` for anything else, a time before 1970 or after the year 9999
/// included (`1e20` seconds is no `Duration`, and no `SystemTime`).
pub fn parse_bound(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if let Ok(epoch) = raw.parse::<f64>() {
        if !(0.0..=MAX_EPOCH).contains(&epoch) {
            return None;
        }
        let since = Duration::try_from_secs_f64(epoch).ok()?;
        return Some(iso_millis(UNIX_EPOCH.checked_add(since)?));
    }
    let b = raw.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = raw.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)? as u32, num(8..10)? as u32);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let (mut h, mut mi, mut s, mut micros) = (0, 0, 0, 0u64);
    let mut i = 10;
    let mut offset: i64 = 0;
    if i < b.len() {
        if !matches!(b[i], b'T' | b't' | b' ') || b.len() < i + 6 || b[i + 3] != b':' {
            return None;
        }
        h = num(i + 1..i + 3)?;
        mi = num(i + 4..i + 6)?;
        i += 6;
        if b.get(i) == Some(&b':') {
            s = num(i + 1..i + 3)?;
            i += 3;
        }
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            let frac = raw.get(start..end.min(start + 6))?;
            if frac.is_empty() {
                return None;
            }
            micros = frac.parse::<u64>().ok()? * 10u64.pow(6 - frac.len() as u32);
            i = end;
        }
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
                let oh = num(i + 1..i + 3)? as i64;
                let om = num(i + 4..i + 6)? as i64;
                offset = (oh * 60 + om) * 60 * if *sign == b'+' { 1 } else { -1 };
            }
            _ => return None,
        }
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
    }
    let days = days_from_civil(y as i64, mo, d);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + s) as i64 - offset;
    let secs = u64::try_from(secs).ok()?;
    let at = UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))?
        .checked_add(Duration::from_micros(micros))?;
    Some(iso_millis(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_epoch_second_is_the_year_9999() {
        assert_eq!(
            parse_bound("253402300799").as_deref(),
            Some("9999-12-31T23:59:59.000Z")
        );
    }

    #[test]
    fn formats_and_round_trips() {
        let t = UNIX_EPOCH + Duration::from_micros(1_779_021_296_789_012);
        assert_eq!(iso_millis(t), "2026-05-17T12:34:56.789Z");
        assert_eq!(stem(t), "20260517T123456-789012Z");
        assert_eq!(
            parse_bound("2026-05-17T12:34:56.789Z").as_deref(),
            Some("2026-05-17T12:34:56.789Z")
        );
        assert_eq!(
            parse_bound("2026-05-17T12:34:56Z").as_deref(),
            Some("2026-05-17T12:34:56.000Z")
        );
        assert_eq!(
            parse_bound("2026-05-17T14:34:56.5+02:00").as_deref(),
            Some("2026-05-17T12:34:56.500Z")
        );
        assert_eq!(
            parse_bound("2026-05-17").as_deref(),
            Some("2026-05-17T00:00:00.000Z")
        );
        assert_eq!(
            parse_bound("1779021296.789").as_deref(),
            Some("2026-05-17T12:34:56.789Z")
        );
        assert_eq!(
            parse_bound("2000-02-29T23:59:59Z").as_deref(),
            Some("2000-02-29T23:59:59.000Z")
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-05-17T25:00Z",
            "2026-05-17T12:00:00Q",
            "1e20",
            "1e19",
            "-1",
            "NaN",
            "inf",
            "253402300800",
        ] {
            assert_eq!(parse_bound(bad), None, "{bad}");
        }
    }
}
