//! `mixerless-demo`: the ASM autoscaling walk-through on one machine, with real parts.
//!
//! A Deployment `podinfo` in namespace `test` runs as local replicas, each behind its own
//! sidecar Envoy loading `dist/mixerless-filter.wasm`; a load tester's sidecar balances `hey`
//! traffic over them; `mixerless-adapter serve` scrapes every sidecar and answers the external
//! metrics API for the walk-through's three HPAs; an HPA controller loop with
//! kube-controller-manager's algorithm scales the Deployment by starting and stopping replicas.
//!
//! ```
//! use mixerless_adapter::hpa::replicas::Target;
//! use mixerless_demo::table::target_cell;
//!
//! // The walk-through's `kubectl get hpa` TARGETS cell, from the adapter's answer in milli units.
//! assert_eq!(target_cell(Target::AverageValue(10_000), Some(10_056)), "10056m/10 (avg)");
//! ```

pub mod adapter;
pub mod backend;
pub mod chart;
pub mod controller;
pub mod envoy;
pub mod hpa;
pub mod keda;
pub mod load;
pub mod mesh;
pub mod procs;
pub mod prometheus;
pub mod run;
pub mod table;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Run the ASM autoscaling walk-through locally: real Envoys with the mixerless filter, real
/// `hey` traffic, the mixerless adapter's external metrics, and live HPA decisions that start and
/// stop podinfo replicas. Prints a `kubectl get hpa`-like table while it runs, then writes a
/// chart and a summary. Ctrl-C stops everything it started.
///
/// Durations take units: `500ms`, `30s`, `2m`.
#[derive(Debug, Parser)]
#[command(name = "mixerless-demo", version)]
pub struct Args {
    /// Replicas of podinfo at start (raised to the scaling HPA's minReplicas).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub replicas: u16,
    /// The scaling HPA's minReplicas, overriding its manifest; podinfo starts with this many.
    /// 0 is scale to zero: podinfo starts with no replica, the first requests end as 503 `UH`
    /// in the loadtester sidecar (and are counted there, `reporter="source"`), and the HPA
    /// must read the callers' side: without --hpa-dir the HPAs come from istio/fast-scaling
    /// and podinfo scales on `podinfo-zero` (unless --scale-on says otherwise); the plan ends
    /// with --idle [default 120s here] so podinfo goes back to 0.
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=20))]
    pub min_replicas: Option<u16>,
    /// Scale like KEDA's operator over the adapter's external scaler (`serve --keda-grpc`):
    /// 0 <-> 1 from `StreamIsActive` (cooldown: --downscale-stabilization), 1 <-> N from
    /// `GetMetrics` through the HPA arithmetic with the trigger's threshold as AverageValue
    /// target. The trigger is the scaling HPA's first metric: its query, its target. Implies
    /// --min-replicas 0 unless given.
    #[arg(long, conflicts_with = "prometheus")]
    pub keda: bool,

    /// Length of the ramp-up phase (split into --ramp-steps steps of rising rate).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub ramp: Duration,
    /// Steps of the ramp.
    #[arg(long, default_value_t = 3)]
    pub ramp_steps: u32,
    /// Length of the steady phase at the full rate.
    #[arg(long, default_value = "70s", value_parser = humantime::parse_duration)]
    pub steady: Duration,
    /// Length of the down phase: a trickle of load while the autoscaler scales back in.
    #[arg(long, default_value = "90s", value_parser = humantime::parse_duration)]
    pub down: Duration,
    /// `hey -c`: concurrent workers.
    #[arg(short = 'c', long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,
    /// `hey -q`: queries per second per worker at full rate (the walk-through: -c 2 -q 10).
    #[arg(short = 'q', long, default_value_t = 10.0, value_parser = positive)]
    pub qps: f64,
    /// Queries per second per worker in the down phase (keeps latency queries answerable).
    #[arg(long, default_value_t = 0.5, value_parser = positive)]
    pub down_qps: f64,
    /// Length of a last phase without any load [default: 0s; 120s with --min-replicas 0].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub idle: Option<Duration>,

    /// Service time of one podinfo request.
    #[arg(long, default_value = "20ms", value_parser = humantime::parse_duration)]
    pub latency: Duration,
    /// Requests one podinfo replica serves at a time (others queue, so load shows in latency).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub app_concurrency: u16,

    /// HPA sync period (kube-controller-manager: --horizontal-pod-autoscaler-sync-period, 15s).
    #[arg(long, default_value = "5s", value_parser = nonzero)]
    pub sync_period: Duration,
    /// Downscale stabilization window (kube-controller-manager: 5m).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub downscale_stabilization: Duration,
    /// HPA tolerance (kube-controller-manager: 0.1).
    #[arg(long, default_value_t = 0.1, value_parser = tolerance)]
    pub tolerance: f64,
    /// The HPA whose decisions scale podinfo; the others are evaluated and shown
    /// [default: podinfo-total; podinfo-zero with --min-replicas 0].
    #[arg(long)]
    pub scale_on: Option<String>,

    /// The adapter's scrape interval (`serve --scrape-interval`).
    #[arg(long, default_value = "2s", value_parser = nonzero)]
    pub scrape_interval: Duration,
    /// Directory of `HorizontalPodAutoscaler-*.yaml` files [default: istio/ if it has them, else demo/hpa]
    #[arg(long)]
    pub hpa_dir: Option<PathBuf>,
    /// Where the chart, timeline, kubeconfig and logs go.
    #[arg(long, default_value = "target/mixerless-demo")]
    pub out: PathBuf,
    /// Loopback port of the adapter's HTTPS API [default: a free port]
    #[arg(long)]
    pub adapter_port: Option<u16>,
    /// Loopback port of the load tester's sidecar [default: a free port]
    #[arg(long)]
    pub client_port: Option<u16>,

    /// Envoy binary.
    #[arg(long, env = "ENVOY_BIN", default_value = ".venv/bin/envoy")]
    pub envoy: PathBuf,
    /// The filter module (`make wasm`).
    #[arg(long, default_value = "dist/mixerless-filter.wasm")]
    pub filter: PathBuf,
    /// Envoy stats tags for the filter's labels.
    #[arg(long, default_value = "istio/envoy/stats_tags.yaml")]
    pub stats_tags: PathBuf,
    /// Evaluate the HPA queries on a real Prometheus (`prometheus` on $PATH) that scrapes the
    /// sidecars, through `serve --prometheus-url`, instead of the adapter's embedded store.
    #[arg(long)]
    pub prometheus: bool,
    /// The adapter binary [default: mixerless-adapter next to this program]
    #[arg(long)]
    pub adapter_bin: Option<PathBuf>,
}

