//! What the user watches: `kubectl get hpa` columns, redrawn in place, with a progress bar for
//! the load phase and the last scaling events.

use std::time::Duration;

/// The cells kubectl prints, from the one renderer the adapter's `explain` uses too.
pub use mixerless_hpa::table::{age, target_cell};

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
    mixerless_hpa::table::render(&header, &cells)
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
