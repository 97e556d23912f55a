//! Kubernetes `resource.Quantity` strings in canonical DecimalSI form, as the HPA reads them.

/// Why a value cannot be served as a Quantity.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// NaN or ±Inf have no Quantity form.
    #[error("value {0} is not a finite number")]
    NotFinite(f64),
    /// A Quantity's magnitude is at most 2^63−1 (in milli units here).
    #[error("value {0} is too large for a Quantity")]
    TooLarge(f64),
}

/// Formats `v` as a canonical DecimalSI Quantity at milli precision, truncating toward zero as
/// kube-metrics-adapter does (`10.0567` → `10056m`, `1500` → `1500`, `2.5e6` → `2500k`).
pub fn format(v: f64) -> Result<String, Error> {
    Ok(format_milli(to_milli(v)?))
}

/// `v` in milli units, truncated toward zero; a product within float noise of an integer is
/// rounded to it first so that `10.056` is `10056m`, not `10055m`.
pub fn to_milli(v: f64) -> Result<i64, Error> {
    if !v.is_finite() {
        return Err(Error::NotFinite(v));
    }
    let x = v * 1000.0;
    let nearest = x.round();
    let milli = if (x - nearest).abs() <= 1e-9 * x.abs().max(1.0) {
        nearest
    } else {
        x.trunc()
    };
    if milli.abs() >= i64::MAX as f64 {
        return Err(Error::TooLarge(v));
    }
    Ok(milli as i64)
}

/// Formats an amount of milli units canonically: strip trailing zeros, then move to an exponent
/// that is a multiple of 3 and name it with its suffix (apimachinery `quantity.go`).
pub fn format_milli(milli: i64) -> String {
    if milli == 0 {
        return "0".to_owned();
    }
    let negative = milli < 0;
    let mut mantissa = i128::from(milli).unsigned_abs();
    let mut exp: i32 = -3;
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp += 1;
    }
    while exp.rem_euclid(3) != 0 {
        mantissa *= 10;
        exp -= 1;
    }
    let suffix = match exp {
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        // Below 2^63 milli the exponent never passes 15.
        _ => "E",
    };
    format!("{}{mantissa}{suffix}", if negative { "-" } else { "" })
}

/// Parses a Quantity string into milli units, rounding up like `MilliValue()` (for `explain`
/// and HPA targets such as `averageValue: "10"` or `500m`).
pub fn parse_milli(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, mult): (&str, f64) = if let Some(n) = s.strip_suffix("Ki") {
        (n, 1024.0)
    } else if let Some(n) = s.strip_suffix("Mi") {
        (n, 1024f64.powi(2))
    } else if let Some(n) = s.strip_suffix("Gi") {
        (n, 1024f64.powi(3))
    } else if let Some(n) = s.strip_suffix("Ti") {
        (n, 1024f64.powi(4))
    } else if let Some(n) = s.strip_suffix('n') {
        (n, 1e-9)
    } else if let Some(n) = s.strip_suffix('u') {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('k') {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('M') {
        (n, 1e6)
    } else if let Some(n) = s.strip_suffix('G') {
        (n, 1e9)
    } else if let Some(n) = s.strip_suffix('T') {
        (n, 1e12)
    } else if let Some(n) = s.strip_suffix('P') {
        (n, 1e15)
    } else {
        (s, 1.0)
    };
    if num.is_empty()
        || !num
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
    {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    // One rounding, not two: `mult * 1000.0` is exact for every suffix from m up, so a
    // canonical `<n>m` parses back to exactly n (fuzz/regressions/quantity).
    let milli = v * (mult * 1000.0);
    if !milli.is_finite() || milli.abs() >= i64::MAX as f64 {
        return None;
    }
    let nearest = milli.round();
    Some(if (milli - nearest).abs() <= 1e-9 * milli.abs().max(1.0) {
        nearest as i64
    } else {
        milli.ceil() as i64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates the canonical forms of the reference table (apimachinery's DecimalSI rules).
    #[test]
    fn canonical_forms_match_the_reference_table() {
        let cases: &[(f64, &str)] = &[
            (10.056, "10056m"),
            (1500.0, "1500"),
            (1.5, "1500m"),
            (10000.0, "10k"),
            (10.0, "10"),
            (0.001, "1m"),
            (1000.0, "1k"),
            (2.5e6, "2500k"),
            (0.0, "0"),
            (-0.5, "-500m"),
            (-0.0, "0"),
            (1e9, "1G"),
            (123_456_789.0, "123456789"),
            (0.1, "100m"),
            (0.3, "300m"),
            (100.0 / 3.0, "33333m"),
        ];
        for (v, want) in cases {
            assert_eq!(format(*v).unwrap(), *want, "format({v})");
        }
    }

    /// Demonstrates that precision below a milli is truncated toward zero, as kube-metrics-adapter does.
    #[test]
    fn sub_milli_is_truncated_toward_zero() {
        assert_eq!(format(10.0567).unwrap(), "10056m");
        assert_eq!(format(-10.0567).unwrap(), "-10056m");
        assert_eq!(format(0.0009).unwrap(), "0");
    }

    /// Demonstrates that values without a Quantity form are errors, never a silent 0.
    #[test]
    fn non_finite_and_huge_values_are_errors() {
        assert!(format(f64::NAN)
            .unwrap_err()
            .to_string()
            .contains("not a finite"));
        assert!(matches!(format(f64::INFINITY), Err(Error::NotFinite(_))));
        assert!(matches!(
            format(f64::NEG_INFINITY),
            Err(Error::NotFinite(_))
        ));
        assert!(matches!(format(1e17), Err(Error::TooLarge(_))));
    }

    /// Demonstrates that Quantity strings parse to milli units, rounding up like MilliValue().
    #[test]
    fn parses_quantities_to_milli() {
        let cases: &[(&str, Option<i64>)] = &[
            ("10", Some(10_000)),
            ("500m", Some(500)),
            ("10056m", Some(10_056)),
            ("1.5", Some(1_500)),
            ("1k", Some(1_000_000)),
            ("2Ki", Some(2_048_000)),
            ("100u", Some(1)),
            ("1e3", Some(1_000_000)),
            ("", None),
            ("ten", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_milli(s), *want, "parse_milli({s:?})");
        }
    }
}
