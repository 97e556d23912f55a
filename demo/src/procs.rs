//! Child processes (Envoy, hey, the adapter) that cannot outlive the demo: the harness's
//! `setpriv --pdeathsig KILL` command (the kernel kills the child when the demo's main thread
//! dies, even on SIGKILL), run by tokio, killed when its handle drops, logging to a file the user
//! can read.

use std::path::{Path, PathBuf};

use mixerless_harness::process;
pub use mixerless_harness::process::{existing, loopback_port, on_path, Error as ProcError};
use tokio::process::{Child, Command};

/// A running child process, killed when dropped.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `program args…` under `setpriv --pdeathsig KILL`, stdout and stderr into `log`.
    pub fn spawn(
        name: impl Into<String>,
        program: &Path,
        args: &[String],
        log: PathBuf,
    ) -> Result<Self, ProcError> {
        let name = name.into();
        let child = Command::from(process::command(program, args, &log)?)
            .kill_on_drop(true)
            // Its own process group: a terminal's Ctrl-C reaches the demo, which stops its
            // children in order, instead of every child dying on its own at once.
            .process_group(0)
            .spawn()
            .map_err(|source| ProcError::Spawn {
                what: format!("{name} ({})", program.display()),
                source,
            })?;
        Ok(Self { name, child, log })
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `n` lines of the log, for error messages (a Rust backtrace is left out: the
    /// error line above it is what the user needs).
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let text = text.split("\nStack backtrace:").next().unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Kills the process and waits for it, so no zombie or orphan is left.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
