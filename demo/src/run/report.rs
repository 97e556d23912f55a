//! The end of the demo: `timeline.jsonl`, `chart.svg` and the summary.

use mixerless_hpa::quantity::format_milli;
use mixerless_hpa::replicas::Target;

use super::counted::{self, Count, Counts};
use super::live::Demo;
use super::Error;
use crate::chart::{self, Panel};
use crate::load;
use crate::table;

impl Demo {
    /// Writes the timeline and the chart, and prints the summary.
    pub(super) fn finish(&self, sidecar: Result<Vec<Count>, String>) -> Result<(), Error> {
        let out = &self.out;
        let timeline_path = out.join("timeline.jsonl");
        let mut lines = String::new();
        for t in &self.timeline {
            // Plain numbers, strings and lists: serialising them cannot fail.
            lines.push_str(&serde_json::to_string(t).unwrap_or_default());
            lines.push('\n');
        }
        std::fs::write(&timeline_path, lines).map_err(super::io("write", &timeline_path))?;

        let chart_path = out.join("chart.svg");
        let svg = self.chart();
        std::fs::write(&chart_path, svg).map_err(super::io("write", &chart_path))?;

        let (total, ok) = load::totals(&self.driver.finished);
        let replicas: Vec<i32> = self
            .timeline
            .iter()
            .map(|t| t.scaled_to.unwrap_or(t.replicas))
            .collect();
        let peak = replicas.iter().copied().max().unwrap_or(0);
        let last = self.mesh.replicas.len();
        println!();
        println!("Summary");
        println!(
            "  load        {total} requests through the loadtester sidecar, {ok} answered 200 ({})",
            self.driver
                .plan()
                .phases()
                .iter()
                .map(|p| format!(
                    "{p} {}",
                    table::clock(self.driver.plan().phase_span(p).unwrap_or_default().1)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "  replicas    start {}, peak {peak}, end {last}",
            replicas.first().copied().unwrap_or(0)
        );
        // hey's own view, per phase (the slowest step of each).
        let mut seen_p95: Vec<(&str, f64)> = Vec::new();
        for (step, text) in &self.driver.finished {
            let Some(p) = load::p95(text) else { continue };
            match seen_p95.iter_mut().find(|(phase, _)| *phase == step.phase) {
                Some(entry) => entry.1 = entry.1.max(p),
                None => seen_p95.push((step.phase, p)),
            }
        }
        let seen_p95: Vec<String> = seen_p95
            .iter()
            .map(|(phase, p)| format!("{phase} {:.0} ms", p * 1000.0))
            .collect();
        if !seen_p95.is_empty() {
            println!("  hey p95     {}", seen_p95.join(", "));
        }
        for e in &self.events {
            println!("  scaled      {e}");
        }
        if self.events.is_empty() {
            println!("  scaled      never (try a higher rate: -q, or a longer --steady)");
        }
        for h in &self.hpas {
            let peak = self
                .timeline
                .iter()
                .flat_map(|t| t.hpas.iter().filter(|r| r.name == h.hpa.name()))
                .filter_map(|r| r.metrics.first().and_then(|m| m.usage_milli))
                .max();
            println!(
                "  {:<11} peak adapter answer {} for {}{}",
                h.hpa.name(),
                peak.map_or_else(|| "none".to_owned(), format_milli),
                h.hpa.metrics[0].label_selector(),
                if h.scales {
                    " (scaled podinfo)"
                } else {
                    " (shown only)"
                }
            );
        }
        let counts_path = out.join("counts.json");
        match sidecar {
            Ok(sidecar) => {
                let counts = Counts {
                    hey: load::by_status(&self.driver.finished),
                    sidecar,
                };
                let text = serde_json::to_string_pretty(&counts).unwrap_or_default();
                std::fs::write(&counts_path, text).map_err(super::io("write", &counts_path))?;
                let all: u64 = counts.sidecar.iter().map(|c| c.requests).sum();
                let each: Vec<String> = counts
                    .sidecar
                    .iter()
                    .map(|c| match c.flags.as_str() {
                        "-" | "" => format!("{} × {}", c.code, c.requests),
                        "UH" => format!(
                            "{} {} × {} (no podinfo replica)",
                            c.code, c.flags, c.requests
                        ),
                        f => format!("{} {f} × {}", c.code, c.requests),
                    })
                    .collect();
                println!(
                    "  callers     the loadtester sidecar counted {all} requests to {} (reporter=source): {}",
                    counted::SERVICE,
                    each.join(", ")
                );
            }
            Err(e) => println!("  callers     cannot read the loadtester sidecar's counts: {e}"),
        }
        println!("  chart       {}", chart_path.display());
        println!("  counts      {}", counts_path.display());
        println!("  timeline    {}", timeline_path.display());
        Ok(())
    }

    fn chart(&self) -> String {
        let colors = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b"];
        let mut panels = Vec::new();
        // The HPA that scales podinfo first, then the others in file order.
        let mut order: Vec<_> = self.hpas.iter().collect();
        order.sort_by_key(|h| !h.scales);
        for (i, h) in order.into_iter().enumerate() {
            let m = &h.hpa.metrics[0];
            let mut points = Vec::new();
            let mut guide = Vec::new();
            for t in &self.timeline {
                let Some(r) = t.hpas.iter().find(|r| r.name == h.hpa.name()) else {
                    continue;
                };
                let usage = r
                    .metrics
                    .first()
                    .and_then(|m| m.usage_milli)
                    .map(|v| v as f64 / 1000.0);
                points.push((t.t, usage));
                let target = match m.target {
                    Target::AverageValue(v) => {
                        v as f64 / 1000.0 * f64::from(t.scaled_to.unwrap_or(t.replicas))
                    }
                    Target::Value(v) => v as f64 / 1000.0,
                };
                guide.push((t.t, target));
            }
            panels.push(Panel {
                title: format!(
                    "{}: {} — the adapter's answer{}",
                    h.hpa.name(),
                    m.match_labels
                        .values()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(","),
                    if h.scales { " (scales podinfo)" } else { "" }
                ),
                points,
                guide,
                guide_label: "target × replicas".into(),
                // Only a request rate compares with what hey was asked for.
                load: if m.match_labels.values().any(|v| v.contains("requests")) {
                    self.timeline.iter().map(|t| (t.t, t.load_rps)).collect()
                } else {
                    Vec::new()
                },
                load_label: "hey's rate".into(),
                step: false,
                color: colors[i % colors.len()],
            });
        }
        if self.keda.is_some() {
            panels.push(Panel {
                title: "KEDA: StreamIsActive (1 = active), pushed by the adapter".into(),
                points: self
                    .timeline
                    .iter()
                    .map(|t| (t.t, t.active.map(|a| f64::from(u8::from(a)))))
                    .collect(),
                step: true,
                color: "#d62728",
                ..Panel::default()
            });
        }
        panels.push(Panel {
            title: if self.timeline.first().is_some_and(|t| t.replicas == 0) {
                "podinfo replicas (from zero: requests at 0 end as 503 UH, counted by the caller)"
                    .into()
            } else {
                "podinfo replicas".into()
            },
            points: self
                .timeline
                .iter()
                .map(|t| (t.t, Some(f64::from(t.scaled_to.unwrap_or(t.replicas)))))
                .collect(),
            step: true,
            color: "#2ca02c",
            ..Panel::default()
        });
        let plan = self.driver.plan();
        let bands: Vec<(String, f64, f64)> = plan
            .phases()
            .iter()
            .filter_map(|p| {
                let (s, l) = plan.phase_span(p)?;
                Some(((*p).to_owned(), s.as_secs_f64(), (s + l).as_secs_f64()))
            })
            .collect();
        let t_max = plan
            .total()
            .as_secs_f64()
            .max(self.timeline.last().map_or(0.0, |t| t.t));
        chart::svg(
            "mixerless demo: podinfo autoscaled on Istio metrics",
            &panels,
            &bands,
            t_max,
        )
    }
}
