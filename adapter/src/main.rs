//! `mixerless-adapter`: parses flags and hands over to the library.

use clap::Parser;
use mixerless_adapter::cli;

/// Serve Kubernetes external metrics (external.metrics.k8s.io/v1beta1) computed from the Istio
/// request metrics that mixerless' Envoy filter emits, for HPAs that scale on requests per
/// second, average latency or P95 latency.
///
/// The adapter scrapes the sidecars itself, keeps a short in-memory window of samples, and
/// evaluates the PromQL that HPAs carry in kube-metrics-adapter annotations. Subcommands:
/// `serve` (the external metrics API), `explain` (what an HPA would do), `query` (evaluate
/// PromQL over a data file or live targets) and `promqltest` (run PromQL test scripts).
#[derive(Debug, Parser)]
#[command(name = mixerless_adapter::NAME, version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Serve(Box<cli::serve::Args>),
    Explain(cli::explain::Args),
    Query(cli::query_target::Cmd),
    Promqltest(cli::promqltest::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => cli::serve::run(*args),
        Command::Explain(args) => cli::explain::run(args),
        Command::Query(args) => cli::query_target::run(args),
        Command::Promqltest(args) => cli::promqltest::run(args),
    }
}
