//! Dates and durations as the history shows them (UTC), and the statistics of lead times.

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (see [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn days_in_month(y: i64, m: i64) -> i64 {
    days_from_civil(
        if m == 12 { y + 1 } else { y },
        if m == 12 { 1 } else { m + 1 },
        1,
    ) - days_from_civil(y, m, 1)
}

/// Parses a date as `--since` takes it: `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM[:SS]`
/// (UTC) with an optional `Z` or `±HH:MM` offset (a space may replace the `T`). Returns seconds
/// since the epoch.
pub fn parse_date(text: &str) -> Result<i64, String> {
    let s = text.trim();
    let bad =
        || format!("{text:?} is not a date: give YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]");
    let num = |t: &str, len: usize| -> Option<i64> {
        (t.len() == len && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut d = date.split('-');
    let (Some(y), Some(m), Some(day), None) = (
        d.next().and_then(|t| num(t, 4)),
        d.next().and_then(|t| num(t, 2)),
        d.next().and_then(|t| num(t, 2)),
        d.next(),
    ) else {
        return Err(bad());
    };
    if !(1..=12).contains(&m) || day < 1 || day > days_in_month(y, m) {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, day) * 86_400;
    if let Some(t) = time {
        let (clock, offset) = match t.find(['Z', 'z', '+', '-']) {
            Some(i) => (&t[..i], &t[i..]),
            None => (t, ""),
        };
        let mut c = clock.split(':');
        let (Some(h), Some(min), sec, None) = (
            c.next().and_then(|t| num(t, 2)),
            c.next().and_then(|t| num(t, 2)),
            c.next(),
            c.next(),
        ) else {
            return Err(bad());
        };
        let sec = match sec {
            Some(t) => num(t, 2).ok_or_else(bad)?,
            None => 0,
        };
        if h > 23 || min > 59 || sec > 59 {
            return Err(bad());
        }
        secs += h * 3600 + min * 60 + sec;
        if !offset.is_empty() && !offset.eq_ignore_ascii_case("z") {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (Some(oh), Some(om)) = offset[1..]
                .split_once(':')
                .map_or((None, None), |(a, b)| (num(a, 2), num(b, 2)))
            else {
                return Err(bad());
            };
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            secs -= sign * (oh * 3600 + om * 60);
        }
    }
    Ok(secs)
}

/// `YYYY-MM-DD HH:MM` (UTC).
pub fn format_time(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", s / 3600, s % 3600 / 60)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC), for JSON.
pub fn format_rfc3339(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// A duration in its two largest units: `3d 4h`, `5h 12m`, `12m`, `40s`.
pub fn format_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let Some(i) = units.iter().position(|(size, _)| secs >= *size) else {
        return "0s".to_string();
    };
    let (size, name) = units[i];
    let mut out = format!("{}{name}", secs / size);
    if let Some((next, next_name)) = units.get(i + 1) {
        let n = secs % size / next;
        if n > 0 {
            out.push_str(&format!(" {n}{next_name}"));
        }
    }
    out
}

/// The median and the 90th percentile of some durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Spread {
    /// How many durations.
    pub count: usize,
    /// The middle one (the mean of the two middle ones, rounded down, for an even count).
    pub median: i64,
    /// The smallest duration that at least 90% of them do not exceed (nearest rank).
    pub p90: i64,
    /// The longest.
    pub max: i64,
}

impl Spread {
    /// The spread of `values`; none when there are none.
    pub fn of(values: &[i64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_unstable();
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            let (a, b) = (i128::from(v[n / 2 - 1]), i128::from(v[n / 2]));
            i64::try_from((a + b).div_euclid(2)).unwrap_or(v[n / 2])
        };
        // Nearest rank: the ceil(0.9 n)-th value.
        let rank = (9 * n).div_ceil(10).max(1);
        Some(Spread {
            count: n,
            median,
            p90: v[rank - 1],
            max: v[n - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_to_utc_seconds() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2026-01-01"), Ok(1_767_225_600));
        assert_eq!(parse_date("2026-01-01T10:30"), Ok(1_767_225_600 + 37_800));
        assert_eq!(
            parse_date("2026-01-01 10:30:05Z"),
            Ok(1_767_225_600 + 37_805)
        );
        assert_eq!(
            parse_date("2026-01-01T10:30:00+02:00"),
            Ok(1_767_225_600 + 30_600)
        );
        assert_eq!(
            parse_date("2026-01-01T10:30:00-01:30"),
            Ok(1_767_225_600 + 43_200)
        );
        assert_eq!(parse_date("2024-02-29"), Ok(1_709_164_800));
        for bad in [
            "",
            "2026",
            "2026-1-01",
            "2026-13-01",
            "2023-02-29",
            "2026-01-32",
            "2026-01-01T25:00",
            "2026-01-01T10",
            "2026-01-01T10:00+5",
            "yesterday",
            "2026-01-01x",
            "２０２６-01-01",
        ] {
            let e = parse_date(bad).unwrap_err();
            assert!(e.starts_with(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn dates_and_durations_print_in_utc() {
        assert_eq!(format_time(1_767_225_600 + 37_805), "2026-01-01 10:30");
        assert_eq!(
            format_rfc3339(1_767_225_600 + 37_805),
            "2026-01-01T10:30:05Z"
        );
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(-5), "0s");
        assert_eq!(format_duration(40), "40s");
        assert_eq!(format_duration(12 * 60 + 5), "12m 5s");
        assert_eq!(format_duration(5 * 3600 + 12 * 60), "5h 12m");
        assert_eq!(format_duration(3 * 86_400 + 4 * 3600 + 59), "3d 4h");
        assert_eq!(format_duration(2 * 86_400 + 30), "2d");
        assert_eq!(format_duration(3600), "1h");
    }

    #[test]
    fn median_and_90th_percentile() {
        assert_eq!(Spread::of(&[]), None);
        let one = Spread::of(&[7]).unwrap();
        assert_eq!((one.median, one.p90, one.max), (7, 7, 7));
        let even = Spread::of(&[4, 1, 3, 2]).unwrap();
        assert_eq!((even.count, even.median, even.p90, even.max), (4, 2, 4, 4));
        let ten: Vec<i64> = (1..=10).rev().collect();
        let s = Spread::of(&ten).unwrap();
        assert_eq!((s.median, s.p90), (5, 9));
        let hundred: Vec<i64> = (1..=100).collect();
        let s = Spread::of(&hundred).unwrap();
        assert_eq!((s.median, s.p90, s.max), (50, 90, 100));
        let extreme = Spread::of(&[i64::MAX, i64::MAX - 2]).unwrap();
        assert_eq!(extreme.median, i64::MAX - 1);
        let eleven: Vec<i64> = (1..=11).collect();
        assert_eq!(Spread::of(&eleven).unwrap().p90, 10);
    }
}
