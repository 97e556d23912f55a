//! `kubectl get hpa` as text: the TARGETS cell, the AGE column and the column layout, one
//! renderer for `mixerless-adapter explain` and the demo's live table.

use std::time::Duration;

use crate::quantity::format_milli;
use crate::replicas::Target;

/// The TARGETS cell as kubectl prints it for an External metric: `10056m/10 (avg)`,
/// `<unknown>/10 (avg)` before the first good answer, `8600m/14400m` for a Value target.
pub fn target_cell(target: Target, current_milli: Option<i64>) -> String {
    let current = current_milli.map_or_else(|| "<unknown>".to_owned(), format_milli);
    match target {
        Target::AverageValue(t) => format!("{current}/{} (avg)", format_milli(t)),
        Target::Value(t) => format!("{current}/{}", format_milli(t)),
    }
}

/// kubectl's AGE column (`duration.HumanDuration`): `45s`, `4m45s`, `12m`, `3h5m`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s}s")
    } else if s < 600 {
        match s % 60 {
            0 => format!("{}m", s / 60),
            r => format!("{}m{r}s", s / 60),
        }
    } else if s < 3 * 3600 {
        format!("{}m", s / 60)
    } else {
        match (s / 60) % 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h{m}m", s / 3600),
        }
    }
}

/// The header and rows as kubectl lays them out: each column padded to its widest cell plus 3
/// spaces, no trailing spaces. A row shorter than the header leaves its last columns empty.
pub fn render<R: AsRef<[S]>, S: AsRef<str>>(header: &[&str], rows: &[R]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row.as_ref()) {
            *w = (*w).max(c.as_ref().chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (cell, w) in cells.zip(&widths) {
            l.push_str(&format!("{cell:<w$}", w = w + 3));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.as_ref().iter().map(AsRef::as_ref));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates that TARGETS reads like kubectl's for the walk-through's value.
    #[test]
    fn targets_like_kubectl() {
        assert_eq!(
            target_cell(Target::AverageValue(10_000), Some(10_056)),
            "10056m/10 (avg)"
        );
        assert_eq!(
            target_cell(Target::AverageValue(5), None),
            "<unknown>/5m (avg)"
        );
        assert_eq!(
            target_cell(Target::Value(14_400), Some(8_600)),
            "8600m/14400m"
        );
    }

    /// Demonstrates kubectl's AGE rounding.
    #[test]
    fn ages_like_kubectl() {
        let a = |s| age(Duration::from_secs(s));
        assert_eq!(
            [a(45), a(119), a(120), a(285), a(300), a(754), a(11_100)],
            ["45s", "119s", "2m", "4m45s", "5m", "12m", "3h5m"]
        );
    }

    /// Demonstrates the layout: columns as wide as their widest cell (header or row) plus
    /// three spaces, the last one unpadded, and a cell wider than its header widening it.
    #[test]
    fn renders_aligned_columns() {
        let t = render(
            &["NAMESPACE", "NAME", "DESIRED"],
            &[
                vec!["test", "podinfo-total", "3 (ScaleUp)"],
                vec!["t", "p", "1"],
            ],
        );
        assert_eq!(
            t,
            "NAMESPACE   NAME            DESIRED\n\
             test        podinfo-total   3 (ScaleUp)\n\
             t           p               1\n"
        );
    }
}
