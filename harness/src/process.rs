//! Child processes that never outlive their parent: each runs under `setpriv --pdeathsig KILL`
//! (the kernel kills it when the thread that started it dies, even on SIGKILL), logs to a file,
//! and is killed (and reaped) when its handle drops. The demo wraps the same command in tokio.

mod locate;

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context as _};

pub use locate::{binary, binary_in, existing, on_path};

/// What went wrong starting or finding a process; each message says what to run or free.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file that is needed is not there.
    #[error("{what} not found at {path}: {hint}")]
    Missing {
        what: &'static str,
        path: PathBuf,
        hint: &'static str,
    },
    /// A program to run is not on `$PATH`.
    #[error("`{0}` is not on PATH: {hint}", hint = locate::install_hint(.0))]
    NotOnPath(&'static str),
    /// A loopback port asked for is taken.
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

/// `program args…` under `setpriv --pdeathsig KILL`, stdin closed, stdout and stderr into a new
/// file `log`. The caller adds what else it needs (working directory, process group) and spawns.
pub fn command(program: &Path, args: &[String], log: &Path) -> Result<Command, Error> {
    let log_error = |source| Error::Log {
        path: log.to_path_buf(),
        source,
    };
    let out = File::create(log).map_err(log_error)?;
    let err = out.try_clone().map_err(log_error)?;
    let mut cmd = guarded(program);
    cmd.args(args).stdout(out).stderr(err);
    Ok(cmd)
}

/// `program` under `setpriv --pdeathsig KILL`, stdin closed: the one way every test and the
/// demo start a child, so none outlives the thread that started it. The caller adds arguments,
/// environment, where output goes, and spawns.
pub fn guarded(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--pdeathsig", "KILL", "--"])
        .arg(program)
        .stdin(Stdio::null());
    cmd
}

/// A loopback port: `wanted` if it is free (an error naming it if not), else one the kernel picks.
pub fn loopback_port(wanted: Option<u16>) -> Result<u16, Error> {
    let addr = SocketAddr::from(([127, 0, 0, 1], wanted.unwrap_or(0)));
    let listener = TcpListener::bind(addr).map_err(|_| Error::PortInUse(addr))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|_| Error::PortInUse(addr))
}

/// A child process writing stdout and stderr to `<dir>/<name>.log`, started by [`command`] and
/// killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `program args` in `dir`.
    pub fn spawn(name: &str, dir: &Path, program: &Path, args: &[String]) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let child = command(program, args, &log)?
            .current_dir(dir)
            .spawn()
            .with_context(|| format!("spawn {}", program.display()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error with the log when the process has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited with {status}; log:\n{}", self.name, self.log());
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peak resident memory (VmHWM) of process `pid`, in MiB.
pub fn peak_rss_mib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmHWM for process {pid}"))?;
    Ok(kib / 1024)
}
