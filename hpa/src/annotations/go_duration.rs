//! Durations as kube-metrics-adapter reads them: Go's `time.ParseDuration` (`1h30m`, `1.5s`,
//! `300ms`; units ns, us, µs, ms, s, m, h; at most 2562047h47m16.854775807s), so an annotation
//! that worked there means the same here and one it refused is refused here. Unlike Go, a
//! negative duration is refused too (kube-metrics-adapter would evaluate it in a busy loop).
//!
//! Written here because no crate parses Go's syntax exactly: `humantime` (used for our own
//! flags) accepts `30sec`, `1day` and spaces, which Go and kube-metrics-adapter refuse.

use std::time::Duration;

/// Go's units in nanoseconds.
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses `s` as Go's `time.ParseDuration` does; the error says why not.
pub(super) fn parse(s: &str) -> Result<Duration, String> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err("empty".into());
    }
    let max = i64::MAX as u128;
    let too_large = || "longer than Go's largest duration, 2562047h47m16.854775807s".to_owned();
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
        let int_len = digits(rest);
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(f) => f.split_at(digits(f)),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(format!("expected a number at {rest:?}"));
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "missing unit after {:?} (ns, us, ms, s, m, h)",
                &rest[..rest.len() - after.len()]
            ));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("unknown unit {unit:?} (ns, us, ms, s, m, h)"));
        };
        let whole: u128 = if int.is_empty() {
            0
        } else {
            int.parse::<u128>().map_err(|_| too_large())?
        };
        let mut ns = whole.checked_mul(scale).ok_or_else(too_large)?;
        if !frac.is_empty() {
            // Go keeps the fraction's leading digits and scales them in floating point.
            let kept = &frac[..frac.len().min(18)];
            let f: f64 = format!("0.{kept}").parse().unwrap_or(0.0);
            ns += (f * scale as f64) as u128;
        }
        total = total
            .checked_add(ns)
            .filter(|t| *t <= max)
            .ok_or_else(too_large)?;
        rest = next;
    }
    if negative && total > 0 {
        return Err("negative".into());
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates Go's grammar: what `time.ParseDuration` accepts, with its value, and what it
    /// refuses (and the negative durations refused here only), with the reason.
    #[test]
    fn reads_durations_as_go_does() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("0", ms(0)),
            ("0s", ms(0)),
            ("-0s", ms(0)),
            ("+30s", ms(30_000)),
            ("30s", ms(30_000)),
            ("1m30s", ms(90_000)),
            ("1.5h", ms(5_400_000)),
            (".5s", ms(500)),
            ("1.s", ms(1_000)),
            ("300ms", ms(300)),
            ("2h45m0.5s", ms(9_900_500)),
            ("1500us", Duration::from_micros(1500)),
            ("1500\u{b5}s", Duration::from_micros(1500)),
            ("1000000ns", ms(1)),
            ("2562047h", Duration::from_secs(2_562_047 * 3600)),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
        for (text, why) in [
            ("30sec", "unknown unit \"sec\""),
            ("soon", "expected a number at \"soon\""),
            ("30", "missing unit after \"30\""),
            ("1d", "unknown unit \"d\""),
            ("", "empty"),
            ("-", "empty"),
            (".s", "expected a number"),
            ("1m 30s", "unknown unit \"m \""),
            (" 30s", "expected a number"),
            ("-30s", "negative"),
            ("2562048h", "longer than Go's largest duration"),
            ("99999999999999999999999999999999999999999h", "longer than"),
        ] {
            let got = parse(text).unwrap_err();
            assert!(got.starts_with(why), "{text}: {got}");
        }
    }
}
