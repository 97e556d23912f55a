//! The end-of-demo chart: one panel per HPA metric (the adapter's answer over time, with the
//! scale-up threshold dashed) and one for the replicas, phases shaded. Plain SVG written by
//! hand: a few polylines need no plotting crate.

use std::fmt::Write as _;

/// One panel of the chart.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub title: String,
    /// (seconds, value); `None` where the adapter had no answer.
    pub points: Vec<(f64, Option<f64>)>,
    /// A dashed reference line (seconds, value), e.g. target × replicas.
    pub guide: Vec<(f64, f64)>,
    pub guide_label: String,
    /// A second, grey reference (seconds, value), e.g. the rate `hey` was asked for.
    pub load: Vec<(f64, f64)>,
    pub load_label: String,
    /// Draw as steps (replicas) instead of straight segments.
    pub step: bool,
    pub color: &'static str,
}

const WIDTH: f64 = 960.0;
const PANEL_H: f64 = 170.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const GAP: f64 = 40.0;

/// The SVG document: `panels` stacked over a shared time axis `0..t_max` seconds, with `bands`
/// (label, start, end) shaded behind every panel.
pub fn svg(title: &str, panels: &[Panel], bands: &[(String, f64, f64)], t_max: f64) -> String {
    let t_max = if t_max > 0.0 { t_max } else { 1.0 };
    let plot_w = WIDTH - LEFT - RIGHT;
    let height = TOP + panels.len() as f64 * (PANEL_H + GAP) + 10.0;
    let x = |t: f64| LEFT + plot_w * (t / t_max).clamp(0.0, 1.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="24" font-size="16" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let shades = ["#eef4fb", "#fbf3e6", "#eef8ee", "#f4eefb"];
    for (i, p) in panels.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL_H + GAP);
        let bottom = top + PANEL_H;
        for (j, (label, a, b)) in bands.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{PANEL_H}" fill="{}"/>"#,
                x(*a),
                (x(*b) - x(*a)).max(0.0),
                shades[j % shades.len()]
            );
            if i == 0 {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" fill="#666">{}</text>"##,
                    x(*a) + 4.0,
                    top - 4.0,
                    esc(label)
                );
            }
        }
        let max = p
            .points
            .iter()
            .filter_map(|(_, v)| *v)
            .chain(p.guide.iter().map(|(_, v)| *v))
            .chain(p.load.iter().map(|(_, v)| *v))
            .fold(0.0_f64, f64::max);
        // Counts (replicas) get whole-number gridlines; values get four divisions.
        let (y_max, divisions) = if p.step {
            let top = max.max(1.0).ceil() + 1.0;
            (top, top as u32)
        } else {
            (nice_ceiling(max), 4)
        };
        let y = |v: f64| bottom - PANEL_H * (v / y_max).clamp(0.0, 1.0);
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{top:.1}" width="{plot_w:.1}" height="{PANEL_H}" fill="none" stroke="#999"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-weight="bold">{}</text>"#,
            LEFT + 6.0,
            top + 16.0,
            esc(&p.title)
        );
        for k in 0..=divisions {
            let v = y_max * f64::from(k) / f64::from(divisions);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + plot_w,
                y(v),
                y(v),
                LEFT - 6.0,
                y(v) + 4.0,
                short(v)
            );
        }
        if !p.guide.is_empty() {
            let pts = steps(&p.guide)
                .iter()
                .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                .collect::<Vec<_>>();
            let _ = writeln!(
                s,
                r##"<polyline points="{}" fill="none" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="6 4"/>"##,
                pts.join(" ")
            );
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#c0392b">{}</text>"##,
                LEFT + plot_w - 6.0,
                top + 16.0,
                esc(&p.guide_label)
            );
        }
        if !p.load.is_empty() {
            let pts = steps(&p.load)
                .iter()
                .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                .collect::<Vec<_>>();
            let _ = writeln!(
                s,
                r##"<polyline points="{}" fill="none" stroke="#888" stroke-width="1.5" stroke-dasharray="2 3"/>"##,
                pts.join(" ")
            );
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#888">{}</text>"##,
                LEFT + plot_w - 6.0,
                top + 30.0,
                esc(&p.load_label)
            );
        }
        // Each run of answered samples is one polyline; gaps stay gaps.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut runs = Vec::new();
        for (t, v) in &p.points {
            match v {
                Some(v) => run.push((*t, *v)),
                None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
                None => {}
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        for r in runs {
            let r = if p.step { steps(&r) } else { r };
            let pts = r
                .iter()
                .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                .collect::<Vec<_>>();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
                pts.join(" "),
                p.color
            );
        }
        let mut t = 0.0;
        let tick = tick_step(t_max);
        while t <= t_max + 1e-9 {
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{bottom:.1}" y2="{:.1}" stroke="#999"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}s</text>"##,
                x(t),
                x(t),
                bottom + 4.0,
                x(t),
                bottom + 16.0,
                t as u64
            );
            t += tick;
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Points of a step function: each value holds until the next sample.
fn steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for (i, (t, v)) in points.iter().enumerate() {
        if i > 0 {
            out.push((*t, points[i - 1].1));
        }
        out.push((*t, *v));
    }
    out
}

fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

fn tick_step(t_max: f64) -> f64 {
    [5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0]
        .into_iter()
        .find(|s| t_max / s <= 12.0)
        .unwrap_or(600.0)
}

fn short(v: f64) -> String {
    if v == v.trunc() {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates that the chart draws every answered run, the guide and the phase bands, and
    /// leaves gaps where the adapter had no answer.
    #[test]
    fn draws_panels_bands_and_gaps() {
        let rps = Panel {
            title: "requests/s <podinfo>".into(),
            points: vec![
                (0.0, Some(1.0)),
                (5.0, None),
                (10.0, Some(20.0)),
                (15.0, Some(19.0)),
            ],
            guide: vec![(0.0, 10.0), (10.0, 20.0)],
            guide_label: "target × replicas".into(),
            load: vec![(0.0, 20.0), (15.0, 1.0)],
            load_label: "hey's rate".into(),
            step: false,
            color: "#1f77b4",
        };
        let replicas = Panel {
            title: "replicas".into(),
            points: vec![(0.0, Some(1.0)), (10.0, Some(2.0))],
            step: true,
            color: "#2ca02c",
            ..Panel::default()
        };
        let svg = svg(
            "demo",
            &[rps, replicas],
            &[("steady".into(), 0.0, 10.0)],
            20.0,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        // Two runs for the rps panel (split by the gap), one for replicas; the guide and the load dashed.
        assert_eq!(svg.matches("stroke-width=\"2\"").count(), 3);
        assert_eq!(svg.matches("stroke-dasharray").count(), 2);
        assert!(svg.contains("&lt;podinfo&gt;") && svg.contains(">steady<"));
    }

    /// Demonstrates axis ceilings round up to 1, 2, 2.5 or 5 times a power of ten.
    #[test]
    fn nice_ceilings() {
        assert_eq!(
            [
                nice_ceiling(0.0),
                nice_ceiling(3.0),
                nice_ceiling(21.0),
                nice_ceiling(240.0)
            ],
            [1.0, 5.0, 25.0, 250.0]
        );
    }
}
