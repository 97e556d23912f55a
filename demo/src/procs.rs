//! Child processes (Envoy, hey, the adapter) that cannot outlive the demo: each runs under
//! `setpriv --pdeathsig KILL` (the kernel kills it when the demo's main thread dies, even on
//! SIGKILL), is killed when its handle drops, and logs to a file the user can read.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

/// What went wrong starting or finding a process; each message says what to run or free.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// A file the demo needs is not there.
    #[error("{what} not found at {path}: {hint}")]
    Missing {
        what: &'static str,
        path: PathBuf,
        hint: &'static str,
    },
    /// A program the demo runs is not on `$PATH`.
    #[error("`{0}` is not on PATH: {hint}", hint = install_hint(.0))]
    NotOnPath(&'static str),
    /// A loopback port given on the command line is taken.
    #[error("{0} is already in use: free it (see `ss -ltnp 'sport = :{port}'`) or leave out the port flag to pick a free port", port = .0.port())]
    PortInUse(SocketAddr),
    /// The log file of a child cannot be created.
    #[error("cannot create log file {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The process could not be started.
    #[error("cannot start {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
}

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
        let out = File::create(&log).map_err(|source| ProcError::Log {
            path: log.clone(),
            source,
        })?;
        let err = out.try_clone().map_err(|source| ProcError::Log {
            path: log.clone(),
            source,
        })?;
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
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

/// A loopback port: `wanted` if it is free (an error naming it if not), else one the kernel picks.
pub fn loopback_port(wanted: Option<u16>) -> Result<u16, ProcError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], wanted.unwrap_or(0)));
    let listener = TcpListener::bind(addr).map_err(|_| ProcError::PortInUse(addr))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|_| ProcError::PortInUse(addr))
}

/// What installs `program`.
fn install_hint(program: &str) -> &'static str {
    match program {
        "setpriv" => "install util-linux (`apt-get install util-linux`)",
        _ => "run `make deps`",
    }
}

/// `name` on `$PATH`, or an error that says how to install it.
pub fn on_path(name: &'static str) -> Result<PathBuf, ProcError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or(ProcError::NotOnPath(name))
}

/// `path` if it exists, else [`ProcError::Missing`] with `hint`.
pub fn existing(
    what: &'static str,
    path: PathBuf,
    hint: &'static str,
) -> Result<PathBuf, ProcError> {
    if path.exists() {
        Ok(path)
    } else {
        Err(ProcError::Missing { what, path, hint })
    }
}
