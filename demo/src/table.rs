//! What the user watches: `kubectl get hpa` columns, redrawn in place, with a progress bar for
//! the load phase and the last scaling events.

use std::fmt::Write as _;
use std::time::Duration;

use mixerless_adapter::hpa::replicas::Target;
use mixerless_adapter::quantity::format_milli;

/// One `kubectl get hpa` row.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub reference: String,
    pub targets: String,
    pub min: i32,
    pub max: i32,
    pub replicas: i32,
    pub age: Duration,
}

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

/// The rows as `kubectl get hpa` lays them out: columns padded to the widest cell plus 3.
pub fn render(rows: &[Row]) -> String {
    let header = [
        "NAME",
        "REFERENCE",
        "TARGETS",
        "MINPODS",
        "MAXPODS",
        "REPLICAS",
        "AGE",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.reference.clone(),
                r.targets.clone(),
                r.min.to_string(),
                r.max.to_string(),
                r.replicas.to_string(),
                age(r.age),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cols: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i + 1 == cols.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}", w = widths[i] + 3);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// `[##########----------]  steady  0:45 / 1:10` for a phase `done` of `len`.
pub fn progress(phase: &str, done: Duration, len: Duration, width: usize) -> String {
    let frac = if len.is_zero() {
        1.0
    } else {
        (done.as_secs_f64() / len.as_secs_f64()).clamp(0.0, 1.0)
    };
    let filled = (frac * width as f64).round() as usize;
    format!(
        "[{}{}]  {phase}  {} / {}",
        "#".repeat(filled),
        "-".repeat(width - filled),
        clock(done.min(len)),
        clock(len)
    )
}

/// `m:ss`, to the nearest second.
pub fn clock(d: Duration) -> String {
    let s = (d.as_millis() as u64 + 500) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
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

    /// Demonstrates the table layout: header first, columns aligned three spaces apart.
    #[test]
    fn renders_aligned_columns() {
        let t = render(&[Row {
            name: "podinfo".into(),
            reference: "Deployment/podinfo".into(),
            targets: "10056m/10 (avg)".into(),
            min: 1,
            max: 5,
            replicas: 2,
            age: Duration::from_secs(285),
        }]);
        assert_eq!(
            t,
            "NAME      REFERENCE            TARGETS           MINPODS   MAXPODS   REPLICAS   AGE\n\
             podinfo   Deployment/podinfo   10056m/10 (avg)   1         5         2          4m45s\n"
        );
    }

    /// Demonstrates the progress bar's fill and clock.
    #[test]
    fn progress_bar() {
        let p = progress(
            "steady",
            Duration::from_secs(30),
            Duration::from_secs(60),
            10,
        );
        assert_eq!(p, "[#####-----]  steady  0:30 / 1:00");
    }
}
