//! Quantity formatting round trip: every value the adapter serves formats to a canonical
//! DecimalSI string that parses back to the same milli amount, and no string makes the parser
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixerless_hpa::quantity::{format, format_milli, parse_milli, to_milli};

/// Above 2^53 milli units an f64 no longer holds every integer, so the text → f64 parse cannot
/// be exact; values that large are far beyond any metric an HPA reads.
const EXACT: i64 = 1 << 53;

fn canonical(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let digits = digits.trim_end_matches(['m', 'k', 'M', 'G', 'T', 'P', 'E']);
    s == "0"
        || (!digits.is_empty()
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit()))
}

fn check_milli(m: i64) {
    let s = format_milli(m);
    assert!(canonical(&s), "{m} formats to non-canonical {s:?}");
    if m.unsigned_abs() <= EXACT as u64 {
        assert_eq!(parse_milli(&s), Some(m), "{m} → {s:?} does not parse back");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 if rest.len() >= 8 => {
            let v = f64::from_le_bytes(rest[..8].try_into().unwrap());
            match (format(v), to_milli(v)) {
                (Ok(s), Ok(m)) => {
                    assert_eq!(s, format_milli(m));
                    check_milli(m);
                }
                (Err(_), Err(_)) => assert!(!v.is_finite() || (v * 1000.0).abs() >= 9.2e18),
                (a, b) => panic!("format {a:?} and to_milli {b:?} disagree for {v}"),
            }
        }
        1 if rest.len() >= 8 => check_milli(i64::from_le_bytes(rest[..8].try_into().unwrap())),
        _ => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            if let Some(m) = parse_milli(s) {
                check_milli(m);
            }
        }
    }
});
