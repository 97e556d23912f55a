//! `mixerless-demo`: parses flags and runs the demo on one thread (see the library).

use clap::Parser as _;
use mixerless_demo::{run, Args};

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // One thread: children get `--pdeathsig KILL` tied to the thread that started them, so they
    // must all be started from a thread that lives as long as the demo.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mixerless-demo: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(args)) {
        Ok(run::Outcome::Finished) => std::process::ExitCode::SUCCESS,
        Ok(run::Outcome::Interrupted) => {
            eprintln!("mixerless-demo: interrupted; every process it started is stopped");
            std::process::ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("mixerless-demo: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