impl Args {
    /// `--min-replicas`; with `--keda` and without it, 0 (KEDA's default minReplicaCount).
    pub fn min_replicas(&self) -> Option<u16> {
        self.min_replicas.or(self.keda.then_some(0))
    }

    /// Scale to zero: `--min-replicas 0` (or `--keda`).
    pub fn to_zero(&self) -> bool {
        self.min_replicas() == Some(0)
    }

    /// The HPA that scales podinfo.
    pub fn scale_on(&self) -> &str {
        match &self.scale_on {
            Some(name) => name,
            None if self.to_zero() => "podinfo-zero",
            None => "podinfo-total",
        }
    }

    /// The last phase without load.
    pub fn idle(&self) -> Duration {
        self.idle.unwrap_or(if self.to_zero() {
            Duration::from_secs(120)
        } else {
            Duration::ZERO
        })
    }
}

/// A rate: a finite number above zero.
fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number above 0")),
    }
}

/// A tolerance: between 0 and 1, as kube-controller-manager's flag.
fn tolerance(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number in [0, 1)")),
    }
}

/// A period that must not be zero (the loop would spin).
fn nonzero(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than 0".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates that the defaults are the 3-minute walk-through and bad values are refused
    /// before anything starts.
    #[test]
    fn flags_have_walkthrough_defaults_and_refuse_bad_values() {
        let a = Args::try_parse_from(["mixerless-demo"]).unwrap();
        assert_eq!((a.workers, a.qps, a.replicas), (2, 10.0, 1));
        assert_eq!(a.ramp + a.steady + a.down, Duration::from_secs(180));
        assert_eq!(
            (a.scale_on(), a.idle(), a.to_zero()),
            ("podinfo-total", Duration::ZERO, false)
        );
        let a = Args::try_parse_from(["mixerless-demo", "--min-replicas", "0"]).unwrap();
        assert_eq!(
            (a.scale_on(), a.idle()),
            ("podinfo-zero", Duration::from_secs(120))
        );
        assert!(Args::try_parse_from(["mixerless-demo", "--keda", "--prometheus"]).is_err());
        let a = Args::try_parse_from(["mixerless-demo", "--keda"]).unwrap();
        assert_eq!((a.min_replicas(), a.scale_on()), (Some(0), "podinfo-zero"));
        let a = Args::try_parse_from(["mixerless-demo", "--steady", "2m", "-q", "12.5"]).unwrap();
        assert_eq!((a.steady, a.qps), (Duration::from_secs(120), 12.5));
        for bad in [
            &["-q", "0"][..],
            &["--down-qps", "-1"],
            &["--tolerance", "1.5"],
            &["--sync-period", "0s"],
            &["-c", "0"],
            &["--replicas", "0"],
            &["--min-replicas", "21"],
            &["--steady", "5x"],
        ] {
            let argv = std::iter::once("mixerless-demo").chain(bad.iter().copied());
            assert!(Args::try_parse_from(argv).is_err(), "{bad:?} is refused");
        }
    }
}
